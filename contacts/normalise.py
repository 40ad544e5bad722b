"""Identity normalisation (PRODUCT.md §3): two identities that normalise alike are the same person.

- Emails: Unicode composed (NFC), the domain in IDNA (ASCII) form, the mailbox lower-cased; sub-address
  tags (`+promo`) and dots are removed only for providers known to ignore them. ß is not ss: IDNA 2008
  (UTS #46 non-transitional) keeps them apart in domains, and so do we in mailboxes (README,
  "Identities: what is folded").
- Phones: E.164 through `phonenumbers`, national numbers read in the region the caller names (the
  import's, the department's or the row's) or settings.PHONE_DEFAULT_REGION. A number with an
  extension is rejected: E.164 has no place for one, and dropping it would make everyone behind one
  switchboard "the same person". Bare digits that only make sense with a "+" in front (a spreadsheet
  dropped it) are read as the international number they are; digits that make sense both ways are
  refused rather than guessed.
- External ids: surrounding whitespace removed, otherwise kept as the source system wrote them.

Every function raises InvalidIdentity with a message fit to show next to the input. The CSV import
calls these once per row (100,000 rows at ≥ 10,000 rows/s), so the hot path does no setup: the
provider sets are built once, domains are checked once, and the error-message work (and a phone's
second reading) happens only when the input is bad or odd.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import NamedTuple

import phonenumbers
from django.conf import settings
from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_local_part

from contacts.errors import InvalidIdentity, InvalidPhoneRegion
from contacts.models import Identity

# Providers that deliver `name+anything@` to `name@`, so the tag never names a different person.
# Sources: Gmail — support.google.com/mail/answer/22370 ("+" aliases) and /answer/7436150 (dots);
# Outlook.com/Hotmail/Live/MSN — Microsoft's plus addressing for consumer Outlook.com mailboxes;
# iCloud (icloud.com, me.com, mac.com) — support.apple.com "plus addressing" for iCloud Mail;
# Fastmail — fastmail.help "plus addressing"; Proton — proton.me/support/addresses-and-aliases.
# Yahoo is deliberately absent: it uses "-" for disposable addresses that are separate mailboxes
# the user can delete, and "+" is not a tag there.
TAG_IGNORING_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "protonmail.com",
        "proton.me",
        "pm.me",
    }
)


# Only Gmail ignores dots in the mailbox name (support.google.com/mail/answer/7436150).
DOT_IGNORING_DOMAINS: frozenset[str] = frozenset({"gmail.com", "googlemail.com"})


# googlemail.com is the same mailbox as gmail.com (Google's name for Gmail in DE and UK until 2012).
DOMAIN_ALIASES: dict[str, str] = {"googlemail.com": "gmail.com"}


# RFC 5321's limit on a whole address (a forward path of 256 octets less the angle brackets).
MAX_EMAIL_LENGTH = 254


# Identity.value and Identity.normalised hold at most 320 characters.
MAX_EXTERNAL_ID_LENGTH = 320


def normalise_email(raw: str) -> str:
    """The comparable form of an email address; raises InvalidIdentity if it is not one."""
    address = raw.strip()
    if not address.isascii():
        # "é" typed as e + U+0301 is the same address as "é": RFC 6532 §3.1 asks for NFC.
        address = unicodedata.normalize("NFC", address)
    _check_email_shape(address)
    mailbox, _, domain = address.rpartition("@")
    try:
        # The common case, fast: the domain checked once per import (cached), the mailbox here.
        domain = _ascii_domain(domain)
        local_part = validate_email_local_part(mailbox)["local_part"]
        if len(address) > MAX_EMAIL_LENGTH:
            raise EmailNotValidError("too long")
    except EmailNotValidError:
        # The whole validator, for its clearest message (or, should it accept, its verdict).
        try:
            validated = validate_email(address, check_deliverability=False)
        except EmailNotValidError as error:
            raise InvalidIdentity(
                f"{address!r} is not a valid email address: {error}", extra={"value": raw}
            ) from error
        domain, local_part = validated.ascii_domain.lower(), validated.local_part
    local_part = _mailbox_lowered(local_part)
    if domain in TAG_IGNORING_DOMAINS:
        local_part = local_part.split("+", 1)[0]
        if domain in DOT_IGNORING_DOMAINS:
            local_part = local_part.replace(".", "")
        if not local_part:
            raise InvalidIdentity(f"{address!r} has no mailbox name before the '+'.", extra={"value": raw})
    return f"{local_part}@{DOMAIN_ALIASES.get(domain, domain)}"


def _mailbox_lowered(local_part: str) -> str:
    """The mailbox name lower-cased, and nothing more: not casefold(), which turns ß into ss and
    would make weiß@ and weiss@ (two mailboxes, as IDNA 2008 keeps straße.de and strasse.de two
    domains) one person. Re-composed after lower-casing, which can decompose (İ → i + U+0307)."""
    if local_part.isascii():
        return local_part.lower()
    return unicodedata.normalize("NFC", local_part.lower())


@functools.lru_cache(maxsize=8192)
def _ascii_domain(domain: str) -> str:
    """The domain's IDNA (ASCII) form, lower-cased; raises EmailNotValidError.

    Cached: checking a domain is most of the cost of checking an address, and an import of a
    100,000 customers sees the same few hundred domains again and again.
    """
    return validate_email(f"postmaster@{domain}", check_deliverability=False).ascii_domain.lower()


def _check_email_shape(address: str) -> None:
    """The three commonest mistakes, in plainer words than the validator's."""
    if not address:
        raise InvalidIdentity("The email address is empty.", extra={"value": address})
    if "@" not in address:
        raise InvalidIdentity(f"{address!r} has no '@'.", extra={"value": address})
    if address.endswith("@"):
        raise InvalidIdentity(f"{address!r} has no domain.", extra={"value": address})
    if address.startswith("@"):
        raise InvalidIdentity(f"{address!r} has no name before the '@'.", extra={"value": address})


