"""What one message needs at the moment it is sent: the contact's address on the channel, consent
re-checked in bulk, the end of the contact's quiet hours, and the Outgoing a channel sends. Shared
by invitations (sending.py) and reminders (reminders.py)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings

from contacts.consent import ConsentVerdict, consent_decide
from contacts.models import CHANNEL_IDENTITY_KIND, Consent, Identity
from surveys.delivery.channels import Outgoing
from surveys.delivery.channels.content import zone_of
from surveys.delivery.quiet_hours import parse_clock, quiet_hours_end
from surveys.models import Invitation


def quiet_until(invitation: Invitation, *, now: dt.datetime) -> dt.datetime | None:
    return quiet_hours_end(
        now,
        time_zone=zone_of(invitation.contact.time_zone),
        start=parse_clock(settings.QUIET_HOURS_START),
        end=parse_clock(settings.QUIET_HOURS_END),
    )


def outgoing_message(
    invitation: Invitation, *, address: str, token: str, kind: str, now: dt.datetime
) -> Outgoing:
    contact, survey = invitation.contact, invitation.survey
    return Outgoing(
        invitation_id=invitation.pk,
        kind=kind,
        channel=invitation.channel,
        address=address,
        name=contact.name,
        locale=contact.locale,
        time_zone=contact.time_zone,
        token=token,
        survey_name=survey.name,
        survey_intro=survey.intro,
        department_name=invitation.department.name,
        expires_at=invitation.expires_at or now + dt.timedelta(days=survey.link_valid_days),
    )


def addresses_of(contact_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """(contact, identity kind) → the address to send to: the one given most recently. Emails as
    given (normalised ones drop tags the person may rely on), phones in E.164."""
    rows = (
        Identity.objects.filter(
            contact_id__in=set(contact_ids), kind__in=list(CHANNEL_IDENTITY_KIND.values())
        )
        .order_by("contact_id", "kind", "-pk")
        .values_list("contact_id", "kind", "value", "normalised")
    )
    addresses: dict[tuple[int, str], str] = {}
    for contact_id, kind, value, normalised in rows:
        addresses.setdefault((contact_id, kind), normalised if kind == Identity.Kind.PHONE else value.strip())
    return addresses


def consent_verdicts(invitations: list[Invitation], *, now: dt.datetime) -> dict[int, ConsentVerdict]:
    """Each invitation's consent verdict at `now`: what contacts.consent_selectors.consent_status
    answers for one contact, for the whole batch in one query (the same consent_decide)."""
    records = defaultdict(list)
    rows = (
        Consent.objects.filter(contact_id__in={i.contact_id for i in invitations}, created_at__lte=now)
        .order_by("created_at", "pk")
        .values_list("contact_id", "department_id", "channel", "kind", "until", "created_at", named=True)
    )
    for row in rows:
        records[row.contact_id].append(row)
    return {
        i.pk: consent_decide(records[i.contact_id], department_id=i.department_id, channel=i.channel, at=now)
        for i in invitations
    }
