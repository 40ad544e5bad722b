"""Writing the contact book: upserting a contact by identity into a department's view."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from contacts.errors import (
    IdentityConflict,
    InvalidContact,
    InvalidIdentity,
)
from contacts.locks import identities_lock, identity_lock_key
from contacts.models import Contact, DepartmentContact, Identity, validate_time_zone
from contacts.normalise import normalise_identity
from cxfeedback.exceptions import Conflict, NotFound
from departments.actors import Actor
from departments.models import Department

# A language tag such as "en", "de-AT" or "zh-Hant-TW" (BCP 47, the common shapes).
LOCALE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


LOCALE_MAX_LENGTH = 16  # Contact.locale


NAME_MAX_LENGTH = 200  # Contact.name


# (kind, source, value as given): source names the system of an external id and is "" otherwise.
IdentityInput = tuple[str, str, str]


@dataclass(frozen=True)
class NormalisedIdentity:
    kind: str
    source: str
    value: str
    normalised: str

    def describe(self) -> str:
        source = f" ({self.source})" if self.source else ""
        return f"{self.kind}{source} {self.value!r}"

    def as_extra(self) -> dict[str, str]:
        return {"kind": self.kind, "source": self.source, "value": self.value}


def contact_upsert(
    *,
    actor: Actor,
    department: Department,
    identities: list[IdentityInput],
    name: str | None = None,
    locale: str | None = None,
    time_zone: str | None = None,
    attributes: dict[str, Any] | None = None,
    source: str = DepartmentContact.Source.API,
) -> tuple[Contact, bool]:
    """Find the contact any identity names, or create one; add missing identities, overwrite the given
    fields, merge attributes, and link `department`. Returns (contact, created).

    Raises NotFound if the actor does not work for `department`, InvalidIdentity or InvalidContact
    (400) for bad input, IdentityConflict (409) if the identities name two different contacts.
    """
    if not actor.sees_department(department.pk):
        raise NotFound(f"Department {department.slug!r} not found.", extra={"department": department.slug})
    wanted = identities_normalise(identities)
    _contact_fields_validate(name=name, locale=locale, time_zone=time_zone, attributes=attributes)
    try:
        with transaction.atomic():
            # The race: two upserts of the same new email both find no contact and both create
            # one. With the identity locks held until commit, the second waits for the first,
            # then finds its contact; the unique constraint on Identity backs this up.
            identities_lock(identity_lock_key(i.kind, i.source, i.normalised) for i in wanted)
            fields = {"name": name, "locale": locale, "time_zone": time_zone, "attributes": attributes}
            contact, created = _contact_find_or_create(wanted, fields=fields)
            if not created:
                _contact_fields_update(contact, **fields)
            _identities_add(contact, wanted)
            DepartmentContact.objects.get_or_create(
                department=department, contact=contact, defaults={"source": source}
            )
    except IntegrityError as error:
        # Only a writer that skipped contacts.locks.identities_lock gets here: the unique
        # constraint on Identity caught it inserting the same identity at the same moment.
        raise Conflict(
            "Another change to the same identity happened at the same moment; please retry.",
            code="identity_busy",
        ) from error
    return contact, created


def identities_normalise(identities: Iterable[IdentityInput]) -> list[NormalisedIdentity]:
    """Normalise (kind, source, value) triples, dropping repeats. Raises InvalidIdentity (400)."""
    result: dict[tuple[str, str, str], NormalisedIdentity] = {}
    for kind, source, value in identities:
        kind, source = str(kind), (source or "").strip()
        if kind == Identity.Kind.EXTERNAL and not source:
            raise InvalidIdentity("external: an external id needs the source system it comes from.")
        if kind != Identity.Kind.EXTERNAL and source:
            raise InvalidIdentity(f"{kind}: only external ids have a source.", extra={"source": source})
        if len(value) > 320 or len(source) > 60:
            raise InvalidIdentity(f"{kind}: the value is too long.", extra={"value": value[:320]})
        try:
            normalised = normalise_identity(kind, value)
        except InvalidIdentity as error:
            raise InvalidIdentity(f"{kind}: {error.message}", extra={**error.extra, "kind": kind}) from error
        identity = NormalisedIdentity(kind=kind, source=source, value=value.strip(), normalised=normalised)
        result.setdefault((kind, source, normalised), identity)
    if not result:
        raise InvalidIdentity("identities: give at least one email, phone or external id.")
    return list(result.values())


def _contact_find_or_create(
    wanted: list[NormalisedIdentity], *, fields: dict[str, Any]
) -> tuple[Contact, bool]:
    """The one contact the identities name (locked for update), or a new one."""
    matches = Identity.objects.filter(
        reduce(or_, (Q(kind=i.kind, source=i.source, normalised=i.normalised) for i in wanted))
    ).values_list("kind", "source", "normalised", "contact_id")
    owners = {(kind, source, normalised): contact_id for kind, source, normalised, contact_id in matches}
    contact_ids = sorted(set(owners.values()))
    if len(contact_ids) > 1:
        raise _identity_conflict(wanted, owners)
    if contact_ids:
        # Locked: an upsert through another of this contact's identities must not overwrite
        # our attribute merge with its own stale copy. After the identities' locks (lock order 2).
        return Contact.objects.select_for_update().get(pk=contact_ids[0]), False
    contact = Contact.objects.create(
        name=fields["name"] or "",
        locale=fields["locale"] or "",
        time_zone=fields["time_zone"] or "",
        attributes=fields["attributes"] or {},
    )
    return contact, True


def _identity_conflict(wanted: list[NormalisedIdentity], owners: dict) -> IdentityConflict:
    """Name the caller's own two identities, and nothing about the contacts they belong to."""
    first = next(i for i in wanted if (i.kind, i.source, i.normalised) in owners)
    first_owner = owners[(first.kind, first.source, first.normalised)]
    other = next(
        i for i in wanted if owners.get((i.kind, i.source, i.normalised), first_owner) != first_owner
    )
    return IdentityConflict(
        f"{first.describe()} and {other.describe()} belong to two different contacts; "
        "send them in separate calls, or ask a CX lead to merge the contacts.",
        extra={"identities": [first.as_extra(), other.as_extra()]},
    )


