"""Recording consent: an opt-out, opt-in or snooze appended for a person, scoped to who may say it."""

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

    `department` None means every department, `channel` "" every channel. Raises InvalidConsent (400)
    for a snooze without a future end or an end on anything else, NotFound for a department the
    actor does not work for, ConsentScopeForbidden (403) for an opt-in for every department by anyone
    but a CX lead: it would undo opt-outs other departments recorded.
    """
    now = now or timezone.now()
    _consent_validate(kind=kind, channel=channel, until=until, source=source, now=now)
    if department is not None and not actor.sees_department(department.pk):
        raise NotFound(f"Department {department.slug!r} not found.", extra={"department": department.slug})
    if kind == Consent.Kind.OPT_IN and department is None and not actor.is_cx_lead:
        raise ConsentScopeForbidden(
            "department: an opt-in for every department can be recorded only by a CX lead; "
            "name your department to record an opt-in for it.",
        )
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
