"""Importing a contacts CSV into a department: the services the admin, the API and the
`import_contacts` command call.

An import writes the importing department's own views of the persons its rows name, never a
person's shared fields, and counts and reports against the department's own book
(contacts/importing/matching.py, outcomes.py).

The file is read in chunks of CHUNK_ROWS rows. Each chunk is one transaction: lock the chunk's
identities, look them up with one query, decide every row (contacts/importing/matching.py), write
with COPY and set-based statements, store the chunk's issues and the running counts. A chunk that
fails is rolled back whole, so no contact is ever left without its identities; the chunks before it
stay imported, and importing the file again carries on (rows already imported are matched).

A dry run is the same import inside one transaction that is rolled back at the end: its report is
the real one by construction, and what the file has created so far lives in PostgreSQL, not in
Python, so memory stays flat for a preview of any size.
"""

from __future__ import annotations

import csv
import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.duplicates.services import duplicate_search_queue_for_import
from contacts.errors import ContactImportFailed, ImportFileRejected
from contacts.importing.accounts import accounts_write
from contacts.importing.matching import ChunkPlan, chunk_plan
from contacts.importing.outcomes import (
    COUNT_NAMES,
    REPORT_HEADER,
    Disclosure,
    ImportIssue,
    chunk_issues,
    counts_add,
    report_lines,
)
from contacts.importing.parallel import row_chunks
from contacts.importing.reading import ImportFile, ImportRow
from contacts.importing.writing import (
    KEYS_TABLE,
    issues_copy,
    keys_stage,
    next_ids,
    plan_write,
    stored_identities,
)
from contacts.locks import identities_lock_staged
from contacts.models import ContactImport, ContactImportIssue
from contacts.normalise import phone_region_check, phone_region_of
from cxfeedback import embedded
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department

logger = logging.getLogger(__name__)


# 1,000 rows hold at most a few thousand identity locks (see contacts/locks.py) and keep a chunk's
# memory small, while the per-chunk round trips stay well under a tenth of the time.
CHUNK_ROWS = 1000


# Issues kept in memory for the caller (the API answer, the admin preview); all are stored.
ISSUE_SAMPLE = 100


@dataclass
class ContactImportResult:
    contact_import: ContactImport
    dry_run: bool
    counts: dict[str, int]
    issues: list[ImportIssue]  # the first ISSUE_SAMPLE, in row order
    issue_count: int


def import_directory() -> Path:
    """Where uploaded files wait for confirmation and per-row reports are kept."""
    return Path(getattr(settings, "CONTACT_IMPORT_DIR", embedded.LOCAL_DIR / "imports"))


def contact_import_run(
    *,
    department: Department,
    file: BinaryIO | str | Path,
    actor: Actor,
    filename: str = "",
    dry_run: bool = False,
    report: TextIO | None = None,
    phone_region: str = "",
) -> ContactImportResult:
    """Import a contacts CSV into `department`; with dry_run, decide and report but write no contact.
    National phone numbers are read in `phone_region` ("": the department's; see rows.py).

    Stores a ContactImport (previewed for a dry run) and its issues; writes one line per row to
    `report` if given. Raises NotFound (not the actor's department), InvalidPhoneRegion,
    ImportFileRejected (nothing imported) and ContactImportFailed (stopped part-way; earlier chunks
    are imported).
    """
    if not actor.sees_department(department.pk):
        raise NotFound("No such department.")
    phone_region = phone_region_check(phone_region, field="phone_region")
    if not filename:
        filename = str(file if isinstance(file, str | Path) else getattr(file, "name", None) or "")
    name = Path(filename).name
    contact_import = ContactImport(
        department=department,
        created_by_id=actor.user_id,
        api_key_id=actor.api_key_id,
        filename=name[:255],
        status=ContactImport.Status.PREVIEWED if dry_run else ContactImport.Status.RUNNING,
        dry_run=dry_run,
        phone_region=phone_region,
        progress_at=timezone.now(),
    )
    return _run(contact_import, file, dry_run=dry_run, report=report)


# Called after each chunk of a dry run with the rows read so far; False: the job was stopped.
DryRunProgress = Callable[[int], bool]


def import_resume(
    contact_import: ContactImport,
    file: BinaryIO | str | Path,
    *,
    report: TextIO | None,
    dry_run_progress: DryRunProgress | None = None,
) -> ContactImportResult:
    """Run a claimed import job (contacts/importing/jobs.py), a real one from the row after its
    last committed chunk (`committed_row`), a dry run from the start (nothing of it was kept)."""
    return _run(
        contact_import, file, dry_run=contact_import.dry_run, report=report, progress=dry_run_progress
    )


