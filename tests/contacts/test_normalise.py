"""Identity normalisation: what counts as the same email address, phone number or external id.

Pure tests (no database): each row is an input a person or a CSV file really gives us and the form
we store, or the reason we refuse it.
"""

import pytest
from django.test import override_settings

from contacts.errors import InvalidIdentity
from contacts.normalise import normalise_email, normalise_external_id, normalise_identity, normalise_phone

EMAILS = [
    # Case: the whole address compares case-insensitively.
    ("bob@example.com", "bob@example.com"),
    ("Bob@Example.COM", "bob@example.com"),
    ("BOB.SMITH@EXAMPLE.ORG", "bob.smith@example.org"),
    ("ÄNNE@example.de", "änne@example.de"),
    ("Straße@example.de", "strasse@example.de"),  # case folding, not just lower()
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
