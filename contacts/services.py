"""Writing the contact book: upserting a contact by identity into a department's view, and a
department's proposal that two of its contacts are one person (a CX lead merges: surveys/merges.py)."""

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
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import audit_record
from contacts.account_services import contact_account_assign
from contacts.errors import (
    IdentityConflict,
    InvalidContact,
    InvalidIdentity,
    InvalidMergeProposal,
)
from contacts.locks import identities_lock, identity_lock_key
from contacts.models import Contact, DepartmentContact, DuplicateSuggestion, Identity, validate_time_zone
from contacts.normalise import normalise_identity, phone_region_check, phone_region_of
from contacts.selectors import contact_get
from contacts.supplies import identities_supply
from cxfeedback.exceptions import Conflict, NotFound
from departments.actors import Actor
from departments.models import Department

# A language tag such as "en", "de-AT" or "zh-Hant-TW" (BCP 47, the common shapes).
LOCALE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


LOCALE_MAX_LENGTH = 16  # DepartmentContact.locale


NAME_MAX_LENGTH = 200  # DepartmentContact.name


NOTES_MAX_LENGTH = 5000  # characters of a department's notes on a person


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
    notes: str | None = None,
    source: str = DepartmentContact.Source.API,
    phone_region: str = "",
    account: str | None = None,
) -> tuple[DepartmentContact, bool]:
    """Write `department`'s view of the person the identities name (national phone numbers read in
    `phone_region`, else the department's): find the person by any identity (or create them), record
    every identity as supplied by the department, and overwrite the view's given fields, merging
    attributes; `account` (an external id) puts the person in that account (account_services).
    Returns (view, created): created means new to the department, whether or not another knows the
    person, so the answer tells nothing of others, and nothing else another department sees changes.
    Raises NotFound if the actor does not work for `department`, InvalidIdentity, InvalidPhoneRegion
    or InvalidContact (400) for bad input, IdentityConflict (409) if the identities name two people."""
    if not actor.sees_department(department.pk):
        raise NotFound(f"Department {department.slug!r} not found.", extra={"department": department.slug})
    wanted = identities_normalise(identities, region=_phone_region(department, phone_region))
    fields = {
        "name": name,
        "locale": locale,
        "time_zone": time_zone,
        "attributes": attributes,
        "notes": notes,
    }
    _contact_fields_validate(**fields)
    try:
        with transaction.atomic():
            # Two upserts of one new email would both create a person: under the identity locks the
            # second waits for the first, then finds its contact (Identity's unique constraint too).
            identities_lock(identity_lock_key(i.kind, i.source, i.normalised) for i in wanted)
            contact = _contact_find_or_create(wanted)
            view, created = _view_write(department, contact, fields, source=source)
            _identities_supply(department, contact, wanted)
            contact_account_assign(department=department, contact=contact, external_id=account)
    except IntegrityError as error:
        # Only a writer that skipped contacts.locks.identities_lock gets here: the unique
        # constraint on Identity caught it inserting the same identity at the same moment.
        raise Conflict(
            "Another change to the same identity happened at the same moment; please retry.",
            code="identity_busy",
        ) from error
    return view, created


def _phone_region(department: Department, given: str) -> str:
    """The region the caller gave, else the department's ("": the company default). Raises
    InvalidPhoneRegion for a region the caller gave that phonenumbers does not know."""
    region = phone_region_check(given, field="phone_region")
    return region or phone_region_of(department.phone_region) or ""


def identities_normalise(
    identities: Iterable[IdentityInput], *, region: str = ""
) -> list[NormalisedIdentity]:
    """Normalise (kind, source, value) triples, dropping repeats; national phone numbers read in
    `region` ("": PHONE_DEFAULT_REGION). Raises InvalidIdentity (400)."""
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
            normalised = normalise_identity(kind, value, region=region or None)
        except InvalidIdentity as error:
            raise InvalidIdentity(f"{kind}: {error.message}", extra={**error.extra, "kind": kind}) from error
        identity = NormalisedIdentity(kind=kind, source=source, value=value.strip(), normalised=normalised)
        result.setdefault((kind, source, normalised), identity)
    if not result:
        raise InvalidIdentity("identities: give at least one email, phone or external id.")
    return list(result.values())


def _contact_find_or_create(wanted: list[NormalisedIdentity]) -> Contact:
    """The one person the identities name (locked for update), or a new one."""
    matches = Identity.objects.filter(
        reduce(or_, (Q(kind=i.kind, source=i.source, normalised=i.normalised) for i in wanted))
    ).values_list("kind", "source", "normalised", "contact_id")
    owners = {(kind, source, normalised): contact_id for kind, source, normalised, contact_id in matches}
    contact_ids = sorted(set(owners.values()))
    if len(contact_ids) > 1:
        raise _identity_conflict(wanted, owners)
    if contact_ids:
        # Locked: an upsert through another of this person's identities must not overwrite our
        # view's attribute merge with its own stale copy. After the identities' locks (lock order 2).
        return Contact.objects.select_for_update().get(pk=contact_ids[0])
    return Contact.objects.create()


