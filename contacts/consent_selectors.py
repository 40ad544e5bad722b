"""Reading consent: the one function that answers "may we contact X for department D on channel C at
time T?" for a single contact, and what a department is shown of a record. The gatekeeper's bulk
SQL answers the same question for many contacts at once and is tested against
contacts.consent.consent_decide, which this calls."""

from __future__ import annotations

import copy
import datetime as dt

from django.db.models import Q, QuerySet

from contacts.consent import ConsentVerdict, consent_decide
from contacts.models import Consent
from departments.actors import Actor

HOUR = dt.timedelta(hours=1)


def consent_status(
    *, contact_id: int, department_id: int | None, channel: str, at: dt.datetime
) -> ConsentVerdict:
    """What the contact's consent records say at `at` (an aware datetime). Reads only; raises nothing.

    An unknown contact has no records and so is allowed: whether the contact exists is the caller's
    question, not consent's.
    """
    # Records written after `at` cannot have been said yet. Ordering by pk after created_at gives two
    # records with the same timestamp a fixed order (the later write wins); consent_decide's sort is
    # stable, so it keeps that order. Served by the consent_contact_time index.
    records = (
        Consent.objects.filter(contact_id=contact_id, created_at__lte=at)
        .order_by("created_at", "pk")
        .values_list("department_id", "channel", "kind", "until", "created_at", named=True)
    )
    return consent_decide(records, department_id=department_id, channel=channel, at=at)


def consents_visible(consents: QuerySet[Consent], *, actor: Actor) -> QuerySet[Consent]:
    """The records that concern the actor: every-department ones and their own departments' (all for
    a CX lead). Another department's records are that department's business, never shown."""
    if actor.is_cx_lead:
        return consents
    return consents.filter(Q(department__isnull=True) | Q(department_id__in=actor.department_ids))


def consent_shown(consent: Consent, *, actor: Actor) -> Consent:
    """The record as `actor` may see it: a copy, for showing only, never saved.

    A record for every department (the customer's unsubscribe or preferences, a provider's bounce,
    a CX lead's word) is shown to a department's owner or API key without its note and who recorded
    it, and with its times to the hour: what it says, not who said what when, which would tell the
    department about the person's dealings with others. A snooze's end is rounded up, so the
    department waits at least as long as the person asked. Its own departments' records and
    everything for a CX lead are shown whole.
    """
    if actor.is_cx_lead or consent.department_id is not None:
        return consent
    shown = copy.copy(consent)
    shown.note = ""
    shown.recorded_by = ""
    shown.created_at = _hour_floor(consent.created_at)
    if consent.until is not None:
        floor = _hour_floor(consent.until)
        shown.until = floor if floor == consent.until else floor + HOUR
    return shown


def _hour_floor(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
