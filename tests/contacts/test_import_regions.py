"""Where an imported phone number is read (the row's country, the import's region, the department's,
the company default), what a row whose phone cell cannot be read becomes, and emails spelled in
decomposed Unicode or with ß. The service is called directly; the admin, API and command have their
own files."""

import csv
import io

import phonenumbers
import pytest

from contacts.errors import InvalidPhoneRegion
from contacts.importing import contact_import_run, parallel
from contacts.models import Contact, ContactImport, ContactImportIssue, Identity
from departments.actors import Actor
from tests import factories


def import_csv(department, text: str, *, phone_region: str = "", dry_run: bool = False):
    """Run the import on `text`; return the result and the per-row report keyed by row number."""
    report = io.StringIO()
    result = contact_import_run(
        department=department,
        file=io.BytesIO(text.encode()),
        actor=Actor(department_ids=frozenset({department.pk})),
        filename="contacts.csv",
        dry_run=dry_run,
        report=report,
        phone_region=phone_region,
    )
    report.seek(0)
    return result, {int(line["row"]): line for line in csv.DictReader(report)}


def phone_of(email: str) -> str | None:
    """The phone number stored with the person of `email`, or None."""
    contact = Identity.objects.get(kind="email", normalised=email).contact
    return contact.identities.filter(kind="phone").values_list("normalised", flat=True).first()


def warnings_of(result) -> list[tuple[int, str, str]]:
    return [(i.row_number, i.column, i.reason) for i in result.issues if i.kind == "warning"]


# --- the region a national number is read in ---------------------------------------------------


def test_a_us_number_imported_with_region_us_is_the_us_number(support):
    """Before: read in the one global region, (201) 555-0123 became +49 201 5550123."""
    result, report = import_csv(support, "email,phone\nsam@example.com,(201) 555-0123\n", phone_region="us")

    assert phone_of("sam@example.com") == "+12015550123"
    assert result.issues == [] and result.counts["with_warnings"] == 0
    assert result.contact_import.phone_region == "US"
    assert ContactImport.objects.get().phone_region == "US"
    assert (report[2]["outcome"], report[2]["reason"]) == ("created", "")


@pytest.mark.parametrize(
    ("country", "import_region", "department_region", "expected"),
    [
        ("US", "DE", "DE", "+12015550123"),  # the row's country first
        ("DE", "US", "US", "+492015550123"),
        ("", "US", "DE", "+12015550123"),  # then the import's region
        ("", "DE", "US", "+492015550123"),
        ("", "", "US", "+12015550123"),  # then the department's
        ("", "", "DE", "+492015550123"),
    ],
)
def test_a_national_number_is_read_in_the_first_region_named(
    support, country, import_region, department_region, expected
):
    support.phone_region = department_region
    support.save(update_fields=["phone_region"])

    result, _ = import_csv(
        support,
        f"email,phone,country\nsam@example.com,(201) 555-0123,{country}\n",
        phone_region=import_region,
    )

    assert phone_of("sam@example.com") == expected
    assert result.issues == []  # someone named the region: no guess to flag


def test_a_national_number_read_only_through_the_company_default_is_imported_and_flagged(support, settings):
    settings.PHONE_DEFAULT_REGION = "DE"
    text = (
        "email,phone\n"
        "sam@example.com,(201) 555-0123\n"
        "kim@example.com,+1 201 555 0124\n"  # a country code: nothing to guess
        "lee@example.com,\n"
    )

    result, report = import_csv(support, text)

    assert result.counts["created"] == 3 and result.counts["with_warnings"] == 1
    assert phone_of("sam@example.com") == "+492015550123"
    reason = (
        "Read as a DE number, +492015550123: it has no country code, and neither the row (a country "
        "column) nor the import or the department names a phone region, so the company default DE "
        "was used."
    )
    assert warnings_of(result) == [(2, "phone", reason)]
    stored = ContactImportIssue.objects.get(contact_import=result.contact_import)
    assert (stored.kind, stored.row_number, stored.column) == ("warning", 2, "phone")
    assert stored.data == {"email": "sam@example.com", "phone": "(201) 555-0123"}
    assert (report[2]["outcome"], report[2]["column"], report[2]["reason"]) == ("created", "phone", reason)
    assert report[3]["reason"] == "" and phone_of("kim@example.com") == "+12015550124"


def _example_numbers() -> list[tuple[str, phonenumbers.PhoneNumber]]:
    """phonenumbers' example mobile number of each region it knows (with a number of its own)."""
    examples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if number is not None and phonenumbers.region_code_for_number(number) == region:
            examples.append((region, number))
    return examples