class PhoneReading(NamedTuple):
    """How a phone cell was read: its E.164 form, and what a person should check about the reading."""

    e164: str
    # The number named no country (no "+", no international prefix): the region decided which it is.
    in_region: bool
    # Bare digits read as "+" + digits: they are no number of the region, and one of another country.
    plus_restored: bool = False


# ISO 3166 reserves UK for the United Kingdom, whose code is GB; files write UK all the same.
REGION_ALIASES = {"UK": "GB"}


def phone_region_of(value: str) -> str | None:
    """The region code `value` names ("us", " UK " → "US", "GB"), or None if phonenumbers knows none."""
    code = value.strip().upper()
    code = REGION_ALIASES.get(code, code)
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def phone_region_check(value: str, *, field: str) -> str:
    """`value` as a phone region ("" stays "": fall back); raises InvalidPhoneRegion naming `field`."""
    if not value.strip():
        return ""
    region = phone_region_of(value)
    if region is None:
        message = (
            f"{field}: {value.strip()!r} is not a country phone numbers can be read in; "
            "give its two-letter ISO 3166 code, such as DE, US or GB."
        )
        raise InvalidPhoneRegion(message, extra={"fields": {field: [message]}})
    return region


# Where phonenumbers found the country code (parse with keep_raw_input).
_FROM_REGION = phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY
_FROM_CODE_WITHOUT_PLUS = phonenumbers.CountryCodeSource.FROM_NUMBER_WITHOUT_PLUS_SIGN


def normalise_phone(raw: str, *, region: str | None = None) -> str:
    """The E.164 form of a phone number (national numbers read in `region`); raises InvalidIdentity."""
    return phone_read(raw, region=region).e164


def phone_read(raw: str, *, region: str | None = None) -> PhoneReading:
    """A phone number read (national numbers in `region`, else PHONE_DEFAULT_REGION), with how it
    was read; raises InvalidIdentity."""
    text = raw.strip()
    if not text:
        raise InvalidIdentity("The phone number is empty.", extra={"value": raw})
    region = (region or settings.PHONE_DEFAULT_REGION).upper()
    try:
        # keep_raw_input: only then does phonenumbers say whether the text named a country.
        number = phonenumbers.parse(text, region, keep_raw_input=True)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentity(_phone_parse_message(text, region, error), extra={"value": raw}) from error
    if number.extension:
        raise InvalidIdentity(
            f"{text!r} has an extension ({number.extension}); give the person's direct number.",
            extra={"value": raw},
        )
    source = number.country_code_source
    if source == _FROM_REGION and text.isdigit() and text[0] != "0":
        return _bare_digits_read(raw, text, number, region)
    _check_valid(raw, text, number)
    # Without a "+", the region's own country code at the front is read as one: still the region's call.
    return PhoneReading(_e164(number), in_region=source in (_FROM_REGION, _FROM_CODE_WITHOUT_PLUS))