def _identity_conflict(wanted: list[NormalisedIdentity], owners: dict) -> IdentityConflict:
    """Name the caller's own two identities, and nothing about the people they belong to."""
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


def _view_write(
    department: Department, contact: Contact, fields: dict[str, Any], *, source: str
) -> tuple[DepartmentContact, bool]:
    """The department's view with the given fields written (None means "not given"); new attribute
    keys are added, given ones overwritten. The person's row is locked, so the view is too."""
    view = DepartmentContact.objects.filter(department=department, contact=contact).first()
    if view is None:
        view = DepartmentContact.objects.create(
            department=department,
            contact=contact,
            source=source,
            **{field: value or _EMPTY[field]() for field, value in fields.items()},
        )
        return view, True
    changed = {
        field: value
        for field, value in fields.items()
        if field != "attributes" and value is not None and getattr(view, field) != value
    }
    attributes = fields["attributes"]
    if attributes and any(view.attributes.get(key, object()) != value for key, value in attributes.items()):
        changed["attributes"] = {**view.attributes, **attributes}
    if changed:
        for field, value in changed.items():
            setattr(view, field, value)
        view.updated_at = timezone.now()
        view.save(update_fields=[*changed, "updated_at"])
    return view, False


# What a field not given starts as in a new view.
_EMPTY = {"name": str, "locale": str, "time_zone": str, "attributes": dict, "notes": str}


def _identities_supply(department: Department, contact: Contact, wanted: list[NormalisedIdentity]) -> None:
    """Add the identities the person lacks, as supplied by the department, and record the ones
    the person has as supplied by it too (contacts/supplies.py)."""
    stored = {
        (kind, source, normalised): pk
        for kind, source, normalised, pk in contact.identities.values_list(
            "kind", "source", "normalised", "pk"
        )
    }
    Identity.objects.bulk_create(
        Identity(
            contact=contact,
            kind=i.kind,
            source=i.source,
            value=i.value,
            normalised=i.normalised,
            department=department,
        )
        for i in wanted
        if (i.kind, i.source, i.normalised) not in stored
    )
    identities_supply(
        department.pk,
        [(stored[key], i.value) for i in wanted if (key := (i.kind, i.source, i.normalised)) in stored],
    )


def _contact_fields_validate(
    *,
    name: str | None,
    locale: str | None,
    time_zone: str | None,
    attributes: dict[str, Any] | None,
    notes: str | None = None,
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
    if notes and len(notes) > NOTES_MAX_LENGTH:
        _invalid_contact("notes", f"At most {NOTES_MAX_LENGTH} characters fit.")


def _invalid_contact(field: str, message: str) -> None:
    raise InvalidContact(f"{field}: {message}", extra={"fields": {field: [message]}})


def contact_merge_propose(
    *, actor: Actor, department: Department, public_ids: list[str], reason: str
) -> DuplicateSuggestion:
    """Propose to a CX lead that two contacts of the actor's department are one person. Writes a
    suggestion (or adds the proposal to the pair's existing one) and an audit entry. Raises
    NotFound for a contact the department does not know (as for one that does not exist),
    InvalidMergeProposal (400) for bad input. Answers only with what the department knows already."""
    if not actor.sees_department(department.pk):
        raise NotFound(f"Department {department.slug!r} not found.", extra={"department": department.slug})
    reason = reason.strip()
    if len(public_ids) != 2 or len({str(public_id) for public_id in public_ids}) != 2:
        raise InvalidMergeProposal("contacts: name two different contacts.", extra={"field": "contacts"})
    if not reason:
        raise InvalidMergeProposal(
            "reason: say why these two contacts are one person.", extra={"field": "reason"}
        )
    # Looked up as the department sees its book, even for a CX lead proposing on its behalf.
    department_only = Actor(
        department_ids=frozenset({department.pk}), user_id=actor.user_id, api_key_id=actor.api_key_id
    )
    first, second = sorted(
        (contact_get(actor=department_only, public_id=public_id) for public_id in public_ids),
        key=lambda contact: contact.pk,
    )
    with transaction.atomic():
        suggestion, created = DuplicateSuggestion.objects.select_for_update().get_or_create(
            first=first,
            second=second,
            defaults={
                "proposed_by_department": department,
                "proposed_by_id": actor.user_id,
                "reason": reason[:2000],
            },
        )
        if not created and suggestion.proposed_by_department_id is None:
            suggestion.proposed_by_department, suggestion.proposed_by_id = department, actor.user_id
            suggestion.reason = reason[:2000]
            suggestion.save(update_fields=["proposed_by_department", "proposed_by", "reason"])
        audit_record(
            action=AuditEntry.Action.MERGE_PROPOSED,
            obj=suggestion,
            actor=actor,
            summary=f"department {department.pk} proposed merging contacts {first.pk} and {second.pk}",
            details={"department": department.pk, "contacts": [first.pk, second.pk]},
        )
    return suggestion
