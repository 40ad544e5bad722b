"""Closing the loop: a detractor's answer opens a follow-up item for the department that asked, and
the department works it through open → in progress → closed.

Which answers ask for a follow-up: the built-in thresholds (results.models.BUILT_IN_DETRACTOR_MAX:
NPS 0–6, CSAT 1–2) and every active FollowUpRule a CX lead wrote (a question kind, a highest value,
optionally one survey); results/detractors.py decides. Rules only add to the built-in thresholds.

Follow-ups and the frequency rules. A follow-up is a person of the department getting back to the
customer (a call, an email from their own mailbox), not a survey: cxfeedback records it on the
follow-up, never as an invitation, so it is never a counted touch and never blocks a survey. The
other way round, by default the frequency rules do not hold a follow-up back either: the department
may start it (in progress) at once. A CX lead can cap follow-ups: for all of them with the company
setting "Follow-ups wait for the survey frequency rules" (departments.models.CompanySettings), or
for the ones a follow-up rule opened with that rule's own `waits_for_frequency_rules` (an answer a
built-in threshold also catches never waits because of a rule: results/detractors.py). A follow-up
that waits asks the gatekeeper, read-only, when it is moved to "in progress", whether a survey of
the same department on the same channel would be allowed now, and is refused while a frequency
rule blocks it — the item stays open with the date it becomes possible. Opt-outs of surveys, open
invitations and missing addresses never stop a follow-up: they are about surveys, and the
customer's complaint is not one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from departments.actors import Actor
from departments.roles import is_cx_lead
from results.detractors import Detractor, Rule, ScaleAnswer, detractor_find
from results.errors import FollowUpBlockedByFrequencyRule, InvalidFollowUpChange
from results.models import BUILT_IN_DETRACTOR_MAX, FollowUp
from surveys.models import SCALE_KINDS, Answer, Invitation

# Which status may follow which. Closed items may be reopened: the customer wrote back.
TRANSITIONS = {
    FollowUp.Status.OPEN: {FollowUp.Status.IN_PROGRESS, FollowUp.Status.CLOSED},
    FollowUp.Status.IN_PROGRESS: {FollowUp.Status.OPEN, FollowUp.Status.CLOSED},
    FollowUp.Status.CLOSED: {FollowUp.Status.OPEN},
}


class _FollowUpOpener:
    """Handed out by `follow_up_on_submit`: opens the follow-up once the response has its id."""

    def __init__(self, *, invitation: Invitation, detractor: Detractor | None, now: dt.datetime):
        self.invitation, self.detractor, self.now = invitation, detractor, now

    def open(self, response_id: int | None) -> int | None:
        if self.detractor is None or response_id is None:
            return None
        return follow_up_open(
            response_id=response_id,
            department_id=self.invitation.department_id,
            contact_id=self.invitation.contact_id,
            detractor=self.detractor,
            now=self.now,
        )


@contextmanager
def follow_up_on_submit(
    *, invitation: Invitation, answers: Sequence[Answer], now: dt.datetime
) -> Iterator[_FollowUpOpener]:
    """Around storing a response: `with follow_up_on_submit(...) as follow_up:` store it, then
    `follow_up.open(response_id)`.

    Decides first, from the answers and the active follow-up rules (one small query, none when no
    answer is on a scale), whether the response asks for a follow-up; only then does it open a
    transaction, so the response and its follow-up are stored together or not at all, and a
    submission that asks for none costs the survey page's hot path no transaction.
    """
    detractor = detractor_of(answers, survey_family_id=invitation.survey_family_id)
    opener = _FollowUpOpener(invitation=invitation, detractor=detractor, now=now)
    if detractor is None:
        yield opener
        return
    with transaction.atomic():
        yield opener


def detractor_of(answers: Sequence[Answer], *, survey_family_id: int | None) -> Detractor | None:
    """The answer that asks for a follow-up (results/detractors.py), reading the active rules."""
    scale_answers = [
        ScaleAnswer(answer.question_id, answer.question.position, answer.question.kind, answer.value_number)
        for answer in answers
        if answer.value_number is not None and answer.question.kind in SCALE_KINDS
    ]
    if not scale_answers:
        return None
    with connection.cursor() as cursor:
        cursor.execute(ACTIVE_RULES_SQL)
        rules = [Rule(*row) for row in cursor.fetchall()]
    return detractor_find(
        scale_answers, survey_family_id=survey_family_id, rules=rules, built_in=BUILT_IN_DETRACTOR_MAX
    )


# Written out rather than compiled by the ORM: it runs for every survey answered.
ACTIVE_RULES_SQL = """
SELECT rule.question_kind, rule.max_value, survey.family_id, rule.waits_for_frequency_rules
FROM results_followuprule rule LEFT JOIN surveys_survey survey ON survey.id = rule.survey_id
WHERE rule.is_active
"""


def follow_up_open(
    *, response_id: int, department_id: int, contact_id: int, detractor: Detractor, now: dt.datetime
) -> int | None:
    """Open the follow-up of a stored response; return its id. Idempotent: the response is unique
    on follow-ups, so a second call for the same response adds nothing and returns None."""
    parameters = {
        "response": response_id,
        "question": detractor.question_id,
        "department": department_id,
        "contact": contact_id,
        "waits": detractor.waits_for_frequency_rules,
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(FOLLOW_UP_SQL, parameters)
        row = cursor.fetchone()
    return row[0] if row else None


FOLLOW_UP_SQL = """
INSERT INTO results_followup (response_id, answer_id, department_id, contact_id, status, note,
                              waits_for_frequency_rules, created_at, updated_at)