def _bare_digits_read(raw: str, text: str, number: phonenumbers.PhoneNumber, region: str) -> PhoneReading:
    """Digits only, no leading 0: a national number of the region, or an international one whose
    "+" a spreadsheet dropped (it drops a leading 0 just as readily: 447400123457 is +44 7400 123457
    or 04474 00123457 in Germany). Read the one way that makes sense; refuse to guess between two."""
    national_valid = phonenumbers.is_valid_number(number)
    if national_valid and _national_digits(number) == text:
        # Written as the region writes the number (US: no prefix; China: mobiles without the 0).
        return PhoneReading(_e164(number), in_region=True)
    try:
        international = phonenumbers.parse("+" + text, None)
    except phonenumbers.NumberParseException:
        international = None
    if international is None or not phonenumbers.is_valid_number(international):
        _check_valid(raw, text, number)
        return PhoneReading(_e164(number), in_region=True)
    if _e164(international) == _e164(number):
        return PhoneReading(_e164(number), in_region=True)
    if not national_valid:
        return PhoneReading(_e164(international), in_region=False, plus_restored=True)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    prefix = (metadata.national_prefix if metadata else None) or "0"
    raise InvalidIdentity(
        f"{text!r} reads two ways: {_e164(international)} if a '+' was lost, or {_e164(number)} "
        f"({region}) if the leading {prefix!r} was; write it with its '+' or its leading {prefix!r}.",
        extra={"value": raw},
    )


def _national_digits(number: phonenumbers.PhoneNumber) -> str:
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(c for c in national if c.isdigit())


def _check_valid(raw: str, text: str, number: phonenumbers.PhoneNumber) -> None:
    if not phonenumbers.is_valid_number(number):
        country = phonenumbers.region_code_for_country_code(number.country_code)
        raise InvalidIdentity(
            f"{text!r} is not a valid phone number in {country} (+{number.country_code}).",
            extra={"value": raw},
        )


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_parse_message(text: str, region: str, error: phonenumbers.NumberParseException) -> str:
    kind = phonenumbers.NumberParseException
    if error.error_type == kind.INVALID_COUNTRY_CODE:
        if text.lstrip().startswith(("+", "00")):
            return f"{text!r} starts with an unknown country code."
        return f"{text!r} has no country code and {region!r} is not a known region; write it as +<country>…"
    if error.error_type in (kind.TOO_SHORT_NSN, kind.TOO_SHORT_AFTER_IDD):
        return f"{text!r} is too short to be a phone number."
    if error.error_type == kind.TOO_LONG:
        return f"{text!r} is too long to be a phone number."
    return f"{text!r} is not a phone number."


def normalise_external_id(raw: str) -> str:
    """A source system's id without surrounding whitespace; raises InvalidIdentity if empty or too long."""
    external_id = raw.strip()
    if not external_id:
        raise InvalidIdentity("The external id is empty.", extra={"value": raw})
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise InvalidIdentity(
            f"The external id is {len(external_id)} characters long; at most {MAX_EXTERNAL_ID_LENGTH} fit.",
            extra={"value": raw},
        )
    return external_id


def normalise_identity(kind: str, raw: str, *, region: str | None = None) -> str:
    """`raw` normalised as an identity of `kind` (an Identity.Kind value); raises InvalidIdentity."""
    if kind == Identity.Kind.EMAIL:
        return normalise_email(raw)
    if kind == Identity.Kind.PHONE:
        return normalise_phone(raw, region=region)
    if kind == Identity.Kind.EXTERNAL:
        return normalise_external_id(raw)
    raise InvalidIdentity(
        f"{kind!r} is not an identity kind; use one of {', '.join(Identity.Kind.values)}.",
        extra={"kind": kind},
    )
