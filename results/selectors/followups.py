"""Reading follow-ups, scoped to who asks: a department owner sees their departments' items only,
and another department's item is "not found"."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import CompanySettings
from results.filters import ResultsFilter, responses_for
from results.models import FollowUp
from surveys.gatekeeper.eligibility import eligibility_check
from surveys.models import Reason


def follow_ups_visible(*, actor: Actor) -> QuerySet[FollowUp]:
    follow_ups = FollowUp.objects.all()
    if actor.is_cx_lead:
        return follow_ups
    return follow_ups.filter(department_id__in=actor.department_ids)


def follow_up_get(*, actor: Actor, follow_up_id: int) -> FollowUp:
    """One follow-up with its response, survey and department; raises NotFound outside the scope."""
    follow_up = (
        follow_ups_visible(actor=actor)
        .select_related("response__survey", "department", "answer__question", "contact", "owner")
        .filter(pk=follow_up_id)
        .first()
    )
    if follow_up is None:
        raise NotFound(f"Follow-up {follow_up_id} not found.")
    return follow_up


def open_follow_ups_count(actor: Actor, results_filter: ResultsFilter) -> int:
    """Follow-ups not closed yet (open or in progress) whose response is in the filter: the
    dashboard's "waiting for someone to get back to the customer"."""
    responses = responses_for(actor, results_filter).values("pk")
    return (
        follow_ups_visible(actor=actor)
        .exclude(status=FollowUp.Status.CLOSED)
        .filter(response_id__in=responses)
        .count()
    )


@dataclass(frozen=True)
class ContactCheck:
    allowed: bool
    explanation: str
    next_eligible_at: dt.datetime | None


def follow_up_waits_for_frequency_rules(follow_up: FollowUp) -> bool:
    """Whether a CX lead capped this follow-up: the company setting for every follow-up, or the
    follow-up rule that opened it. Reads the setting without creating its row (off without it)."""
    if follow_up.waits_for_frequency_rules:
        return True
    return CompanySettings.objects.filter(pk=1, follow_ups_wait_for_frequency_rules=True).exists()


def follow_up_contact_check(
    *, actor: Actor, follow_up: FollowUp, at: dt.datetime | None = None
) -> ContactCheck | None:
    """May the department contact the customer about this follow-up now, as far as the frequency
    rules go? None when it does not wait for them: the default (see results/services/followups.py).

    Asks the gatekeeper, read-only, about a survey of the same department on the response's channel;
    only a frequency rule's block counts (opt-outs, open invitations and addresses concern surveys).
    """
    if not follow_up_waits_for_frequency_rules(follow_up):
        return None
    at = at or timezone.now()
    response = follow_up.response
    eligibility = eligibility_check(
        actor=actor,
        department=follow_up.department,
        survey=response.survey,
        channel=response.channel,
        contact_id=follow_up.contact_id,
        at=at,
    )
    if eligibility.reason != Reason.RULE:
        return ContactCheck(
            allowed=True, explanation="The frequency rules allow it now.", next_eligible_at=None
        )
    return ContactCheck(
        allowed=False, explanation=eligibility.explanation, next_eligible_at=eligibility.next_eligible_at
    )
