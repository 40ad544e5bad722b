"""`manage.py import_contacts`: the operator's import, with its printed summary and issues."""

import csv
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from contacts.models import Contact, ContactImport, Identity
from tests import factories


def run_command(*args) -> str:
    out = StringIO()
    call_command("import_contacts", *[str(arg) for arg in args], stdout=out)
    return out.getvalue()


@pytest.fixture
def contacts_file(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,phone,name\nkim@example.com,,Kim\nnew@example.com,,New\nbroken,,X\n", encoding="utf-8"
    )
    return path


def test_imports_the_file_and_prints_counts_and_issues(support, contacts_file):
    factories.known_contact(support, email="kim@example.com")

    output = run_command(contacts_file, "--department", "support")

    assert (
        "Imported: rows 3, created 1, matched 1, identities added 0, updated 1, with warnings 0, invalid 1, "
        "conflict 0." in output
    )
    assert "1 issue:" in output
    assert "row 4 [email] invalid: 'broken' has no '@'." in output
    assert Identity.objects.filter(normalised="new@example.com").exists()
    assert ContactImport.objects.get().status == ContactImport.Status.COMPLETED


def test_dry_run_prints_the_same_summary_and_writes_no_contact(support, contacts_file):
    output = run_command(contacts_file, "--department", "support", "--dry-run")

    assert output.startswith("Dry run, nothing written: rows 3, created 2, matched 0")
    assert "row 4 [email] invalid" in output
    assert not Contact.objects.exists()


def test_writes_the_per_row_report(support, contacts_file, tmp_path):
    report = tmp_path / "report.csv"

    run_command(contacts_file, "--department", "support", "--report", report)

    with report.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [(row["row"], row["outcome"]) for row in rows] == [
        ("2", "created"),
        ("3", "created"),
        ("4", "invalid"),
    ]
    assert rows[2]["column"] == "email"


def test_unknown_department_is_an_error_naming_the_known_ones(support, contacts_file):
    with pytest.raises(CommandError, match="No department with slug 'sales' \\(known: support\\)"):
        run_command(contacts_file, "--department", "sales")


def test_a_rejected_file_is_an_error_naming_the_problem(support, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("email,fax\na@example.com,1\n", encoding="utf-8")

    with pytest.raises(CommandError, match=r"bad\.csv: Unknown column: fax\. Allowed columns: email, phone"):
        run_command(path, "--department", "support")
    assert not ContactImport.objects.exists()


def test_the_phone_region_reads_national_numbers(support, tmp_path):
    path = tmp_path / "us.csv"
    path.write_text("email,phone\nsam@example.com,(201) 555-0123\n", encoding="utf-8")

    output = run_command(path, "--department", "support", "--phone-region", "US")

    assert "with warnings 0" in output
    assert ContactImport.objects.get().phone_region == "US"
    assert Identity.objects.filter(kind="phone", normalised="+12015550123").exists()


def test_an_unknown_phone_region_is_an_error_before_anything_is_written(support, contacts_file, tmp_path):
    report = tmp_path / "report.csv"

    with pytest.raises(CommandError, match="--phone-region: 'XX' is not a country"):
        run_command(contacts_file, "--department", "support", "--phone-region", "XX", "--report", report)
    assert not ContactImport.objects.exists() and not report.exists()


def test_a_missing_file_is_an_error(support, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run_command(tmp_path / "nope.csv", "--department", "support")
