"""Importing contacts from CSV: what each row becomes, the file-level errors, and what is never
left half-written. The service is called directly; the admin, API and command have their own files."""

import codecs
import csv
import io
import threading
import uuid

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.db import OperationalError, connection, transaction

from contacts import supplies
from contacts.importing import ContactImportFailed, ImportFileRejected, contact_import_run, parallel, services
from contacts.importing.matching import ContactFields, StoredContact, StoredIdentity, chunk_plan
from contacts.importing.reading import ImportRow, RowIdentity, parse_header
from contacts.importing.writing import KEYS_TABLE, keys_stage
from contacts.locks import LockOutsideTransaction, identities_lock, identities_lock_staged, identity_lock_key
from contacts.models import (
    Contact,
    ContactImport,
    ContactImportIssue,
    DepartmentContact,
    DepartmentIdentity,
    Identity,
)
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from tests import factories


@pytest.fixture
def support(support):
    """Support reads its national phone numbers in Germany (its department's phone region): these
    tests are about what rows become; test_import_regions.py is about where numbers are read."""
    support.phone_region = "DE"
    support.save(update_fields=["phone_region"])
    return support


def actor_for(department) -> Actor:
    return Actor(department_ids=frozenset({department.pk}))


def import_csv(department, text: str | bytes, *, dry_run=False, encoding="utf-8", actor=None):
    """Run the import on `text`; return the result and the per-row report keyed by row number."""
    data = text if isinstance(text, bytes) else text.encode(encoding)
    report = io.StringIO()
    result = contact_import_run(
        department=department,
        file=io.BytesIO(data),
        actor=actor or actor_for(department),
        filename="contacts.csv",
        dry_run=dry_run,
        report=report,
    )
    report.seek(0)
    return result, {int(line["row"]): line for line in csv.DictReader(report)}


def contact_with(kind: str, normalised: str) -> Contact:
    return Identity.objects.select_related("contact").get(kind=kind, normalised=normalised).contact


def view_with(department, kind: str, normalised: str) -> DepartmentContact:
    """The department's view of the person the identity names."""
    return DepartmentContact.objects.get(
        department=department, contact__identities__kind=kind, contact__identities__normalised=normalised
    )


def supplied_by(department) -> set[tuple[str, str]]:
    """(normalised identity, value as the department wrote it) of every identity it supplied."""
    return set(
        Identity.objects.filter(supplies.supplied_by([department.pk]))
        .annotate(spelling=supplies.as_supplied([department.pk]))
        .values_list("normalised", "spelling")
    )


def counts(**given) -> dict:
    names = (
        "rows",
        "created",
        "matched",
        "identities_added",
        "updated",
        "with_warnings",
        "invalid",
        "conflict",
    )
    return {name: given.get(name, 0) for name in names}


# --- what a row becomes ---------------------------------------------------------------------


def test_new_rows_create_contacts_with_their_identities_and_fields(support):
    result, report = import_csv(
        support,
        "email,phone,external_id:crm,name,locale,time_zone,attr.tier\n"
        "Anna@Example.com,0151 23456789,C-1,Anna Berg,de_AT,europe/vienna,gold\n"
        "ben@example.com,,,Ben,,,\n",
    )

    assert result.counts == counts(rows=2, created=2)
    anna = contact_with("email", "anna@example.com")
    view = view_with(support, "email", "anna@example.com")
    assert (view.name, view.locale, view.time_zone, view.attributes, view.source) == (
        "Anna Berg",
        "de-AT",
        "Europe/Vienna",
        {"tier": "gold"},
        "import",
    )
    # The person's own fields are the customer's and the CX lead's: the import leaves them empty.
    assert (anna.name, anna.locale, anna.time_zone, anna.attributes) == ("", "", "", {})
    assert sorted(anna.identities.values_list("kind", "source", "value", "normalised")) == [
        ("email", "", "Anna@Example.com", "anna@example.com"),
        ("external", "crm", "C-1", "C-1"),
        ("phone", "", "0151 23456789", "+4915123456789"),
    ]
    assert supplied_by(support) == {
        ("anna@example.com", "Anna@Example.com"),
        ("+4915123456789", "0151 23456789"),
        ("C-1", "C-1"),
        ("ben@example.com", "ben@example.com"),
    }
    assert report[2]["outcome"] == "created" and report[2]["contact_id"] == str(anna.public_id)
    assert report[3]["outcome"] == "created"
    assert result.contact_import.status == ContactImport.Status.COMPLETED


