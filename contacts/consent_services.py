"""Recording consent: an opt-out, opt-in or snooze appended for a person, scoped to who may say it.

A department (its owner or API key) speaks for itself only: its records name its department and
come from its own sources (api, admin, import). What the customer said for every department (their
unsubscribe link, the preference centre), and what the providers report (bounces, complaints, SMS
STOP), arrive through surveys/public/, which writes those records itself; here only a CX lead may
record them, or anything else for every department."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import audit_record
from contacts.errors import ConsentScopeForbidden, InvalidConsent
from contacts.models import Channel, Consent, Contact
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department

# The sources a department records consent from; the others are the customer's and the providers' word.
DEPARTMENT_SOURCES = frozenset({Consent.Source.API, Consent.Source.ADMIN, Consent.Source.IMPORT})


def consent_record(
    *,
    actor: Actor,
    contact: Contact,
    kind: str,
    department: Department | None = None,
    channel: str = "",
    until: dt.datetime | None = None,
    source: str,
    note: str = "",
    now: dt.datetime | None = None,
) -> Consent:
    """Append a consent record for `contact` (the caller found it through contact_get).

    `channel` "" means every channel. `department` None means every department for a CX lead; for
    anyone else it means their own department (an API key's, or a user's only one). Raises
    InvalidConsent (400) for bad input (a snooze without a future end, an end on anything else, no
    department named by a user of several), NotFound for a department the actor does not work for,
    ConsentScopeForbidden (403) for a customer's or provider's source from anyone but a CX lead.
    """
    now = now or timezone.now()
    _consent_validate(kind=kind, channel=channel, until=until, source=source, now=now)
    if department is not None and not actor.sees_department(department.pk):
        raise NotFound(f"Department {department.slug!r} not found.", extra={"department": department.slug})
    if not actor.is_cx_lead:
        _department_source_check(source)
        if department is None:
            # Not every department: that would speak for departments this actor does not work for
            # (an opt-in would even undo their opt-outs). Its own department instead.
            department = _own_department(actor)
    with transaction.atomic():
        consent = Consent.objects.create(
            contact=contact,
            department=department,
            channel=channel,
            kind=kind,
            until=until,
            source=source,
            note=note,
            recorded_by=actor.label(),
            created_at=now,
        )
        audit_record(
            action=AuditEntry.Action.CONSENT_RECORDED, obj=contact, actor=actor, **consent_audit(consent)
        )
    return consent


def consent_audit(consent: Consent) -> dict[str, Any]:
    """The audit entry's summary and details of a consent record: its scope, never its note."""
    scope = f"department {consent.department_id}" if consent.department_id else "every department"
    channel = consent.channel or "every channel"
    return {
        "summary": f"{consent.kind} ({consent.source}) for {scope} on {channel}",
        "details": {
            "consent": consent.pk,
            "kind": consent.kind,
            "source": consent.source,
            "department": consent.department_id,
            "channel": consent.channel,
            "until": consent.until.isoformat() if consent.until else None,
        },
    }


def _department_source_check(source: str) -> None:
    """Refuse a department's actor a source that is the customer's or a provider's word."""
    if source in DEPARTMENT_SOURCES:
        return
    message = (
        f"{source!r} speaks for every department: only the customer's own links, the providers' "
        f"webhooks and CX leads record it. A department records {', '.join(sorted(DEPARTMENT_SOURCES))}."
    )
    raise ConsentScopeForbidden(f"source: {message}", extra={"fields": {"source": [message]}})


def _own_department(actor: Actor) -> Department:
    """The department a department's actor speaks for when it names none: an API key's, or the only
    one a user works for."""
    if len(actor.department_ids) != 1:
        _invalid_consent(
            "department",
            "Name one of your departments (its slug): only a CX lead records consent for every department.",
        )
    (department_id,) = actor.department_ids
    return Department.objects.get(pk=department_id)


def _consent_validate(*, kind: str, channel: str, until: dt.datetime | None, source: str, now: dt.datetime):
    if kind not in Consent.Kind.values:
        _invalid_consent("kind", f"{kind!r} is not one of {', '.join(Consent.Kind.values)}.")
    if source not in Consent.Source.values:
        _invalid_consent("source", f"{source!r} is not one of {', '.join(Consent.Source.values)}.")
    if channel and channel not in Channel.values:
        _invalid_consent("channel", f"{channel!r} is not one of {', '.join(Channel.values)}.")
    if kind == Consent.Kind.SNOOZE and until is None:
        _invalid_consent("until", "A snooze needs the time it ends.")
    if kind == Consent.Kind.SNOOZE and until <= now:
        _invalid_consent("until", "A snooze must end in the future.")
    if kind != Consent.Kind.SNOOZE and until is not None:
        _invalid_consent("until", "Only a snooze has an end; an opt-out lasts until an opt-in.")


def _invalid_consent(field: str, message: str) -> None:
    raise InvalidConsent(f"{field}: {message}", extra={"fields": {field: [message]}})