def _national(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_national_numbers_of_every_country_import_as_themselves_with_a_country_column(support):
    examples = _example_numbers()
    text = "email,phone,country\n" + "".join(
        f"p{n}@example.com,{_national(number)},{region.lower()}\n"
        for n, (region, number) in enumerate(examples)
    )

    result, _ = import_csv(support, text, phone_region="DE")

    assert len(examples) > 200
    assert result.counts["created"] == len(examples) and result.issues == []
    stored = {f"p{n}@example.com": _e164(number) for n, (_, number) in enumerate(examples)}
    assert {email: phone_of(email) for email in stored} == stored


def test_without_a_region_no_foreign_number_is_stored_silently_and_no_email_is_lost(support, settings):
    """The same numbers with nobody naming their country: before, about two thirds became German
    numbers without a word and the rest took their row's email with them."""
    settings.PHONE_DEFAULT_REGION = "DE"
    examples = [(region, number) for region, number in _example_numbers() if region != "DE"]
    text = "email,phone\n" + "".join(
        f"p{n}@example.com,{_national(number)}\n" for n, (_, number) in enumerate(examples)
    )

    result, report = import_csv(support, text)

    assert result.counts["invalid"] == 0
    assert Identity.objects.filter(kind="email").count() == len(examples)
    warned = ContactImportIssue.objects.filter(contact_import=result.contact_import, kind="warning")
    # Every row says how its number was read, or why it was left out.
    assert set(warned.values_list("row_number", flat=True)) == set(range(2, len(examples) + 2))
    # Read as German, some numbers of different countries are one number: those rows joined the
    # person of an earlier row, each with its warning in the report for someone to check.
    joined = [line for line in report.values() if line["outcome"] == "identities_added"]
    assert joined and all(line["reason"].startswith("Read as a DE number") for line in joined)


# --- a phone cell that cannot be read --------------------------------------------------------------


def test_a_bad_phone_cell_never_drops_the_rows_email_or_external_id(support):
    text = (
        "email,external_id:crm,phone\n"
        "ann@example.com,,call me\n"
        "bo@example.com,,+1 212 555 0123 ext. 42\n"
        ",C-7,12\n"
        ",,nonsense\n"  # nothing else to import the row by
    )

    result, report = import_csv(support, text, phone_region="DE")

    assert result.counts["created"] == 3 and result.counts["with_warnings"] == 3
    assert result.counts["invalid"] == 1
    assert not Identity.objects.filter(kind="phone").exists()
    assert Identity.objects.get(kind="external", source="crm", normalised="C-7")
    assert [(i.row_number, i.kind, i.column) for i in result.issues] == [
        (2, "warning", "phone"),
        (3, "warning", "phone"),
        (4, "warning", "phone"),
        (5, "invalid", "phone"),
    ]
    assert result.issues[0].reason == "'call me' is not a phone number. The row was imported without it."
    assert result.issues[1].reason.startswith("'+1 212 555 0123 ext. 42' has an extension (42)")
    assert result.issues[3].reason == "'nonsense' is not a phone number."  # not imported: nothing "without"
    assert report[5]["outcome"] == "invalid"


def test_a_bad_phone_beside_another_error_makes_one_invalid_row_with_both_reasons(support):
    result, _ = import_csv(support, "email,phone,locale\nann@example.com,call me,english!\n")

    assert result.counts["invalid"] == 1 and result.counts["with_warnings"] == 0
    assert {(i.kind, i.column) for i in result.issues} == {("invalid", "phone"), ("invalid", "locale")}
    assert not Contact.objects.exists()


def test_a_conflicting_row_is_not_imported_so_it_carries_no_warning(support, settings):
    settings.PHONE_DEFAULT_REGION = "DE"
    factories.known_contact(support, email="sam@example.com")
    other = factories.known_contact(support, email="other@example.com")
    factories.DepartmentIdentityFactory(
        department=support,
        identity=factories.IdentityFactory(
            contact=other, kind="phone", value="+4930111111", normalised="+4930111111"
        ),
    )

    result, _ = import_csv(support, "email,phone\nsam@example.com,030 111111\n")

    assert result.counts["conflict"] == 1 and result.counts["with_warnings"] == 0
    assert [i.kind for i in result.issues] == ["conflict"]


# --- digits whose "+" a spreadsheet dropped --------------------------------------------------------


def test_a_number_that_lost_its_plus_is_never_stored_as_a_german_number(support):
    """447400123457 is +44 7400 123457 with its "+" lost, or 04474 00123457 with its 0 lost: read in
    Germany both are numbers, so the cell is left out with both readings and the row imported."""
    result, _ = import_csv(support, "email,phone\nann@example.com,447400123457\n", phone_region="DE")

    assert phone_of("ann@example.com") is None
    assert warnings_of(result) == [
        (
            2,
            "phone",
            "'447400123457' reads two ways: +447400123457 if a '+' was lost, or +49447400123457 (DE) "
            "if the leading '0' was; write it with its '+' or its leading '0'. The row was imported "
            "without it.",
        )
    ]
    assert not Identity.objects.filter(normalised="+49447400123457").exists()


def test_a_number_that_only_makes_sense_with_its_plus_is_read_so_and_flagged(support):
    result, report = import_csv(support, "email,phone\nann@example.com,447400123457\n", phone_region="US")

    assert phone_of("ann@example.com") == "+447400123457"
    assert warnings_of(result) == [
        (
            2,
            "phone",
            "Read as +447400123457: '447400123457' is no US number, so it was read as an international "
            "one whose '+' was lost; check it.",
        )
    ]
    assert report[2]["outcome"] == "created"


def test_the_rows_country_decides_bare_digits_too(support):
    result, _ = import_csv(
        support, "email,phone,country\nann@example.com,447400123457,GB\n", phone_region="DE"
    )

    assert phone_of("ann@example.com") == "+447400123457" and result.issues == []


# --- the country column ---------------------------------------------------------------------------


def test_a_country_cell_that_names_no_country_leaves_national_numbers_unread(support):
    text = (
        "email,phone,Country\n"
        "ann@example.com,030 1234567,Narnia\n"
        "bo@example.com,+49 30 7654321,Narnia\n"  # a country code of its own: read all the same
        "cy@example.com,020 7946 0958,uk\n"  # ISO 3166 reserves UK for GB; files write it anyway
    )

    result, _ = import_csv(support, text, phone_region="DE")

    assert result.counts["created"] == 3 and result.counts["with_warnings"] == 2
    assert (phone_of("ann@example.com"), phone_of("bo@example.com")) == (None, "+49307654321")
    assert phone_of("cy@example.com") == "+442079460958"
    assert warnings_of(result) == [
        (
            2,
            "Country",
            "'Narnia' is not a country: give its two-letter ISO 3166 code, such as DE or US. The row "
            "was imported without it.",
        ),
        (
            2,
            "phone",
            "'030 1234567' has no country code, and the row's country is not one. The row was "
            "imported without it.",
        ),
        (
            3,
            "Country",
            "'Narnia' is not a country: give its two-letter ISO 3166 code, such as DE or US. The row "
            "was imported without it.",
        ),
    ]


# --- the import's region itself --------------------------------------------------------------------


def test_an_unknown_import_region_is_refused_before_anything_is_read(support):
    with pytest.raises(InvalidPhoneRegion) as caught:
        import_csv(support, "email,phone\nann@example.com,030 1234567\n", phone_region="Germany")

    assert caught.value.message.startswith("phone_region: 'Germany' is not a country")
    assert not ContactImport.objects.exists() and not Contact.objects.exists()


def test_a_large_file_read_on_several_cores_reads_numbers_in_the_import_region(support, monkeypatch):
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(parallel, "_worker_count", lambda size: 2)
    text = "email,phone\n" + "".join(f"p{n}@example.com,(201) 555-{n:04d}\n" for n in range(2_500))

    result, _ = import_csv(support, text + "last@example.com,call me\n", phone_region="US")

    assert result.counts["created"] == 2_501 and result.counts["with_warnings"] == 1
    assert [(i.row_number, i.kind) for i in result.issues] == [(2_502, "warning")]  # back from a reader
    assert Identity.objects.filter(kind="phone", normalised__startswith="+1201555").count() == 2_500


# --- emails ----------------------------------------------------------------------------------------


def test_an_email_typed_in_decomposed_unicode_finds_the_same_contact(support):
    """é as one character (NFC) and as e + a combining accent (NFD, as some keyboards and macOS
    file names give it) is one address; before, the second spelling made a second contact."""
    import_csv(support, "email,name\nélise@firma.de,Élise\n")

    result, report = import_csv(support, "email,name\ne\u0301lise@firma.de,Élise\n")

    assert result.counts["matched"] == 1 and result.counts["created"] == 0
    assert Contact.objects.count() == 1
    assert report[2]["matched_by"] == "email e\u0301lise@firma.de"


def test_weiss_with_ss_and_with_a_sharp_s_are_two_people(support):
    """casefold() turned ß into ss and made these one person; they are two mailboxes."""
    result, _ = import_csv(support, "email,name\nweiß@firma.de,Jörg Weiß\nweiss@firma.de,Jo Weiss\n")

    assert result.counts["created"] == 2 and result.counts["conflict"] == 0
    assert set(Identity.objects.values_list("normalised", flat=True)) == {"weiß@firma.de", "weiss@firma.de"}


def test_a_capital_sharp_s_is_the_same_address_as_the_small_one(support):
    import_csv(support, "email\nweiß@firma.de\n")

    result, _ = import_csv(support, "email\nWEIẞ@FIRMA.DE\n")

    assert result.counts["matched"] == 1 and Contact.objects.count() == 1