def _run(
    contact_import: ContactImport,
    file: BinaryIO | str | Path,
    *,
    dry_run: bool,
    report: TextIO | None,
    progress: DryRunProgress | None = None,
) -> ContactImportResult:
    with _opened(file) as (stream, size), _older_objects_frozen():
        import_file = ImportFile(stream)
        try:
            if not dry_run and contact_import.pk is None:
                contact_import.save()
            run = _ImportRun(contact_import, import_file, size, dry_run=dry_run, report=report)
            run.dry_run_progress = progress
            run.execute()
        finally:
            import_file.close()
    return ContactImportResult(contact_import, dry_run, run.counts, run.sample, run.issue_count)


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Keep Python's cycle collector to the objects the import makes. An import allocates millions
    of short-lived objects, and every full collection would also walk the whole loaded project
    (a few hundred thousand objects): measured, that tripled the time to plan a chunk."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _opened(file: BinaryIO | str | Path) -> Iterator[tuple[BinaryIO, int]]:
    """The file as a seekable binary stream and its size; raises ImportFileRejected if too large."""
    if isinstance(file, str | Path):
        with open(file, "rb") as stream:
            yield stream, _checked_size(stream)
        return
    yield file, _checked_size(file)


def _checked_size(stream: BinaryIO) -> int:
    size = stream.seek(0, 2)
    stream.seek(0)
    file_size_check(size)
    return size


def file_size_check(size: int) -> None:
    limit = settings.CONTACT_IMPORT_MAX_BYTES
    if size > limit:
        raise ImportFileRejected(
            f"The file has {size:,} bytes; at most {limit:,} can be imported at once. "
            "Split it into smaller files.",
            code="file_too_large",
            extra={"size": size, "limit": limit},
        )


def _phone_region_named(contact_import: ContactImport) -> str:
    """The import's phone region, else its department's; "" if neither names one (each national
    number is then read in PHONE_DEFAULT_REGION with a warning). A department's region is checked
    where it is set; one written past that check counts as none."""
    return contact_import.phone_region or phone_region_of(contact_import.department.phone_region) or ""


class _Stopped(Exception):
    """The import was cancelled (or given up by the sweeper) while it ran: its chunk is rolled back."""


