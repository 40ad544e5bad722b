"""May this department survey this contact now? The gatekeeper's answer for one contact, reserving
nothing (PRODUCT.md §4.7).

The answer comes from the same statement that screens a whole send request
(surveys/gatekeeper/screening.py `verdicts_for`), so the eligibility API and an actual send never disagree
about the same moment. It writes nothing and takes no lock: a "yes" is not a reservation, and a
trigger sent a moment later decides again under the contact's lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department
from surveys.gatekeeper.active_rules import rules_active_cached
from surveys.gatekeeper.decisions import decision_explain, next_eligible_shown
from surveys.gatekeeper.rules import Verdict
from surveys.gatekeeper.screening import Send, verdicts_for
from surveys.models import Decision, FrequencyRule, Reason, SendRequest, Survey


@dataclass(frozen=True)
class Eligibility:
    """The gatekeeper's verdict for one contact at `at` (exact, as the gatekeeper decided), with
    what the asker is shown of it: the explanation and the next eligible time (to the hour for a
    department, see surveys/gatekeeper/decisions.py)."""

    contact_id: int
    at: dt.datetime
    verdict: Verdict
    explanation: str
    next_eligible_at: dt.datetime | None

    @property
    def allowed(self) -> bool:
        return self.verdict.allowed

    @property
    def reason(self) -> str:
        return self.verdict.reason


def eligibility_check(
    *,
    actor: Actor,
    department: Department,
    survey: Survey,
    channel: str,
    contact_id: int,
    at: dt.datetime | None = None,
) -> Eligibility:
    """Would a send of `survey` on `channel` to the contact at `at` (default now) be allowed?

    Reads only: no decision, invitation or lock. The caller found the survey and the contact
    through surveys/gatekeeper/lookups.py, which raises NotFound for anything outside the department.
    """
    at = at or timezone.now()
    send = Send(
        send_request_id=None,
        department_id=department.pk,
        survey_id=survey.pk,
        survey_family_id=survey.family_id,
        survey_kind=survey.kind,
        channel=channel,
        at=at,
    )
    verdicts = verdicts_for(send=send, contact_ids=[contact_id])
    verdict = verdicts.get(contact_id)
    if verdict is None:  # deleted since the caller found it; the asker knows it by its public id only
        raise NotFound("Contact not found.")
    unsaved = _decision_unsaved(verdict, department=department, survey=survey, channel=channel, at=at)
    return Eligibility(
        contact_id=contact_id,
        at=at,
        verdict=verdict,
        explanation=decision_explain(unsaved, viewer=actor, now=at),
        next_eligible_at=next_eligible_shown(verdict.next_eligible_at, viewer=actor),
    )


def _decision_unsaved(
    verdict: Verdict, *, department: Department, survey: Survey, channel: str, at: dt.datetime
) -> Decision:
    """The decision a send would store, never saved: decision_explain reads a Decision and its request."""
    rule = None
    if verdict.reason == Reason.RULE:
        # The cached rule explains it without a query; a rule changed since is read afresh.
        rule = rules_active_cached().models.get(verdict.rule_id) or FrequencyRule.objects.get(
            pk=verdict.rule_id
        )
    return Decision(
        send_request=SendRequest(department=department, survey=survey, channel=channel),
        allowed=verdict.allowed,
        reason=verdict.reason,
        rule=rule,
        rule_version=verdict.rule_version,
        next_eligible_at=verdict.next_eligible_at,
        last_touch_at=verdict.last_touch_at,
        last_touch_same_department=verdict.last_touch_same_department,
        blackout_kind=verdict.blackout_kind,
        decided_at=at,
    )
