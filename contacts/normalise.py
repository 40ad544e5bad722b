"""Identity normalisation (PRODUCT.md §3): two identities that normalise alike are the same person.

- Emails: the domain in IDNA (ASCII) form, everything case-folded; sub-address tags (`+promo`) and
  dots are removed only for providers known to ignore them.
- Phones: E.164 through `phonenumbers`, national numbers read in settings.PHONE_DEFAULT_REGION.
- External ids: surrounding whitespace removed, otherwise kept as the source system wrote them.

Every function raises InvalidIdentity with a message fit to show next to the input.
"""

from cxfeedback.exceptions import ApplicationError


class InvalidIdentity(ApplicationError):
    code = "invalid_identity"


def normalise_email(raw: str) -> str:
    raise NotImplementedError


def normalise_phone(raw: str, *, region: str | None = None) -> str:
    raise NotImplementedError


def normalise_external_id(raw: str) -> str:
    raise NotImplementedError
