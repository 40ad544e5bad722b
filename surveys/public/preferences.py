"""What a customer says about being surveyed, from a personal link or through a provider, written as
consent records (contacts.models.Consent) that the gatekeeper reads at its next decision.

The customer speaks for themselves, so these write Consent directly rather than through
contacts.consent_services.consent_record, whose actor scoping is for departments and CX leads.

Choices made here (PRODUCT.md §5):
- The one-click unsubscribe (RFC 8058) opts the contact out of every survey on every channel.
- A snooze pauses every department's surveys for 30, 90 or 180 days. A pause is never shortened
  (the longest one in force wins, contacts/consent.py), so a shorter one than that is not written.
- A department opt-out names the invitation's department, on every channel.
- "Prefer email" (or SMS) is an opt-out of the other channel for every department, so the
  gatekeeper honours it with no new field; choosing again lifts the customer's own earlier choice
  (an opt-in on the channel they now prefer), never an opt-out from a bounce or a complaint.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import audit_record
from contacts.consent import consent_decide
from contacts.consent_selectors import consent_status
from contacts.consent_services import consent_audit
from contacts.errors import InvalidIdentity
from contacts.models import Channel, Consent, Contact, Identity
from contacts.normalise import normalise_identity
from surveys.errors import InvalidPreference
from surveys.models import Invitation

SNOOZE_DAYS = (30, 90, 180)


CUSTOMER = "customer"


def _consent_add(
    *,
    contact_id: int,
    kind: str,
    source: str,
    recorded_by: str,
    now: dt.datetime,
    department_id: int | None = None,
    channel: str = "",
    until: dt.datetime | None = None,
    note: str = "",
) -> Consent:
    with transaction.atomic():
        consent = Consent.objects.create(
            contact_id=contact_id,
            department_id=department_id,
            channel=channel,
            kind=kind,
            until=until,
            source=source,
            note=note,
            recorded_by=recorded_by[:100],
            created_at=now,
        )
        audit_record(
            action=AuditEntry.Action.CONSENT_RECORDED,
            obj=Contact(pk=contact_id),  # by id: the row itself is not needed
            actor_label=recorded_by[:100],
            **consent_audit(consent),
        )
    return consent


def _opt_out_once(*, contact_id: int, channel: str, now: dt.datetime, **fields) -> Consent | None:
    """An opt-out for every department on `channel` ("" every channel), unless one is in force
    already: a repeated click or webhook adds no second record."""
    if (
        consent_status(contact_id=contact_id, department_id=None, channel=channel, at=now).reason
        == "opted_out"
    ):
        return None
    return _consent_add(contact_id=contact_id, kind=Consent.Kind.OPT_OUT, channel=channel, now=now, **fields)


def _by_customer(invitation: Invitation) -> str:
    return f"{CUSTOMER} (invitation #{invitation.pk})"


def consent_unsubscribe(*, invitation: Invitation, now: dt.datetime | None = None) -> Consent | None:
    """The one-click unsubscribe: opt the contact out of every survey on every channel. Returns the
    record written, or None if they had unsubscribed already."""
    return _opt_out_once(
        contact_id=invitation.contact_id,
        channel="",
        source=Consent.Source.UNSUBSCRIBE_LINK,
        recorded_by=_by_customer(invitation),
        now=now or timezone.now(),
    )


def consent_snooze(*, invitation: Invitation, days: int, now: dt.datetime | None = None) -> Consent | None:
    """Pause every department's surveys for `days` (30, 90 or 180). Returns None, writing nothing,
    when a pause at least that long is in force already. Raises InvalidPreference."""
    if days not in SNOOZE_DAYS:
        raise InvalidPreference(f"days: choose one of {', '.join(map(str, SNOOZE_DAYS))}.")
    now = now or timezone.now()
    until = now + dt.timedelta(days=days)
    current = consent_status(contact_id=invitation.contact_id, department_id=None, channel="", at=now)
    if current.reason == "snoozed" and current.until >= until:
        return None
    return _consent_add(
        contact_id=invitation.contact_id,
        kind=Consent.Kind.SNOOZE,
        until=until,
        source=Consent.Source.PREFERENCE_CENTRE,
        recorded_by=_by_customer(invitation),
        now=now,
    )


def consent_opt_out(
    *, invitation: Invitation, everyone: bool, now: dt.datetime | None = None
) -> Consent | None:
    """Opt out of the invitation's department's surveys, or (`everyone`) of all, on every channel.
    Returns None if such an opt-out is in force already."""
    now = now or timezone.now()
    department_id = None if everyone else invitation.department_id
    if consent_status(
        contact_id=invitation.contact_id, department_id=department_id, channel="", at=now
    ).reason == ("opted_out"):
        return None
    return _consent_add(
        contact_id=invitation.contact_id,
        kind=Consent.Kind.OPT_OUT,
        department_id=department_id,
        source=Consent.Source.PREFERENCE_CENTRE,
        recorded_by=_by_customer(invitation),
        now=now,
    )


def consent_prefer_channel(*, invitation: Invitation, channel: str, now: dt.datetime | None = None) -> None:
    """Survey the contact only on `channel`: opt out of the other one, and lift an earlier opt-out of
    `channel` if the customer set it here themselves. Raises InvalidPreference."""
    if channel not in Channel.values:
        raise InvalidPreference(f"channel: choose one of {', '.join(Channel.values)}.")
    now = now or timezone.now()
    by = _by_customer(invitation)
    source = Consent.Source.PREFERENCE_CENTRE
    for other in Channel.values:
        if other != channel:
            _opt_out_once(
                contact_id=invitation.contact_id, channel=other, source=source, recorded_by=by, now=now
            )
    latest = (
        Consent.objects.filter(contact_id=invitation.contact_id, department__isnull=True, channel=channel)
        .order_by("-created_at", "-pk")
        .first()
    )
    if latest and latest.kind == Consent.Kind.OPT_OUT and latest.source == source:
        _consent_add(
            contact_id=invitation.contact_id, kind=Consent.Kind.OPT_IN, channel=channel, source=source,
            recorded_by=by, now=now,
        )  # fmt: skip


def consent_from_email_event(
    *, email: str, event_type: str, provider: str, now: dt.datetime | None = None
) -> Consent | None:
    """A bounce or rejection opts the address's contact out of email; a spam complaint out of every
    channel; a provider-side unsubscribe out of email. Returns None for an address no contact has,
    an event that says nothing about consent, or a contact opted out already."""
    scopes = {
        "bounced": ("email", Consent.Source.BOUNCE),
        "rejected": ("email", Consent.Source.BOUNCE),
        "complained": ("", Consent.Source.COMPLAINT),
        "unsubscribed": ("email", Consent.Source.UNSUBSCRIBE_LINK),
    }
    if event_type not in scopes:
        return None
    contact_id = _contact_with(Identity.Kind.EMAIL, email)
    if contact_id is None:
        return None
    channel, source = scopes[event_type]
    return _opt_out_once(
        contact_id=contact_id,
        channel=channel,
        source=source,
        recorded_by=f"email provider ({provider})",
        note=event_type,
        now=now or timezone.now(),
    )


def consent_from_sms_stop(
    *, phone: str, provider: str = "", now: dt.datetime | None = None
) -> Consent | None:
    """An inbound STOP: opt the phone's contact out of SMS. None for an unknown phone or a contact
    opted out already."""
    contact_id = _contact_with(Identity.Kind.PHONE, phone)
    if contact_id is None:
        return None
    return _opt_out_once(
        contact_id=contact_id,
        channel=Channel.SMS,
        source=Consent.Source.SMS_STOP,
        recorded_by=_sms_provider(provider),
        now=now or timezone.now(),
    )


def consent_from_sms_start(
    *, phone: str, provider: str = "", now: dt.datetime | None = None
) -> Consent | None:
    """An inbound START (or UNSTOP): lift the phone's contact's SMS STOP with an opt-in on SMS, as
    the carriers do. Only when an SMS STOP is all that keeps SMS surveys from them: an opt-in
    outweighs every earlier opt-out that applies (contacts/consent.py), so one given any other way
    (a link, the preference centre, a complaint, a department's record) must not be lifted by a
    text message. None for an unknown phone or when nothing was lifted."""
    contact_id = _contact_with(Identity.Kind.PHONE, phone)
    if contact_id is None:
        return None
    now = now or timezone.now()
    records = list(Consent.objects.filter(contact_id=contact_id))
    if consent_decide(records, department_id=None, channel=Channel.SMS, at=now).reason != "opted_out":
        return None
    others = [record for record in records if record.source != Consent.Source.SMS_STOP]
    departments = {None} | {record.department_id for record in records}
    if not all(
        consent_decide(others, department_id=department_id, channel=Channel.SMS, at=now).allowed
        for department_id in departments
    ):
        return None
    # The STOP's own source, so "choosing again" reads as the reply to it; a new Source choice
    # would need a contacts migration. The note says which word it was.
    return _consent_add(
        contact_id=contact_id,
        kind=Consent.Kind.OPT_IN,
        channel=Channel.SMS,
        source=Consent.Source.SMS_STOP,
        recorded_by=_sms_provider(provider),
        note="START",
        now=now,
    )


def _sms_provider(provider: str) -> str:
    return f"sms provider ({provider})" if provider else "sms provider"


def _contact_with(kind: str, value: str) -> int | None:
    try:
        normalised = normalise_identity(kind, value or "")
    except InvalidIdentity:
        return None
    return (
        Identity.objects.filter(kind=kind, source="", normalised=normalised)
        .values_list("contact_id", flat=True)
        .first()
    )
