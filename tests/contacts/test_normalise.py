"""Identity normalisation: what counts as the same email address, phone number or external id.

Pure tests (no database): each row is an input a person or a CSV file really gives us and the form
we store, or the reason we refuse it.
"""

import phonenumbers
import pytest
from django.test import override_settings

from contacts.errors import InvalidIdentity, InvalidPhoneRegion
from contacts.normalise import (
    PhoneReading,
    normalise_email,
    normalise_external_id,
    normalise_identity,
    normalise_phone,
    phone_read,
    phone_region_check,
)

EMAILS = [
    # Case: the whole address compares case-insensitively.
    ("bob@example.com", "bob@example.com"),
    ("Bob@Example.COM", "bob@example.com"),
    ("BOB.SMITH@EXAMPLE.ORG", "bob.smith@example.org"),
    ("ÄNNE@example.de", "änne@example.de"),
    # ß is a letter of its own, not a way to write ss (IDNA 2008; README, "Identities: what is folded").
    ("Straße@example.de", "straße@example.de"),
    ("STRAẞE@example.de", "straße@example.de"),  # the capital sharp s lower-cases to ß
    ("STRASSE@example.de", "strasse@example.de"),
    ("info@straße.de", "info@xn--strae-oqa.de"),  # and so in domains: not strasse.de
    # Unicode composition: é typed as e + U+0301 (NFD, as macOS file names and some keyboards
    # give it) is the é typed as one character (NFC).
    ("Jose\u0301@example.com", "josé@example.com"),
    ("jose\u0301@bu\u0308cher.example", "josé@xn--bcher-kva.example"),
    # Whitespace around the address, as spreadsheets leave it.
    ("  bob@example.com  ", "bob@example.com"),
    ("\tbob@example.com\n", "bob@example.com"),
    # Internationalised domains are stored in IDNA (ASCII) form, whichever form came in.
    ("anna@bücher.example", "anna@xn--bcher-kva.example"),
    ("anna@BÜCHER.example", "anna@xn--bcher-kva.example"),
    ("anna@xn--bcher-kva.example", "anna@xn--bcher-kva.example"),
    ("anna@XN--BCHER-KVA.EXAMPLE", "anna@xn--bcher-kva.example"),
    ("info@münchen.de", "info@xn--mnchen-3ya.de"),
    ("user@例え.jp", "user@xn--r8jz45g.jp"),
    ("josé@example.com", "josé@example.com"),  # unicode mailbox names stay unicode
    # Gmail ignores tags and dots; googlemail.com is gmail.com.
    ("bob+promo@gmail.com", "bob@gmail.com"),
    ("Bob.Smith@gmail.com", "bobsmith@gmail.com"),
    ("b.o.b.smith+news+more@Gmail.com", "bobsmith@gmail.com"),
    ("bob.smith@googlemail.com", "bobsmith@gmail.com"),
    ("Bob.Smith+x@GoogleMail.com", "bobsmith@gmail.com"),
    # Other tag-ignoring providers fold the tag but keep dots.
    ("bob.smith+promo@outlook.com", "bob.smith@outlook.com"),
    ("bob+promo@hotmail.com", "bob@hotmail.com"),
    ("bob+promo@live.com", "bob@live.com"),
    ("bob+promo@msn.com", "bob@msn.com"),
    ("bob.smith+promo@icloud.com", "bob.smith@icloud.com"),
    ("bob+promo@me.com", "bob@me.com"),
    ("bob+promo@mac.com", "bob@mac.com"),
    ("bob+promo@fastmail.com", "bob@fastmail.com"),
    ("bob+promo@fastmail.fm", "bob@fastmail.fm"),
    ("bob+promo@protonmail.com", "bob@protonmail.com"),
    ("bob+promo@proton.me", "bob@proton.me"),
    ("bob+promo@pm.me", "bob@pm.me"),
    # Unknown providers may deliver tags and dots to different people: keep both.
    ("bob+promo@example.com", "bob+promo@example.com"),
    ("bob.smith@example.com", "bob.smith@example.com"),
    ("bob+promo@mail.gmail.com", "bob+promo@mail.gmail.com"),  # not gmail.com itself
    ("bob+promo@gmx.de", "bob+promo@gmx.de"),
    # Yahoo's disposable addresses use '-' and are separate mailboxes; '+' is not a tag there.
    ("bob-shopping@yahoo.com", "bob-shopping@yahoo.com"),
    ("bob+shopping@yahoo.com", "bob+shopping@yahoo.com"),
    ("bob.smith@yahoo.com", "bob.smith@yahoo.com"),
    # Other legal but unusual forms.
    ("o'brien@example.ie", "o'brien@example.ie"),
    ("bob_smith-99@sub.domain.example.co.uk", "bob_smith-99@sub.domain.example.co.uk"),
    ("postmaster@example.com", "postmaster@example.com"),
]