def test_a_known_person_written_differently_is_matched_and_says_by_which_identity(support):
    known = factories.known_contact(support, email="kim@example.com", name="Kim")

    result, report = import_csv(support, "email,name\n  KIM@Example.COM ,\n")

    assert result.counts == counts(rows=1, matched=1)
    assert Contact.objects.count() == 1
    assert report[2]["outcome"] == "matched"
    assert report[2]["contact_id"] == str(known.public_id)
    assert report[2]["matched_by"] == "email KIM@Example.COM"


def test_new_identities_of_a_known_person_are_added_to_that_contact(support):
    known = factories.known_contact(support, email="kim@example.com")

    result, report = import_csv(support, "email,phone\nkim@example.com,+49 30 1234567\n")

    assert result.counts == counts(rows=1, identities_added=1)
    assert contact_with("phone", "+49301234567") == known
    assert ("+49301234567", "+49 30 1234567") in supplied_by(support)
    assert report[2]["outcome"] == "identities_added"
    assert report[2]["identities_added"] == "phone +49 30 1234567"


# --- another department's customers ------------------------------------------------------------


@pytest.fixture
def pat(marketing) -> Contact:
    """Marketing's customer: an email and a phone marketing supplied, marketing's name and attributes."""
    pat = factories.known_contact(
        marketing, email="pat@example.com", name="Pat", locale="en", attributes={"tier": "gold"}
    )
    phone = factories.IdentityFactory(
        contact=pat, kind="phone", value="+4930222222", normalised="+4930222222"
    )
    factories.DepartmentIdentityFactory(department=marketing, identity=phone)
    return pat


def marketing_view(pat: Contact) -> tuple:
    view = DepartmentContact.objects.get(department__slug="marketing", contact=pat)
    return (view.name, view.locale, view.time_zone, view.attributes, view.updated_at)


def test_a_person_only_another_department_knows_is_created_here_and_theirs_is_untouched(support, pat):
    theirs, own = marketing_view(pat), (pat.name, pat.locale, pat.attributes)

    result, report = import_csv(support, "email,name,attr.tier\nPAT@example.com,Patricia,silver\n")

    assert result.counts == counts(rows=1, created=1)
    assert report[2]["outcome"] == "created"
    assert (report[2]["matched_by"], report[2]["identities_added"]) == ("", "")
    assert Contact.objects.get() == pat  # one person for the gatekeeper
    ours = DepartmentContact.objects.get(department=support, contact=pat)
    assert (ours.name, ours.locale, ours.attributes, ours.source) == (
        "Patricia",
        "",
        {"tier": "silver"},
        "import",
    )
    assert report[2]["contact_id"] == str(pat.public_id)  # now support's contact too
    assert marketing_view(pat) == theirs
    pat.refresh_from_db()
    assert (pat.name, pat.locale, pat.attributes) == own
    # Support supplied the email, not marketing's phone.
    assert supplied_by(support) == {("pat@example.com", "PAT@example.com")}

    again, _ = import_csv(support, "email,name,attr.tier\nPAT@example.com,Patricia,silver\n")
    assert again.counts == counts(rows=1, matched=1)


def test_the_last_duplicate_row_renames_only_the_importing_departments_view(support, pat):
    """Issue 12, leak 9: the second row renamed the shared person, and marketing's next invitation
    greeted "Noah again"."""
    theirs = marketing_view(pat)

    result, _ = import_csv(support, "email,name\npat@example.com,Noah\npat@example.com,Noah again\n")

    assert result.counts == counts(rows=2, created=1, matched=1, updated=1)
    assert DepartmentContact.objects.get(department=support, contact=pat).name == "Noah again"
    assert marketing_view(pat) == theirs
    pat.refresh_from_db()
    assert pat.name == "Pat"  # what an invitation falls back to when a view has no name