class _ImportRun:
    """One pass over the file: chunks, counts, the sample of issues and the per-row report.

    A real import resumes after its `committed_row`: the counts and issue total it stored with that
    chunk are where this pass starts, so a resumed job counts each row once."""

    def __init__(
        self, contact_import: ContactImport, import_file: ImportFile, file_bytes: int, *, dry_run, report
    ):
        self.contact_import = contact_import
        self.file = import_file
        self.file_bytes = file_bytes
        self.dry_run = dry_run
        self.after_row = 0 if dry_run else contact_import.committed_row
        self.counts = dict.fromkeys(COUNT_NAMES, 0)
        self.issue_count = 0
        if self.after_row:
            self.counts |= contact_import.counts
            self.issue_count = contact_import.issue_total
        self.sample: list[ImportIssue] = []
        self.report_stream = report
        self.report = csv.writer(report) if report is not None else None
        if self.report and not self.after_row:
            self.report.writerow(REPORT_HEADER)
        self.disclosure = Disclosure()
        self.chunk_rows = (0, 0)  # the first and last row number of the chunk being written
        self.dry_run_progress: DryRunProgress | None = None

    def execute(self) -> None:
        if self.dry_run:
            self._dry_run()
            return
        try:
            self._all_chunks()
        except _Stopped:
            self._stopped()
            return
        except Exception as error:
            logger.exception("Contact import %s stopped", self.contact_import.pk)
            self._fail(error)
        if self._finish(ContactImport.Status.COMPLETED):
            duplicate_search_queue_for_import(contact_import=self.contact_import)  # compares whom it wrote

    def _dry_run(self) -> None:
        try:
            with transaction.atomic():
                first_contact_id, first_view_id = next_ids()
                self.disclosure = Disclosure(
                    dry_run=True, first_contact_id=first_contact_id, first_view_id=first_view_id
                )
                self._all_chunks()
                transaction.set_rollback(True)
        except _Stopped:
            self._stopped()
            return
        if self._finish(ContactImport.Status.PREVIEWED):
            ContactImportIssue.objects.bulk_create(self._issue_rows(self.sample))

    def _all_chunks(self) -> None:
        phone_region = _phone_region_named(self.contact_import)
        for chunk in row_chunks(
            self.file,
            size=CHUNK_ROWS,
            file_bytes=self.file_bytes,
            phone_region=phone_region,
            after_row=self.after_row,
        ):
            self._chunk(chunk)
            if self.dry_run_progress and not self.dry_run_progress(self.counts["rows"]):
                raise _Stopped

    def _chunk(self, rows: list[ImportRow]) -> None:
        self.chunk_rows = (rows[0].number, rows[-1].number)
        # A unique violation means another writer stored one of our identities between our look-up
        # and our write without taking its lock; a second look-up sees it.
        for attempt in (1, 2):
            try:
                with transaction.atomic():
                    plan, issues, counts = self._chunk_write(rows)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        self.counts = counts
        self.issue_count += len(issues)
        self.sample.extend(issues[: ISSUE_SAMPLE - len(self.sample)])
        if self.report:
            self.report.writerows(report_lines(rows, plan, issues, self.disclosure))
            if not self.dry_run:
                self.report_stream.flush()  # a worker killed later loses no committed chunk's lines

    def _chunk_write(self, rows: list[ImportRow]) -> tuple[ChunkPlan, list[ImportIssue], dict[str, int]]:
        valid = [row for row in rows if not row.errors]
        keys_stage(list({identity.key for row in valid for identity in row.identities}))
        if not self.dry_run:
            # Dry runs take no locks: they would pile up in one transaction, and nothing is kept.
            identities_lock_staged(KEYS_TABLE)
        department_id = self.contact_import.department_id
        plan = chunk_plan(valid, *stored_identities(department_id))
        plan_write(plan, department_id=department_id, now=timezone.now(), lock=not self.dry_run)
        if not self.dry_run:
            accounts_write(plan, department_id=department_id)
        issues = chunk_issues(rows, plan, self.file.headers, self.disclosure)
        counts = counts_add(self.counts, rows, plan)
        if not self.dry_run:
            issues_copy(self.contact_import.pk, issues)
            self._chunk_mark(counts, issue_total=self.issue_count + len(issues), last_row=rows[-1].number)
        return plan, issues, counts

    def _chunk_mark(self, counts: dict[str, int], *, issue_total: int, last_row: int) -> None:
        """Store the counts and the row reached with the chunk, in its transaction: a resumed job
        starts after the last chunk that committed. Only while the import runs: a cancel (or the
        sweeper) that came first rolls the chunk back and stops the run."""
        marked = ContactImport.objects.filter(
            pk=self.contact_import.pk, status=ContactImport.Status.RUNNING
        ).update(
            counts=counts,
            rows_done=counts["rows"],
            issue_total=issue_total,
            committed_row=last_row,
            progress_at=timezone.now(),
        )
        if not marked:
            raise _Stopped

    def _issue_rows(self, issues: list[ImportIssue]) -> list[ContactImportIssue]:
        return [
            ContactImportIssue(
                contact_import=self.contact_import,
                row_number=issue.row_number,
                kind=issue.kind,
                column=issue.column[:200],
                reason=issue.reason,
                data=issue.data,
                contact_ids=issue.contact_ids,
            )
            for issue in issues
        ]

    def _fail(self, error: Exception) -> None:
        first, last = self.chunk_rows
        message = (
            f"The import stopped at rows {first}–{last}: {error}. Nothing of those rows was written; "
            f"the {self.counts['rows']} rows before them are imported. Importing the file again carries on "
            "from there."
        )
        self.contact_import.error = message
        self._finish(ContactImport.Status.FAILED)
        raise ContactImportFailed(message, contact_import=self.contact_import) from error

    def _finish(self, status: str) -> bool:
        """Store how the run ended; False if it had been cancelled (or given up) meanwhile."""
        contact_import = self.contact_import
        contact_import.counts = self.counts
        contact_import.rows_done = self.counts["rows"]
        contact_import.issue_total = self.issue_count
        contact_import.completed_at = timezone.now()
        if contact_import.pk is None:  # a command-line dry run is stored once it ends
            contact_import.status = status
            contact_import.save()
            return True
        fields = ["counts", "rows_done", "issue_total", "completed_at", "error"]
        finished = ContactImport.objects.filter(
            pk=contact_import.pk, status=ContactImport.Status.RUNNING
        ).update(status=status, **{name: getattr(contact_import, name) for name in fields})
        if not finished:
            self._stopped()
            return False
        contact_import.status = status
        return True

    def _stopped(self) -> None:
        self.contact_import.refresh_from_db(fields=["status", "error", "completed_at"])