@pytest.mark.parametrize(("raw", "expected"), EMAILS)
def test_email_normalised_form(raw, expected):
    assert normalise_email(raw) == expected


INVALID_EMAILS = [
    ("", "The email address is empty."),
    ("   ", "The email address is empty."),
    ("bob", "'bob' has no '@'."),
    ("bob.example.com", "'bob.example.com' has no '@'."),
    ("bob@", "'bob@' has no domain."),
    ("@example.com", "'@example.com' has no name before the '@'."),
    ("bob@@example.com", "not a valid email address"),
    ("bob@example.com.", "cannot end with a period"),
    ("bob.@example.com", "not a valid email address"),
    (".bob@example.com", "cannot start with a period"),
    ("bob..smith@example.com", "two periods in a row"),
    ("bob smith@example.com", "invalid characters"),
    ('"bob smith"@example.com', "Quoting"),
    ('"bob"@example.com', "Quoting"),
    ("Bob Smith <bob@example.com>", "display name"),
    ("bob@localhost", "should have a period"),
    ("bob@example", "should have a period"),
    ("bob@[192.0.2.1]", "bracketed IP address"),
    ("bob@example.invalid", "special-use or reserved"),
    ("bob@printer.local", "special-use or reserved"),
    ("bob@exa_mple.com", "invalid characters"),
    ("bob@-example.com", "hyphen"),
    ("bob@example..com", "not a valid email address"),
    ("bob,smith@example.com", "invalid characters"),
    ("bob@example.com,alice@example.com", "not a valid email address"),
    ("x" * 250 + "@example.com", "too long"),
    ("+promo@gmail.com", "has no mailbox name before the '+'"),
    ("+@icloud.com", "has no mailbox name before the '+'"),
]


@pytest.mark.parametrize(("raw", "message"), INVALID_EMAILS)
def test_email_refused_with_a_message_naming_the_problem(raw, message):
    with pytest.raises(InvalidIdentity) as caught:
        normalise_email(raw)
    assert message in caught.value.message
    assert caught.value.code == "invalid_identity"


@pytest.mark.parametrize(
    "variants",
    [
        [
            "bob.smith@gmail.com",
            "BobSmith@gmail.com",
            "bob.smith+promo@googlemail.com",
            " b.o.b.s.m.i.t.h@GMAIL.COM",
        ],
        ["anna@bücher.example", "ANNA@xn--bcher-kva.example", "Anna@BÜCHER.EXAMPLE"],
        ["bob@outlook.com", "bob+newsletter@Outlook.com", "BOB+x+y@outlook.com"],
        # Composed and decomposed: one address (before NFC, the second made a second contact).
        ["élise@firma.de", "e\u0301lise@firma.de", "E\u0301LISE@FIRMA.DE", "Élise@firma.de"],
        ["weiß@firma.de", "WEIẞ@firma.de", "Weiß@Firma.DE"],
    ],
)
def test_email_variants_of_one_person_normalise_alike(variants):
    assert len({normalise_email(raw) for raw in variants}) == 1


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("bob+promo@example.com", "bob@example.com"),
        ("bob.smith@outlook.com", "bobsmith@outlook.com"),
        ("bob-shopping@yahoo.com", "bob@yahoo.com"),
        ("bob@gmail.com", "bob@gmail.co"),
        # casefold() made these one person; they are two mailboxes (and two domains under IDNA 2008).
        ("weiß@firma.de", "weiss@firma.de"),
        ("WEISS@firma.de", "weiß@firma.de"),
        ("info@straße.de", "info@strasse.de"),
    ],
)
def test_email_different_people_stay_different(one, other):
    assert normalise_email(one) != normalise_email(other)