def test_a_row_adding_an_identity_another_department_supplied_adds_it_to_this_departments_book(support, pat):
    factories.DepartmentContactFactory(department=support, contact=pat, name="P.")
    factories.DepartmentIdentityFactory(department=support, identity=pat.identities.get(kind="email"))

    result, report = import_csv(support, "email,phone\npat@example.com,030 222222\n")

    assert result.counts == counts(rows=1, identities_added=1)
    assert report[2]["matched_by"] == "email pat@example.com"
    assert report[2]["identities_added"] == "phone 030 222222"
    assert ("+4930222222", "030 222222") in supplied_by(support)
    assert Identity.objects.filter(contact=pat).count() == 2


@pytest.mark.parametrize("chunk_rows", [1, 1000])
def test_a_dry_run_tells_nothing_of_another_departments_customers(support, pat, monkeypatch, chunk_rows):
    """The same file with marketing's customer and with a person nobody knows: the same preview."""
    monkeypatch.setattr(services, "CHUNK_ROWS", chunk_rows)  # 1: the second row sees the first's view
    text = "email,phone,name,attr.tier\n{0}@example.com,{1},Pat,gold\n{0}@example.com,,Pat B,\n"
    theirs = marketing_view(pat)

    preview, report = import_csv(support, text.format("pat", "030 222222"), dry_run=True)
    unknown, unknown_report = import_csv(support, text.format("nobody", "030 999999"), dry_run=True)

    assert preview.counts == unknown.counts == counts(rows=2, created=1, matched=1, updated=1)
    assert [(line["outcome"], line["contact_id"]) for line in report.values()] == [
        ("created", ""),
        ("matched", ""),
    ]
    assert [(line["outcome"], line["contact_id"]) for line in unknown_report.values()] == [
        ("created", ""),
        ("matched", ""),
    ]
    assert not DepartmentContact.objects.filter(department=support).exists()
    assert not supplied_by(support)
    assert marketing_view(pat) == theirs


def test_a_conflict_names_no_contact_not_even_the_departments_own(support, pat):
    """Naming its own contact would tell the department, by the other identity left unnamed, that
    someone else has it."""
    sam = factories.known_contact(support, email="sam@example.com")
    text = "email,phone\nsam@example.com,030 222222\n"

    preview, _ = import_csv(support, text, dry_run=True)
    result, report = import_csv(support, text)

    for issue in (preview.issues[0], result.issues[0]):
        assert issue.kind == "conflict"
        assert issue.reason == (
            "email sam@example.com belongs to one contact; phone 030 222222 to another. "
            "Nothing was merged: a CX lead decides whether these are one person."
        )
    assert report[2] == {
        "row": "2",
        "outcome": "conflict",
        "contact_id": "",
        "matched_by": "",
        "identities_added": "",
        "updated": "",
        "column": "email, phone",
        "reason": result.issues[0].reason,
    }
    # A CX lead resolving the conflict sees both persons.
    stored = ContactImportIssue.objects.get(contact_import=result.contact_import)
    assert sorted(stored.contact_ids) == sorted([sam.pk, pat.pk])
    assert stored.reason == result.issues[0].reason
    assert not DepartmentContact.objects.filter(department=support, contact=pat).exists()


def test_invalid_rows_are_reported_with_row_column_and_reason_and_good_rows_still_import(support):
    result, report = import_csv(
        support,
        "email,phone,locale,time_zone\n"
        "good@example.com,,en,Europe/Berlin\n"
        "not-an-email,,,\n"
        "also.good@example.com,12,,\n"
        "third@example.com,,english!,Mars/Olympus\n"
        ",,en,\n"
        "last@example.com,,,\n",
    )

    assert result.counts == counts(rows=6, created=3, with_warnings=1, invalid=3)
    issues = [(i.row_number, i.kind, i.column, i.reason) for i in result.issues]
    assert issues == [
        (3, "invalid", "email", "'not-an-email' has no '@'."),
        # A bad phone beside a good email: the row is imported by its email (test_import_regions.py).
        (
            4,
            "warning",
            "phone",
            "'12' is not a valid phone number in DE (+49). The row was imported without it.",
        ),
        (5, "invalid", "locale", "'english!' is not a language tag (for example en or de-AT)."),
        (5, "invalid", "time_zone", "'Mars/Olympus' is not an IANA time zone (for example Europe/Berlin)."),
        (6, "invalid", "email, phone", "The row has no identity: fill in at least one of these columns."),
    ]
    stored = ContactImportIssue.objects.filter(contact_import=result.contact_import, kind="invalid")
    assert stored.count() == 4
    assert stored.get(row_number=3).data == {
        "email": "not-an-email",
        "phone": "",
        "locale": "",
        "time_zone": "",
    }
    assert report[3]["outcome"] == "invalid" and report[3]["column"] == "email"
    assert report[4]["outcome"] == "created" and report[4]["column"] == "phone"
    assert set(Identity.objects.values_list("normalised", flat=True)) == {
        "good@example.com",
        "also.good@example.com",
        "last@example.com",
    }