SELECT %(response)s, a.id, %(department)s, %(contact)s, 'open', '', %(waits)s, %(now)s, %(now)s
FROM surveys_answer a
WHERE a.response_id = %(response)s AND a.question_id = %(question)s
ON CONFLICT (response_id) DO NOTHING
RETURNING id
"""


def follow_up_update(
    *,
    actor: Actor,
    follow_up: FollowUp,
    status: str,
    owner_id: int | None,
    note: str,
    now: dt.datetime | None = None,
) -> FollowUp:
    """Change a follow-up's status, owner and note. The caller found it through
    results.selectors.followups (so it is the actor's department's).

    Raises InvalidFollowUpChange for a status that may not follow the current one or an owner who
    does not work in the department, FollowUpBlockedByFrequencyRule when starting it (in progress)
    while a frequency rule would block contacting the customer and a CX lead made it wait for them.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Two people saving the same item at once: the second one checks against the first one's status.
        current = FollowUp.objects.select_for_update().get(pk=follow_up.pk)
        follow_up_change_check(actor=actor, follow_up=current, status=status, owner_id=owner_id, now=now)
        current.status, current.owner_id, current.note = status, owner_id, note
        current.closed_at = (current.closed_at or now) if status == FollowUp.Status.CLOSED else None
        current.save(update_fields=["status", "owner", "note", "closed_at", "updated_at"])
    return current


def follow_up_change_check(
    *, actor: Actor, follow_up: FollowUp, status: str, owner_id: int | None, now: dt.datetime
) -> None:
    """Raise what follow_up_update would raise for this change, writing nothing (the admin's form
    shows it next to the fields)."""
    if status != follow_up.status and status not in TRANSITIONS[follow_up.status]:
        raise InvalidFollowUpChange(
            f"A follow-up that is {follow_up.get_status_display().lower()} cannot become "
            f"{FollowUp.Status(status).label.lower()}.",
            extra={"status": status},
        )
    if owner_id is not None and owner_id != follow_up.owner_id:
        _owner_check(owner_id, department_id=follow_up.department_id)
    if status == FollowUp.Status.IN_PROGRESS and follow_up.status != status:
        _frequency_check(actor, follow_up, now=now)


def _owner_check(owner_id: int, *, department_id: int) -> None:
    owner = get_user_model().objects.filter(pk=owner_id).first()
    if owner is None or not (owner.departments.filter(pk=department_id).exists() or is_cx_lead(owner)):
        raise InvalidFollowUpChange(
            "The owner must work in the follow-up's department.", extra={"owner": owner_id}
        )


def _frequency_check(actor: Actor, follow_up: FollowUp, *, now: dt.datetime) -> None:
    from results.selectors.followups import follow_up_contact_check

    check = follow_up_contact_check(actor=actor, follow_up=follow_up, at=now)
    if check is not None and not check.allowed:
        raise FollowUpBlockedByFrequencyRule(
            f"The frequency rules do not allow contacting this customer yet: {check.explanation}",
            extra={
                "next_eligible_at": check.next_eligible_at.isoformat() if check.next_eligible_at else None
            },
        )
