"""What a contact record is compared as (contacts/duplicates/fields.py): tables of cases, no database."""

import datetime as dt

import pytest

from contacts.duplicates.fields import birth_date, comparable, name_split, street_split

TODAY = dt.date(2026, 6, 1)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("John Smith", ("john", "smith")),
        ("Smith, John", ("john", "smith")),
        ("  José  María   Núñez ", ("jose", "nunez")),  # middle names left out, accents folded
        ("Weiß", (None, "weiss")),  # one word: a surname
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_names_are_split_into_given_name_and_surname(name, expected):
    assert name_split(name) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1984-03-02", "1984-03-02"),
        ("1984-3-2", "1984-03-02"),
        ("19840302", "1984-03-02"),
        ("02.03.1984", "1984-03-02"),
        ("2. 3. 1984", "1984-03-02"),
        ("25/12/1984", "1984-12-25"),
        ("12/25/1984", "1984-12-25"),
        ("05/06/1984", None),  # May or June: no guess
        ("1984-02-30", None),
        ("1900-01-01", None),  # the usual placeholder for "unknown"
        ("2030-01-01", None),  # in the future
        ("next tuesday", None),
        (None, None),
    ],
)
def test_dates_of_birth_are_read_in_the_spellings_people_type(value, expected):
    assert birth_date(value, today=TODAY) == expected


@pytest.mark.parametrize(
    ("street", "number", "expected"),
    [
        ("12 Baker Street", None, ("baker street", "12")),
        ("Hauptstraße 5a", None, ("hauptstr", "5a")),
        ("Hauptstr. 5", "", ("hauptstr", "5")),
        ("Baker Street", "12", ("baker street", "12")),
        (None, None, (None, None)),
    ],
)
def test_streets_give_up_their_house_number(street, number, expected):
    assert street_split(street, number) == expected


def test_a_record_prefers_the_persons_own_fields_then_the_oldest_view():
    record = comparable(
        contact_id=7,
        names=["", "Jon Smith", "John Smith"],
        attribute_sets=[{}, {"Date of Birth": "02.03.1984"}, {"dob": "1999-01-01", "ZIP": "nw1 6xe"}],
        identities=[
            ("email", "", "jon@example.com"),
            ("email", "", "j2@example.com"),
            ("external", "crm", "A-1"),
        ],
    )

    assert record["given_name"] == "jon" and record["surname"] == "smith"
    assert record["date_of_birth"] == "1984-03-02"  # the older view's, not the newer one's
    assert record["postcode"] == "nw16xe"
    assert (record["email"], record["email_mailbox"]) == ("jon@example.com", "jon")
    assert record["external_id"] == "crm:A-1" and record["phone"] is None