def test_a_row_whose_email_and_phone_belong_to_different_contacts_is_a_conflict_and_nothing_merges(support):
    by_email = factories.known_contact(support, email="sam@example.com")
    by_phone = factories.known_contact(support, email="other@example.com")
    factories.IdentityFactory(contact=by_phone, kind="phone", value="+4930111111", normalised="+4930111111")

    result, report = import_csv(support, "email,phone,name\nsam@example.com,030 111111,Sam New Name\n")

    assert result.counts == counts(rows=1, conflict=1)
    (issue,) = ContactImportIssue.objects.filter(kind="conflict")
    assert issue.row_number == 2
    assert issue.column == "email, phone"
    assert sorted(issue.contact_ids) == sorted([by_email.pk, by_phone.pk])
    assert issue.reason == (
        "email sam@example.com belongs to one contact; phone 030 111111 to another. "
        "Nothing was merged: a CX lead decides whether these are one person."
    )
    assert not issue.resolved
    assert report[2]["outcome"] == "conflict"
    assert Contact.objects.count() == 2
    assert view_with(support, "email", "sam@example.com").name != "Sam New Name"
    assert by_email.identities.count() == 1 and by_phone.identities.count() == 2


def test_rows_of_one_file_that_name_the_same_person_end_on_one_contact(support, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_ROWS", 2)  # rows 2 and 5 land in different chunks
    result, report = import_csv(
        support,
        "email,phone,name\nlee@example.com,,Lee\nx@example.com,,\ny@example.com,,\n"
        "LEE@example.com,0151 22222222,\n",
    )

    assert result.counts == counts(rows=4, created=3, identities_added=1)
    lee = contact_with("email", "lee@example.com")
    assert contact_with("phone", "+4915122222222") == lee
    assert report[5]["outcome"] == "identities_added"
    assert report[5]["contact_id"] == str(lee.public_id)


def test_rows_of_one_file_that_link_two_new_contacts_are_a_conflict(support):
    result, _ = import_csv(
        support, "email,phone\na@example.com,\n,0151 33333333\na@example.com,0151 33333333\n"
    )

    assert result.counts == counts(rows=3, created=2, conflict=1)
    (issue,) = result.issues
    assert "the contact created by row 2" in issue.reason and "the contact created by row 3" in issue.reason
    assert Contact.objects.count() == 2


def test_importing_the_same_file_again_changes_nothing(support):
    text = "email,phone,name,attr.tier\nmo@example.com,0151 44444444,Mo,gold\nnoor@example.com,,Noor,\n"
    import_csv(support, text)
    before = sorted(Contact.objects.values_list("pk", "updated_at"))
    views = sorted(DepartmentContact.objects.values_list("pk", "name", "attributes", "updated_at"))
    identities, supplied = Identity.objects.count(), DepartmentIdentity.objects.count()

    result, report = import_csv(support, text)

    assert result.counts == counts(rows=2, matched=2)
    assert sorted(Contact.objects.values_list("pk", "updated_at")) == before
    assert sorted(DepartmentContact.objects.values_list("pk", "name", "attributes", "updated_at")) == views
    assert (Identity.objects.count(), DepartmentIdentity.objects.count()) == (identities, supplied)
    assert {line["updated"] for line in report.values()} == {""}


def test_changed_fields_and_attributes_update_the_contact_and_keep_the_rest(support):
    kim = factories.known_contact(
        support, email="kim@example.com", name="Kim", attributes={"tier": "gold", "x": 1}
    )

    result, report = import_csv(
        support, "email,name,time_zone,attr.tier,attr.plan\nkim@example.com,,Europe/Paris,silver,\n"
    )

    assert result.counts == counts(rows=1, matched=1, updated=1)
    view = view_with(support, "email", "kim@example.com")
    assert (view.name, view.time_zone, view.attributes) == ("Kim", "Europe/Paris", {"tier": "silver", "x": 1})
    assert report[2]["updated"] == "yes"
    kim_before = kim.time_zone
    kim.refresh_from_db()
    assert kim.time_zone == kim_before  # the person's own fields are not the department's to change


def test_external_ids_take_their_source_from_the_header_or_the_external_source_column(support):
    import_csv(support, "external_id,external_source,external_id:shop\n7,CRM,s-7\n8,,s-8\n")

    assert sorted(Identity.objects.values_list("source", "normalised")) == [
        ("crm", "7"),
        ("import", "8"),
        ("shop", "s-7"),
        ("shop", "s-8"),
    ]


def test_a_dry_run_reports_what_would_happen_and_writes_no_contact(support):
    factories.known_contact(support, email="kim@example.com")
    text = (
        "email,phone\nkim@example.com,0151 55555555\nnew@example.com,\nbad,\nnew@example.com,0151 66666666\n"
    )

    preview, report = import_csv(support, text, dry_run=True)

    assert preview.counts == counts(rows=4, created=1, identities_added=2, invalid=1)
    assert Contact.objects.count() == 1 and Identity.objects.count() == 1
    assert DepartmentContact.objects.count() == 1
    assert preview.contact_import.status == ContactImport.Status.PREVIEWED
    assert list(preview.contact_import.issues.values_list("row_number", flat=True)) == [4]
    assert report[3]["contact_id"] == ""  # a contact of a dry run has no id to show
    result, _ = import_csv(support, text)
    assert result.counts == preview.counts


def test_only_the_actors_departments_can_be_imported_into(support, marketing):
    with pytest.raises(NotFound):
        import_csv(support, "email\na@example.com\n", actor=actor_for(marketing))
    assert not Contact.objects.exists()


# --- encodings, delimiters, blank lines ------------------------------------------------------


def test_utf8_with_byte_order_mark(support):
    result, _ = import_csv(support, codecs.BOM_UTF8 + "Email;Name\nzoe@example.com;Zoë Åberg\n".encode())

    assert result.counts["created"] == 1
    assert view_with(support, "email", "zoe@example.com").name == "Zoë Åberg"


def test_windows_1252_with_umlauts(support):
    result, _ = import_csv(
        support, "email,name\njuergen@example.com,Jürgen Müßig – “Büro”\n", encoding="cp1252"
    )

    assert result.counts["created"] == 1
    assert view_with(support, "email", "juergen@example.com").name == "Jürgen Müßig – “Büro”"


def test_semicolon_delimiter_with_quoted_cells(support):
    import_csv(support, 'email;name;attr.note\nq@example.com;"Quinn; Q.";"says ""hi"", twice"\n')

    quinn = view_with(support, "email", "q@example.com")
    assert (quinn.name, quinn.attributes) == ("Quinn; Q.", {"note": 'says "hi", twice'})


def test_blank_lines_are_skipped_and_row_numbers_stay_those_of_the_spreadsheet(support):
    text = '\r\nemail,name\r\n\r\nok@example.com,"two\r\nlines"\r\n,,\r\n\r\nbroken,\r\n'

    result, report = import_csv(support, text)

    assert result.counts == counts(rows=2, created=1, invalid=1)
    assert [issue.row_number for issue in result.issues] == [7]
    assert report[4]["outcome"] == "created"
    assert view_with(support, "email", "ok@example.com").name == "two\r\nlines"


def test_rows_with_too_many_or_too_few_fields_are_invalid(support):
    result, _ = import_csv(support, "email,name\na@example.com,A,extra\nb@example.com\nc@example.com,C\n")

    assert result.counts == counts(rows=3, created=1, invalid=2)
    assert [(i.row_number, i.reason) for i in result.issues] == [
        (2, "The row has 3 fields but the header has 2."),
        (3, "The row has 1 fields but the header has 2."),
    ]


def test_an_over_long_cell_makes_its_row_invalid(support):
    result, _ = import_csv(support, f"email,name\nlong@example.com,{'x' * 20_000}\nok@example.com,ok\n")

    assert result.counts == counts(rows=2, created=1, invalid=1)
    (issue,) = result.issues
    assert (issue.column, issue.reason) == ("name", "The cell is 20000 characters long; at most 10000 fit.")
    assert len(issue.data["name"]) == 201  # the stored copy of the row is cut short


# --- files that are rejected whole -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("", "empty_file", "The file is empty"),
        ("\n\n ,\n", "empty_file", "The file is empty"),
        ("email,name\n\n", "empty_file", "no contacts under it"),
        (
            "email,fax,Shoe size\nx@example.com,1,2\n",
            "unknown_columns",
            "Unknown columns: fax, Shoe size. Allowed",
        ),
        ("email,\nx@example.com,\n", "unknown_columns", "(empty header in column 2)"),
        ("name,locale\nAnna,de\n", "missing_identity_column", "at least one of email, phone, external_id"),
        ("email,EMAIL\nx@example.com,y@example.com\n", "duplicate_columns", "email / EMAIL"),
    ],
)
def test_files_that_cannot_be_imported_are_rejected_whole_with_a_clear_error(support, text, code, words):
    with pytest.raises(ImportFileRejected) as error:
        import_csv(support, text)

    assert error.value.code == code
    assert words in error.value.message
    assert not ContactImport.objects.exists() and not Contact.objects.exists()


