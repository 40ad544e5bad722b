"""Identity normalisation (PRODUCT.md §3): two identities that normalise alike are the same person.

- Emails: the domain in IDNA (ASCII) form, everything case-folded; sub-address tags (`+promo`) and
  dots are removed only for providers known to ignore them.
- Phones: E.164 through `phonenumbers`, national numbers read in settings.PHONE_DEFAULT_REGION.
  A number with an extension is rejected: E.164 has no place for one, and dropping it would make
  everyone behind one switchboard "the same person".
- External ids: surrounding whitespace removed, otherwise kept as the source system wrote them.

Every function raises InvalidIdentity with a message fit to show next to the input. The CSV import
calls these once per row (100,000 rows at ≥ 10,000 rows/s), so the hot path does no setup: the
provider sets are built once, and the error-message work happens only when the input is bad.
"""

from __future__ import annotations

import functools

import phonenumbers
from django.conf import settings
from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_local_part

from contacts.errors import InvalidIdentity
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
    local_part = local_part.casefold()
    if domain in TAG_IGNORING_DOMAINS:
        local_part = local_part.split("+", 1)[0]
        if domain in DOT_IGNORING_DOMAINS:
            local_part = local_part.replace(".", "")
        if not local_part:
            raise InvalidIdentity(f"{address!r} has no mailbox name before the '+'.", extra={"value": raw})
    return f"{local_part}@{DOMAIN_ALIASES.get(domain, domain)}"


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


def normalise_phone(raw: str, *, region: str | None = None) -> str:
    """The E.164 form of a phone number (national numbers read in `region`); raises InvalidIdentity."""
    text = raw.strip()
    if not text:
        raise InvalidIdentity("The phone number is empty.", extra={"value": raw})
    region = (region or settings.PHONE_DEFAULT_REGION).upper()
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentity(_phone_parse_message(text, region, error), extra={"value": raw}) from error
    if number.extension:
        raise InvalidIdentity(
            f"{text!r} has an extension ({number.extension}); give the person's direct number.",
            extra={"value": raw},
        )
    if not phonenumbers.is_valid_number(number):
        country = phonenumbers.region_code_for_country_code(number.country_code)
        raise InvalidIdentity(
            f"{text!r} is not a valid phone number in {country} (+{number.country_code}).",
            extra={"value": raw},
        )
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
