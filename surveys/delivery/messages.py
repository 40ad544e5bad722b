"""What one message needs at the moment it is sent: the person as the invitation's department knows
them (the address it may send to on the channel, the name, language and time zone to write in),
consent re-checked in bulk, the end of the person's quiet hours, and the Outgoing a channel sends.
Shared by invitations (sending.py) and reminders (reminders.py)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings

from contacts.consent import ConsentVerdict, consent_decide
from contacts.models import CHANNEL_IDENTITY_KIND, Consent, DepartmentContact, DepartmentIdentity, Identity
from departments.models import CompanySettings
from surveys.delivery.channels import Outgoing
from surveys.delivery.channels.content import zone_of
from surveys.delivery.quiet_hours import parse_clock, quiet_hours_end
from surveys.design.translations import survey_texts
from surveys.models import Invitation


@dataclass(frozen=True)
class Recipient:
    """An invitation's person as its department knows them: the address on the invitation's
    channel the department may send to (None: it has none), and the name, locale and time zone of
    its view of the person, each falling back to the person's own when the view leaves it empty.
    Another department's view never shows: its import cannot rename the person in this message.
    `company_name` is the sender's company (CompanySettings), read once for the batch."""

    address: str | None
    name: str
    locale: str
    time_zone: str
    company_name: str = ""


def recipients_of(invitations: Sequence[Invitation]) -> dict[int, Recipient]:
    """Each invitation's recipient, by invitation id, for the whole batch in four queries (the
    company settings, identities, who supplied them, the department views). The invitations come
    with their contact (select_related), whose own fields are the fallback."""
    if not invitations:
        return {}
    pairs = {(i.contact_id, i.department_id) for i in invitations}
    company = CompanySettings.current()
    addresses = addresses_of(pairs, company=company)
    views = views_of(pairs)
    recipients = {}
    for invitation in invitations:
        key = (invitation.contact_id, invitation.department_id)
        own, view = invitation.contact, views.get(key, NO_VIEW)
        recipients[invitation.pk] = Recipient(
            address=addresses.get((*key, CHANNEL_IDENTITY_KIND[invitation.channel])),
            name=view.name or own.name,
            locale=view.locale or own.locale,
            time_zone=view.time_zone or own.time_zone,
            company_name=company.company_name,
        )
    return recipients


class ViewFields(NamedTuple):
    name: str
    locale: str
    time_zone: str


NO_VIEW = ViewFields("", "", "")


def views_of(pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], ViewFields]:
    """(contact, department) → what that department's view says of the person's name, locale and
    time zone, in one query. A pair with no view is left out."""
    pairs = set(pairs)
    rows = DepartmentContact.objects.filter(
        contact_id__in={c for c, _ in pairs}, department_id__in={d for _, d in pairs}
    ).values_list("contact_id", "department_id", "name", "locale", "time_zone")
    return {
        (contact_id, department_id): ViewFields(*fields)
        for contact_id, department_id, *fields in rows
        if (contact_id, department_id) in pairs
    }


def quiet_until(recipient: Recipient, *, now: dt.datetime) -> dt.datetime | None:
    return quiet_hours_end(
        now,
        time_zone=zone_of(recipient.time_zone),
        start=parse_clock(settings.QUIET_HOURS_START),
        end=parse_clock(settings.QUIET_HOURS_END),
    )


def outgoing_message(
    invitation: Invitation, *, recipient: Recipient, token: str, kind: str, now: dt.datetime
) -> Outgoing:
    """The message to `recipient`, who has an address (callers stop the invitation otherwise), with
    the survey's texts in the translation for the recipient's locale."""
    survey = invitation.survey
    texts = survey_texts(survey, locale=recipient.locale)
    return Outgoing(
        invitation_id=invitation.pk,
        kind=kind,
        channel=invitation.channel,
        address=recipient.address,
        name=recipient.name,
        locale=recipient.locale,
        time_zone=recipient.time_zone,
        token=token,
        survey_name=texts.name,
        survey_intro=texts.intro,
        department_name=invitation.department.name,
        expires_at=invitation.expires_at or now + dt.timedelta(days=survey.link_valid_days),
        minutes=invitation.weight,
        email_subject=texts.email_subject,
        email_body=texts.email_body,
        company_name=recipient.company_name,
    )


def addresses_of(
    pairs: Iterable[tuple[int, int]], *, company: CompanySettings | None = None
) -> dict[tuple[int, int, str], str]:
    """(contact, department, identity kind) → the address that department may send to: among the
    identities it supplied, the customer gave, or (CompanySettings.share_contact_channels) all of
    the person's, the one added most recently. Emails as the department wrote them (normalised ones
    drop tags the person may rely on), phones in E.164."""
    pairs = set(pairs)
    shared = (company or CompanySettings.current()).share_contact_channels
    identities = list(
        Identity.objects.filter(
            contact_id__in={c for c, _ in pairs}, kind__in=list(CHANNEL_IDENTITY_KIND.values())
        )
        .order_by("contact_id", "kind", "-pk")
        .values_list(
            "pk",
            "contact_id",
            "kind",
            "value",
            "normalised",
            "given_by_customer",
            "department_id",
            named=True,
        )
    )
    # (identity, department) → a later supplier's own spelling (contacts/supplies.py); the first
    # supplier's is the identity's value.
    rows = DepartmentIdentity.objects.filter(
        identity_id__in=[i.pk for i in identities], department_id__in={d for _, d in pairs}
    ).values_list("identity_id", "department_id", "value")
    supplied = {(identity_id, department_id): value for identity_id, department_id, value in rows}
    departments_of = defaultdict(set)
    for contact_id, department_id in pairs:
        departments_of[contact_id].add(department_id)
    addresses: dict[tuple[int, int, str], str] = {}
    for identity in identities:
        for department_id in departments_of[identity.contact_id]:
            spelling = identity.value if identity.department_id == department_id else None
            spelling = spelling or supplied.get((identity.pk, department_id))
            if spelling is None and not (shared or identity.given_by_customer):
                continue
            value = (
                identity.normalised if identity.kind == Identity.Kind.PHONE else spelling or identity.value
            )
            addresses.setdefault((identity.contact_id, department_id, identity.kind), value.strip())
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