def test_unknown_columns_error_lists_the_unknown_and_the_allowed_columns(support):
    with pytest.raises(ImportFileRejected) as error:
        import_csv(support, "email,fax\nx@example.com,1\n")

    assert error.value.extra["unknown"] == ["fax"]
    assert "attr.<key>" in error.value.extra["allowed"]


def test_utf16_files_are_rejected_with_what_to_do(support):
    with pytest.raises(ImportFileRejected) as error:
        import_csv(support, "email\nx@example.com\n".encode("utf-16"))

    assert error.value.code == "unsupported_encoding"
    assert "CSV UTF-8" in error.value.message


def test_a_file_over_the_size_limit_is_rejected(support, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 20
    with pytest.raises(ImportFileRejected) as error:
        import_csv(support, "email\nsomeone.long@example.com\n")

    assert error.value.code == "file_too_large"


# --- failures and concurrency --------------------------------------------------------------------


@pytest.fixture
def refuse_identity():
    """A trigger that makes PostgreSQL refuse the identity named by the setting cxfeedback.refuse:
    a real database error in mid-chunk, after the chunk's contacts are already written."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION refuse_identity() RETURNS trigger AS $$
            BEGIN
                IF NEW.normalised = current_setting('cxfeedback.refuse', true) THEN
                    RAISE EXCEPTION 'identity % refused', NEW.normalised;
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER refuse_identity BEFORE INSERT ON contacts_identity
                FOR EACH ROW EXECUTE FUNCTION refuse_identity();
            """
        )

    def refuse(normalised: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('cxfeedback.refuse', %s, false)", [normalised])

    yield refuse
    refuse("")


def test_a_failed_chunk_leaves_no_half_written_contact_and_a_rerun_carries_on(
    support, monkeypatch, refuse_identity
):
    monkeypatch.setattr(services, "CHUNK_ROWS", 2)
    refuse_identity("boom@example.com")
    text = (
        "email,name\na@example.com,A\nb@example.com,B\nc@example.com,C\nboom@example.com,Boom\n"
        "e@example.com,E\n"
    )

    with pytest.raises(ContactImportFailed) as error:
        import_csv(support, text)

    failed = error.value.contact_import
    assert failed.status == ContactImport.Status.FAILED
    assert "rows 4–5" in failed.error and "identity boom@example.com refused" in failed.error
    assert failed.counts["created"] == 2
    assert sorted(Identity.objects.values_list("normalised", flat=True)) == ["a@example.com", "b@example.com"]
    assert not Contact.objects.filter(identities__isnull=True).exists()
    assert Contact.objects.count() == 2

    refuse_identity("")
    result, _ = import_csv(support, text)
    assert result.counts == counts(rows=5, matched=2, created=3)


@pytest.mark.django_db(transaction=True)
def test_identities_lock_makes_a_second_writer_wait_for_the_first(support):
    """Two writers check-then-create the same new email at the same moment: with the lock the
    second waits and finds the first one's contact. (Remove the lock and one of them fails on
    the unique constraint.)"""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    key = identity_lock_key("email", "", "race@example.com")

    def writer():
        try:
            barrier.wait()
            with transaction.atomic():
                identities_lock([key])
                if Identity.objects.filter(kind="email", normalised="race@example.com").exists():
                    outcomes.append("found")
                    return
                threading.Event().wait(0.2)  # without the lock, the other writer checks meanwhile
                contact = Contact.objects.create(name="Race")
                Identity.objects.create(
                    contact=contact, kind="email", value="race@example.com", normalised="race@example.com"
                )
                outcomes.append("created")
        except Exception as error:
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created", "found"]
    assert Contact.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_imports_lock_is_the_same_lock_as_identities_lock():
    """An import waits for an API upsert holding the lock of one of its identities."""
    held, release = threading.Event(), threading.Event()

    def upsert_holding_the_lock():
        with transaction.atomic():
            identities_lock([identity_lock_key("email", "", "held@example.com")])
            held.set()
            release.wait(5)
        connection.close()

    holder = threading.Thread(target=upsert_holding_the_lock)
    holder.start()
    held.wait(5)
    try:
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            keys_stage([("email", "", "held@example.com"), ("email", "", "free@example.com")])
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            identities_lock_staged(KEYS_TABLE)
    finally:
        release.set()
        holder.join()


@pytest.mark.django_db(transaction=True)
def test_an_import_changing_a_view_waits_for_an_upsert_holding_the_person(support):
    """contact_upsert merges a view's attributes in Python while it holds the person's row; an import
    writing the same view meanwhile would be overwritten by the upsert's stale copy, so it waits.
    (Without the import's lock on the person it writes at once, and this fails.)"""
    kim = factories.known_contact(support, email="kim@example.com", attributes={"tier": "gold"})
    held, release = threading.Event(), threading.Event()

    def upsert_holding_the_person():
        with transaction.atomic():
            Contact.objects.select_for_update().get(pk=kim.pk)
            held.set()
            release.wait(5)
        connection.close()

    holder = threading.Thread(target=upsert_holding_the_person)
    holder.start()
    held.wait(5)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        with pytest.raises(ContactImportFailed, match="lock timeout"):
            import_csv(support, "email,attr.tier\nkim@example.com,silver\n")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        release.set()
        holder.join()
    assert view_with(support, "email", "kim@example.com").attributes == {"tier": "gold"}


@pytest.mark.django_db(transaction=True)
def test_identities_lock_refuses_to_run_outside_a_transaction():
    with pytest.raises(LockOutsideTransaction):
        identities_lock([identity_lock_key("email", "", "a@example.com")])


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_the_same_new_people_at_once_create_each_person_once(support):
    text = "email,phone\n" + "".join(f"p{n}@example.com,0151 7{n:07d}\n" for n in range(300))
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(import_csv(support, text)[0].counts)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert Contact.objects.count() == 300
    assert sum(c["created"] for c in results) == 300 and sum(c["matched"] for c in results) == 300


# --- large files -----------------------------------------------------------------------------------


def big_file(rows: int) -> str:
    return "email,phone,name,attr.n\n" + "".join(
        f"person{n}@example.com,0151 {10_000_000 + n},Person {n},{n}\n" for n in range(rows)
    )


def test_a_large_file_read_on_several_cores_gives_the_same_result(support, monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "_worker_count", lambda size: 2)
    text = big_file(2_500) + "invalid,,,\n"

    result, report = import_csv(support, text)

    assert result.counts == counts(rows=2_501, created=2_500, invalid=1)
    assert [issue.row_number for issue in result.issues] == [2_502]
    assert list(report) == list(range(2, 2_503))
    assert Identity.objects.filter(kind="phone").count() == 2_500


def test_memory_does_not_grow_with_the_file(support, monkeypatch):
    """The file is streamed chunk by chunk: peak memory for 6,000 rows is about that for 1,500."""
    import tracemalloc

    monkeypatch.setattr(services, "CHUNK_ROWS", 500)
    peaks = []
    for rows in (1_500, 6_000):
        data = big_file(rows).encode()
        tracemalloc.start()
        contact_import_run(department=support, file=io.BytesIO(data), actor=actor_for(support))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        Contact.objects.all().delete()

    assert peaks[1] < peaks[0] * 1.5, peaks


# --- deciding rows, without the database --------------------------------------------------------


def planned(rows: list[list[tuple[str, str, str]]], stored: dict, theirs=(), unsupplied=()) -> list[str]:
    """The outcome of each row, given its identity keys and the stored keys → contact ids. The
    department has a view of every stored contact but `theirs` (known only to other departments),
    and supplied every stored identity of its own contacts but those in `unsupplied`."""
    import_rows = [
        ImportRow(number, [], [RowIdentity(*key, key[2], key[0]) for key in keys])
        for number, keys in enumerate(rows, start=2)
    ]
    identities = {
        key: StoredIdentity(contact_id, contact_id not in theirs and key not in unsupplied)
        for key, contact_id in stored.items()
    }
    contacts = {
        contact_id: StoredContact(uuid.uuid4(), None, None)
        if contact_id in theirs
        else StoredContact(uuid.uuid4(), contact_id, ContactFields())
        for contact_id in stored.values()
    }
    return [row_plan.outcome for row_plan in chunk_plan(import_rows, identities, contacts).rows]


A, B = ("email", "", "a"), ("email", "", "b")  # stored identity keys
P1, P2 = ("phone", "", "1"), ("phone", "", "2")


@pytest.mark.parametrize(
    ("rows", "stored", "outcomes"),
    [
        ([[A]], {}, ["created"]),
        ([[A]], {A: 1}, ["matched"]),
        ([[A, P1]], {A: 1}, ["identities_added"]),
        ([[A, P1]], {A: 1, P1: 1}, ["matched"]),
        ([[A, P1]], {A: 1, P1: 2}, ["conflict"]),
        ([[A], [A]], {}, ["created", "matched"]),
        ([[A], [A, P1]], {}, ["created", "identities_added"]),
        ([[A], [P1], [A, P1]], {}, ["created", "created", "conflict"]),
        ([[A, P1], [P1]], {A: 1}, ["identities_added", "matched"]),
        ([[A], [B]], {A: 1, B: 1}, ["matched", "matched"]),
        # a conflicting row claims nothing: the next row with its new phone creates a contact
        ([[A, P1, P2], [P2]], {A: 1, P1: 2}, ["conflict", "created"]),
    ],
)
def test_chunk_plan_outcomes(rows, stored, outcomes):
    assert planned(rows, stored) == outcomes


@pytest.mark.parametrize(
    ("rows", "stored", "theirs", "unsupplied", "outcomes"),
    [
        # known only to another department: new to this one
        ([[A]], {A: 1}, {1}, (), ["created"]),
        ([[A, P1]], {A: 1, P1: 1}, {1}, (), ["created"]),
        ([[A], [A]], {A: 1}, {1}, (), ["created", "matched"]),
        ([[A], [A, P1]], {A: 1}, {1}, (), ["created", "identities_added"]),
        ([[A, P1]], {A: 1}, {1}, (), ["created"]),
        ([[A, P1]], {A: 1, P1: 2}, {2}, (), ["conflict"]),
        # the department's own contact, with an identity only another department supplied
        ([[A, P1]], {A: 1, P1: 1}, (), {P1}, ["identities_added"]),
        ([[P1]], {A: 1, P1: 1}, (), {P1}, ["identities_added"]),
        ([[A, P1], [P1]], {A: 1, P1: 1}, (), {P1}, ["identities_added", "matched"]),
    ],
)
def test_chunk_plan_outcomes_count_against_the_departments_own_book(
    rows, stored, theirs, unsupplied, outcomes
):
    assert planned(rows, stored, theirs, unsupplied) == outcomes


def test_header_names_are_matched_case_insensitively_and_trimmed():
    columns = parse_header(["Email", " PHONE ", "External ID", "external_id:CRM", "Time Zone", "attr.Tier"])

    assert [(c.target, c.kind, c.source, c.attribute) for c in columns] == [
        ("identity", "email", "", ""),
        ("identity", "phone", "", ""),
        ("identity", "external", "", ""),
        ("identity", "external", "crm", ""),
        ("time_zone", "", "", ""),
        ("attribute", "", "", "Tier"),
    ]


def test_an_upload_spooled_to_disk_is_read_like_any_file(support):
    upload = TemporaryUploadedFile("big.csv", "text/csv", 0, "utf-8")
    upload.write(b"email;name\nspool@example.com;Spool\n")
    upload.seek(0)

    result = contact_import_run(
        department=support, file=upload, actor=actor_for(support), filename=upload.name
    )

    assert result.counts["created"] == 1
    assert not upload.closed  # the caller's file stays open for the caller to close
    upload.close()