def _contact_fields_update(
    contact: Contact,
    *,
    name: str | None,
    locale: str | None,
    time_zone: str | None,
    attributes: dict[str, Any] | None,
) -> None:
    """Overwrite the fields that were given (None means "not given"); new attribute keys are added."""
    changed = {
        field: value
        for field, value in (("name", name), ("locale", locale), ("time_zone", time_zone))
        if value is not None and getattr(contact, field) != value
    }
    if attributes and any(
        contact.attributes.get(key, object()) != value for key, value in attributes.items()
    ):
        changed["attributes"] = {**contact.attributes, **attributes}
    if not changed:
        return
    for field, value in changed.items():
        setattr(contact, field, value)
    contact.save(update_fields=[*changed, "updated_at"])


def _identities_add(contact: Contact, wanted: list[NormalisedIdentity]) -> None:
    known = set(contact.identities.values_list("kind", "source", "normalised"))
    Identity.objects.bulk_create(
        Identity(contact=contact, kind=i.kind, source=i.source, value=i.value, normalised=i.normalised)
        for i in wanted
        if (i.kind, i.source, i.normalised) not in known
    )


def _contact_fields_validate(
    *, name: str | None, locale: str | None, time_zone: str | None, attributes: dict[str, Any] | None
) -> None:
    if name and len(name) > NAME_MAX_LENGTH:
        _invalid_contact("name", f"At most {NAME_MAX_LENGTH} characters fit.")
    if locale and (len(locale) > LOCALE_MAX_LENGTH or not LOCALE_PATTERN.match(locale)):
        _invalid_contact("locale", f"{locale!r} is not a language tag (for example en or de-AT).")
    if time_zone:
        try:
            validate_time_zone(time_zone)
        except ValidationError as error:
            _invalid_contact("time_zone", error.messages[0])
    if attributes is not None and not isinstance(attributes, dict):
        _invalid_contact("attributes", "Attributes must be a JSON object.")


def _invalid_contact(field: str, message: str) -> None:
    raise InvalidContact(f"{field}: {message}", extra={"fields": {field: [message]}})