PHONES = [
    # Germany (the default region in tests).
    ("+49 30 1234567", None, "+49301234567"),
    ("030 1234567", "DE", "+49301234567"),
    ("030 1234567", None, "+49301234567"),
    ("030/1234567", "DE", "+49301234567"),
    ("030-123-4567", "DE", "+49301234567"),
    ("030.123.4567", "DE", "+49301234567"),
    ("0049 30 1234567", "DE", "+49301234567"),
    ("+49 (0)30 1234567", "DE", "+49301234567"),
    ("0151 23456789", "DE", "+4915123456789"),
    ("tel:+49-30-1234567", None, "+49301234567"),
    ("  +49 30 1234567 ", None, "+49301234567"),
    # United States.
    ("(212) 555-0123", "US", "+12125550123"),
    ("212-555-0123", "US", "+12125550123"),
    ("212.555.0123", "US", "+12125550123"),
    ("1 212 555 0123", "US", "+12125550123"),
    ("+1 (212) 555-0123", "DE", "+12125550123"),
    ("tel:+1-212-555-0123", None, "+12125550123"),
    ("1-800-FLOWERS", "US", "+18003569377"),
    ("(650) 253-0000", "us", "+16502530000"),  # the region is read case-insensitively
    # United Kingdom.
    ("0044 20 7946 0958", "DE", "+442079460958"),
    ("+44 (0)20 7946 0958", "DE", "+442079460958"),
    ("+44 20 7946 0958", None, "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("07400 123456", "GB", "+447400123456"),
    # France.
    ("+33 1 42 68 53 00", None, "+33142685300"),
    ("01 42 68 53 00", "FR", "+33142685300"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("+33 (0)6 12 34 56 78", None, "+33612345678"),
    # India.
    ("+91 98765 43210", None, "+919876543210"),
    ("098765 43210", "IN", "+919876543210"),
    ("98765-43210", "IN", "+919876543210"),
    # Brazil.
    ("+55 11 91234-5678", None, "+5511912345678"),
    ("(11) 91234-5678", "BR", "+5511912345678"),
    # Japan.
    ("+81 3-1234-5678", None, "+81312345678"),
    ("03-1234-5678", "JP", "+81312345678"),
    ("090-1234-5678", "JP", "+819012345678"),
]


@pytest.mark.parametrize(("raw", "region", "expected"), PHONES)
def test_phone_stored_in_e164(raw, region, expected):
    assert normalise_phone(raw, region=region) == expected


def test_phone_national_number_is_read_in_the_default_region():
    # The same digits are a Solingen number in Germany and a New York number in the US.
    with override_settings(PHONE_DEFAULT_REGION="DE"):
        assert normalise_phone("(212) 555-0123") == "+492125550123"
    with override_settings(PHONE_DEFAULT_REGION="US"):
        assert normalise_phone("(212) 555-0123") == "+12125550123"


def test_phone_read_says_whether_the_region_decided_the_number():
    assert phone_read("030 1234567", region="DE") == PhoneReading("+49301234567", in_region=True)
    assert phone_read("+49 30 1234567", region="US") == PhoneReading("+49301234567", in_region=False)
    assert phone_read("0049 30 1234567", region="DE") == PhoneReading("+49301234567", in_region=False)
    # The region's own country code without its "+" is still the region's reading.
    assert phone_read("1 212 555 0123", region="US") == PhoneReading("+12125550123", in_region=True)


# Bare digits, as a spreadsheet keeps a number it took for an integer: it drops a "+" and a leading
# 0 alike. (raw, region, E.164 and whether the "+" was put back)
BARE_DIGITS = [
    # No number of the region, but one of another country with its "+" back.
    ("447400123457", "US", "+447400123457", True),
    ("33612345678", "US", "+33612345678", True),
    # The region's own country code: the number is the region's.
    ("447400123457", "GB", "+447400123457", False),
    ("4930123456", "DE", "+4930123456", False),
    # Written as the region writes its numbers.
    ("2125550123", "US", "+12125550123", False),
    ("13123456789", "CN", "+8613123456789", False),  # Chinese mobiles have no 0 in front
    ("1123456789", "BR", "+551123456789", False),
    # A German number whose 0 was lost, no number of any country with a "+".
    ("301234567", "DE", "+49301234567", False),
]


@pytest.mark.parametrize(("raw", "region", "expected", "plus_restored"), BARE_DIGITS)
def test_phone_bare_digits_read_the_one_way_that_makes_sense(raw, region, expected, plus_restored):
    reading = phone_read(raw, region=region)
    assert (reading.e164, reading.plus_restored) == (expected, plus_restored)
    assert reading.in_region is not plus_restored


@pytest.mark.parametrize(
    ("raw", "region", "message"),
    [
        # Before: +49 4474 00123457, a German number, silently.
        (
            "447400123457",
            "DE",
            "'447400123457' reads two ways: +447400123457 if a '+' was lost, or +49447400123457 (DE) "
            "if the leading '0' was; write it with its '+' or its leading '0'.",
        ),
        ("15123456789", "DE", "+15123456789 if a '+' was lost, or +4915123456789 (DE)"),
        ("4951234567", "RU", "or +74951234567 (RU) if the leading '8' was"),
    ],
)
def test_phone_bare_digits_that_read_two_ways_are_refused_not_guessed(raw, region, message):
    with pytest.raises(InvalidIdentity) as caught:
        phone_read(raw, region=region)
    assert message in caught.value.message


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    types = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
    examples = (
        phonenumbers.example_number_for_type(region, kind)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in types
    )
    return [number for number in examples if number is not None]


def test_phone_every_example_number_of_every_region_is_read_as_itself():
    """phonenumbers' example fixed-line and mobile number of each of its ~245 regions: written as
    its country writes it (with and without separators) and read in that country; written
    internationally and read anywhere; written without its "+" and read in a country whose national
    numbers start with a 0 — the same number, or refused, never another one."""
    wrong = []
    for number in _example_numbers():
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        home = phonenumbers.region_code_for_number(number)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        written = [(national, home), ("".join(c for c in national if c.isdigit()), home)]
        written += [(text, region) for text in (international, e164) for region in ("DE", "US", "JP")]
        for text, region in written:
            if phone_read(text, region=region).e164 != e164:
                wrong.append((text, region))
        for region in ("DE", "GB", "FR", "IN", "JP"):
            try:
                if phone_read(e164[1:], region=region).e164 != e164:
                    wrong.append((e164[1:], region))
            except InvalidIdentity:
                pass  # reads two ways: refused (the test above)
    assert len(_example_numbers()) > 400
    assert wrong == []


def test_phone_region_check_names_the_field():
    assert phone_region_check(" us ", field="phone_region") == "US"
    assert phone_region_check("UK", field="phone_region") == "GB"  # ISO 3166's reserved code
    assert phone_region_check("", field="phone_region") == ""
    with pytest.raises(InvalidPhoneRegion) as caught:
        phone_region_check("Germany", field="phone_region")
    assert caught.value.message.startswith("phone_region: 'Germany' is not a country")
    assert caught.value.extra == {"fields": {"phone_region": [caught.value.message]}}


INVALID_PHONES = [
    ("", "DE", "The phone number is empty."),
    ("   ", "DE", "The phone number is empty."),
    ("abc", "DE", "is not a phone number"),
    ("call me", "DE", "is not a phone number"),
    ("1", "DE", "is not a phone number"),
    ("+49 1", "DE", "too short"),
    ("+49 30 1234567 1234567890", "DE", "too long"),
    ("123", "DE", "is not a valid phone number in DE (+49)"),
    ("+1 555 555 5555", "US", "is not a valid phone number in US (+1)"),
    ("0044 20 7946 0958", "US", "is not a valid phone number in US"),  # US dials abroad with 011
    ("07700 900123", "GB", "is not a valid phone number in GB"),  # Ofcom's range for TV drama
    ("+33 1 23", None, "is not a valid phone number in FR"),
    ("+91 12345", None, "is not a valid phone number in IN"),
    ("+55 11 1234", None, "is not a valid phone number in BR"),
    ("+81 3-1234", None, "is not a valid phone number in JP"),
    ("+999 1234567", "DE", "unknown country code"),
    ("030 1234567", "XX", "'XX' is not a known region"),
    # Extensions are refused: a switchboard number would make everyone behind it one person.
    ("+1 212 555 0123 ext. 42", "US", "has an extension (42)"),
    ("212-555-0123 x42", "US", "has an extension (42)"),
    ("tel:+1-212-555-0123;ext=22", None, "has an extension (22)"),
]


@pytest.mark.parametrize(("raw", "region", "message"), INVALID_PHONES)
def test_phone_refused_with_a_message_naming_the_problem(raw, region, message):
    with pytest.raises(InvalidIdentity) as caught:
        normalise_phone(raw, region=region)
    assert message in caught.value.message


@pytest.mark.parametrize(
    "variants",
    [
        ["+49 30 1234567", "030 1234567", "0049 (0)30 123 45 67", "tel:+49-30-1234567", "+49.30.123.4567"],
        ["+44 20 7946 0958", "0044 20 7946 0958", "+44 (0)20 7946 0958"],
    ],
)
def test_phone_variants_of_one_number_normalise_alike(variants):
    assert len({normalise_phone(raw, region="DE") for raw in variants}) == 1


EXTERNAL_IDS = [
    ("CUST-0042", "CUST-0042"),
    ("  CUST-0042\t", "CUST-0042"),
    ("cust-0042", "cust-0042"),  # source systems may be case-sensitive: kept as written
    ("a b  c", "a b  c"),  # inner whitespace is part of the id
    ("0", "0"),
    ("x" * 320, "x" * 320),
]


@pytest.mark.parametrize(("raw", "expected"), EXTERNAL_IDS)
def test_external_id_kept_as_written_without_surrounding_whitespace(raw, expected):
    assert normalise_external_id(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "The external id is empty."),
        (" \t\n", "The external id is empty."),
        ("x" * 321, "321 characters long; at most 320"),
    ],
)
def test_external_id_refused(raw, message):
    with pytest.raises(InvalidIdentity) as caught:
        normalise_external_id(raw)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("email", "Bob.Smith+x@GoogleMail.com", "bobsmith@gmail.com"),
        ("phone", "030 1234567", "+49301234567"),
        ("external", " CUST-1 ", "CUST-1"),
    ],
)
def test_identity_normalised_by_its_kind(kind, raw, expected):
    assert normalise_identity(kind, raw) == expected


def test_identity_phone_uses_the_given_region():
    assert normalise_identity("phone", "(212) 555-0123", region="US") == "+12125550123"


@pytest.mark.parametrize(("kind", "raw"), [("email", "bob@"), ("phone", "abc"), ("external", "")])
def test_identity_invalid_raises_for_every_kind(kind, raw):
    with pytest.raises(InvalidIdentity):
        normalise_identity(kind, raw)


def test_identity_unknown_kind_refused():
    with pytest.raises(InvalidIdentity) as caught:
        normalise_identity("fax", "+49 30 1234567")
    assert caught.value.message == "'fax' is not an identity kind; use one of email, phone, external."
