"""`manage.py import_contacts FILE --department SLUG [--phone-region US] [--dry-run] [--report OUT.csv]`

Imports a contacts CSV for an operator, prints the counts and every issue, and optionally writes
the per-row report. See contacts/importing for what each row becomes.
"""

from contextlib import ExitStack
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.errors import InvalidPhoneRegion
from contacts.importing import ContactImportFailed, ImportFileRejected, contact_import_run
from contacts.importing.outcomes import COUNT_NAMES
from contacts.models import ContactImportIssue
from contacts.normalise import phone_region_check
from departments.actors import Actor
from departments.models import Department


class Command(BaseCommand):
    help = "Import contacts from a CSV file into a department."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The CSV file (UTF-8 or Windows-1252, ',' or ';').")
        parser.add_argument("--department", required=True, help="The department's slug.")
        parser.add_argument("--dry-run", action="store_true", help="Report what would happen; write nothing.")
        parser.add_argument("--report", type=Path, help="Write one line per row to this CSV file.")
        parser.add_argument(
            "--phone-region",
            default="",
            help="Country (ISO 3166 code, e.g. US) of phone numbers without a country code, unless a "
            "row's country column names one. Default: the department's phone region, else "
            "PHONE_DEFAULT_REGION with a warning on each such number.",
        )

    def handle(
        self,
        *args,
        file: Path,
        department: str,
        dry_run: bool,
        report: Path | None,
        phone_region: str,
        **options,
    ) -> None:
        try:
            target = Department.objects.get(slug=department)
        except Department.DoesNotExist:
            known = ", ".join(Department.objects.values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"No department with slug {department!r} (known: {known}).") from None
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            phone_region = phone_region_check(phone_region, field="--phone-region")
        except InvalidPhoneRegion as error:
            raise CommandError(error.message) from error
        # The operator acts for the department, like one of its owners.
        actor = Actor(department_ids=frozenset({target.pk}))
        with ExitStack() as stack:
            report_file = (
                stack.enter_context(report.open("w", newline="", encoding="utf-8")) if report else None
            )
            try:
                result = contact_import_run(
                    department=target,
                    file=file,
                    actor=actor,
                    filename=file.name,
                    dry_run=dry_run,
                    report=report_file,
                    phone_region=phone_region,
                )
            except ImportFileRejected as error:
                raise CommandError(f"{file.name}: {error.message}") from error
            except ContactImportFailed as error:
                self._print_counts(error.contact_import.counts)
                raise CommandError(error.message) from error
        self._print_counts(result.counts, dry_run=dry_run)
        self._print_issues(result)
        if report:
            self.stdout.write(f"Per-row report: {report}")

    def _print_counts(self, counts: dict, *, dry_run: bool = False) -> None:
        heading = "Dry run, nothing written" if dry_run else "Imported"
        summary = ", ".join(f"{name.replace('_', ' ')} {counts.get(name, 0)}" for name in COUNT_NAMES)
        self.stdout.write(f"{heading}: {summary}.")

    def _print_issues(self, result) -> None:
        if not result.issue_count:
            return
        if result.dry_run:  # a dry run keeps only the first issues
            issues = result.issues
        else:
            issues = ContactImportIssue.objects.filter(contact_import=result.contact_import).iterator()
        self.stdout.write(f"{result.issue_count} issue{'s' if result.issue_count != 1 else ''}:")
        for issue in issues:
            column = f" [{issue.column}]" if issue.column else ""
            self.stdout.write(f"  row {issue.row_number}{column} {issue.kind}: {issue.reason}")
        if result.dry_run and result.issue_count > len(result.issues):
            self.stdout.write(f"  … and {result.issue_count - len(result.issues)} more (see --report).")
