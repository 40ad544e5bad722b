"""Reading consent: the one function that answers "may we contact X for department D on channel C at
time T?" for a single contact. The gatekeeper's bulk SQL answers the same question for many
contacts at once and is tested against contacts.consent.consent_decide, which this calls."""

import datetime as dt

from contacts.consent import ConsentVerdict, consent_decide
from contacts.models import Consent


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
