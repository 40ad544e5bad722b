"""What a person's record says, in the form two records are compared in: pure functions, no database.

Names are split into a given name and a surname; dates of birth are read in the spellings people
type and written as ISO dates; addresses are found in attributes under the keys imports and CRMs
use (ATTRIBUTE_KEYS). Everything is case-folded with accents removed, so "José Müller" and
"jose muller" compare as equal and a typo still compares as close.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

# Attribute keys read as each field, compared after key_folded(): "Date of Birth", "date-of-birth"
# and "DATE_OF_BIRTH" are one key. German spellings because the product's first users write them.
ATTRIBUTE_KEYS: dict[str, tuple[str, ...]] = {
    "given_name": ("given_name", "first_name", "firstname", "forename", "vorname"),
    "surname": ("surname", "last_name", "lastname", "family_name", "nachname"),
    "date_of_birth": ("date_of_birth", "dob", "birth_date", "birthdate", "birthday", "geburtsdatum"),
    "street_number": ("street_number", "house_number", "housenumber", "hausnummer"),
    "street": ("street", "address", "address_1", "address1", "address_line_1", "street_address", "strasse"),
    "city": ("city", "town", "suburb", "locality", "ort", "stadt", "wohnort"),
    "postcode": ("postcode", "postal_code", "post_code", "zip", "zip_code", "zipcode", "plz", "postleitzahl"),
}


# Where the comparable record's fields come from, for the README and the admin.
FIELDS = (
    "given_name",
    "surname",
    "date_of_birth",
    "email",
    "email_mailbox",
    "phone",
    "external_id",
    "street_number",
    "street",
    "city",
    "postcode",
)


# A birth date before this is a typo or a placeholder ("1900-01-01" is common for "unknown").
EARLIEST_BIRTH = dt.date(1900, 1, 2)


def folded(text: str | None) -> str | None:
    """Lower case without accents, inner whitespace collapsed; None for nothing."""
    if not text:
        return None
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = " ".join(plain.split())
    return plain or None


def key_folded(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", folded(key) or "").strip("_")


def name_split(name: str | None) -> tuple[str | None, str | None]:
    """(given name, surname) of a full name: "Smith, John" and "John Smith" alike. One word is
    taken for a surname; middle names are left out (one person writes them, the next does not)."""
    text = folded(name)
    if not text:
        return None, None
    if "," in text:
        surname, _, given = text.partition(",")
        words = given.split()
        return (words[0] if words else None), (surname.strip() or None)
    words = text.split()
    if len(words) == 1:
        return None, words[0]
    return words[0], words[-1]


_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DOTTED = re.compile(r"(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})")
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def birth_date(value: Any, *, today: dt.date | None = None) -> str | None:
    """An ISO date from 1990-05-17, 19900517, 17.05.1990, or 17/05/1990 when the day shows which
    is the day (a 05/06/1990 could be May or June, and a wrong guess is worse than none)."""
    text = str(value).strip()[:10] if value is not None else ""
    year = month = day = None
    if (match := _ISO.fullmatch(text)) or (match := _COMPACT.fullmatch(text)):
        year, month, day = match.groups()
    elif match := _DOTTED.fullmatch(text):
        day, month, year = match.groups()
    elif match := _SLASHED.fullmatch(text):
        first, second, year = match.groups()
        if int(first) > 12 >= int(second):
            day, month = first, second
        elif int(second) > 12 >= int(first):
            month, day = first, second
    if day is None:  # no spelling we read, or a day and month that could be either
        return None
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        return None
    if not EARLIEST_BIRTH <= date <= (today or dt.date.today()):
        return None
    return date.isoformat()


_NUMBER_FIRST = re.compile(r"(\d+[a-z]?)\s+(\D.*)")
_NUMBER_LAST = re.compile(r"(\D.*?)\s+(\d+[a-z]?)")


def street_split(street: str | None, number: str | None) -> tuple[str | None, str | None]:
    """(street, house number), the number taken out of "5 Main Street" or "Hauptstraße 5" when it
    has no column of its own."""
    street, number = folded(street), folded(number)
    if street and not number:
        if match := _NUMBER_FIRST.fullmatch(street):
            number, street = match.groups()
        elif match := _NUMBER_LAST.fullmatch(street):
            street, number = match.groups()
    if street:
        street = street.replace("strasse", "str").replace("str.", "str")
    return street, number


def attribute_fields(attribute_sets: list[Mapping[str, Any]]) -> dict[str, str | None]:
    """The fields of ATTRIBUTE_KEYS found in these attributes, the first set that has one winning."""
    found: dict[str, str | None] = dict.fromkeys(ATTRIBUTE_KEYS)
    for attributes in attribute_sets:
        if not isinstance(attributes, Mapping):
            continue
        by_key = {key_folded(str(key)): value for key, value in attributes.items()}
        for field, keys in ATTRIBUTE_KEYS.items():
            if found[field] is None:
                found[field] = next(
                    (str(by_key[key]) for key in keys if by_key.get(key) not in (None, "")), None
                )
    return found


def comparable(
    *,
    contact_id: int,
    names: list[str],
    attribute_sets: list[Mapping[str, Any]],
    identities: list[tuple[str, str, str]],
) -> dict[str, Any]:
    """One contact's comparable record: `names` and `attribute_sets` in order of precedence (the
    person's own, then each department's view, oldest first), `identities` as (kind, source,
    normalised) in the order they were added: the first of each kind is compared."""
    found = attribute_fields(attribute_sets)
    given, surname = name_split(next((name for name in names if name and name.strip()), None))
    if found["given_name"] or found["surname"]:
        given, surname = folded(found["given_name"]), folded(found["surname"])
    street, number = street_split(found["street"], found["street_number"])
    first = {}
    for kind, source, normalised in identities:
        first.setdefault(kind, f"{source}:{normalised}" if kind == "external" else normalised)
    email = first.get("email")
    postcode = folded(found["postcode"])
    return {
        "contact_id": contact_id,
        "given_name": given,
        "surname": surname,
        "date_of_birth": birth_date(found["date_of_birth"]),
        "email": email,
        "email_mailbox": email.rpartition("@")[0] if email else None,
        "phone": first.get("phone"),
        "external_id": first.get("external"),
        "street_number": number,
        "street": street,
        "city": folded(found["city"]),
        "postcode": postcode.replace(" ", "") if postcode else None,
    }
