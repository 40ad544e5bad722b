"""The surveys part of `manage.py load_demo_data`: the default frequency rules, an NPS survey for
each demo department and a CSAT and a CES survey, made through the same services a CX lead and a
department owner use, and five months of history — requests decided by the gatekeeper at the
time, invitations sent, customers' answers — so the results dashboard has something to show.

Running it again changes nothing: rules are found by name, surveys by department and name, and the
history is made only while there is no response at all.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from departments.actors import Actor
from departments.models import Department
from surveys.delivery.invitation_status import invitations_mark_sent
from surveys.delivery.sweeper import invitations_expire
from surveys.design.surveys import survey_create_from_template
from surveys.gatekeeper.frequency_rules import frequency_rule_create
from surveys.gatekeeper.send_requests import send_request_create, send_request_screen, send_request_submit
from surveys.models import (
    FIXED_SCALES,
    FrequencyRule,
    Invitation,
    QuestionKind,
    Response,
    SendRequest,
    Survey,
)
from surveys.public.responses import response_submit

EVERYONE_RULE = "One survey per 30 days per person"
DEPARTMENT_RULE = "One survey per 90 days per department"
# The demo login that "wrote" the rules (DEMO_LOGINS in surveys/management/commands/load_demo_data.py).
DEMO_CX_LEAD = "cxlead"


def load_demo_surveys(departments: Mapping[str, Department]) -> int:
    """Create the missing demo rules and surveys (an NPS survey for each department and the other
    templates the history uses); return how many objects were created."""
    lead = get_user_model().objects.filter(username=DEMO_CX_LEAD).first()
    actor = Actor(department_ids=frozenset(), is_cx_lead=True, user_id=lead.pk if lead else None)
    created = 0
    if not FrequencyRule.objects.filter(name=EVERYONE_RULE).exists():
        frequency_rule_create(actor=actor, name=EVERYONE_RULE, max_touches=1, window=dt.timedelta(days=30))
        created += 1
    for slug, department in departments.items():
        # One rule per department, named for it, so the CX lead tells them apart in the admin.
        name = f"{DEPARTMENT_RULE} ({department.name})"
        if not FrequencyRule.objects.filter(name=name).exists():
            frequency_rule_create(
                actor=actor,
                name=name,
                max_touches=1,
                window=dt.timedelta(days=90),
                scope_department=department,
            )
            created += 1
        templates = {"nps"} | {past.template for past in HISTORY if past.department == slug}
        for template in sorted(templates):
            survey_name = _survey_name(department, template)
            if not Survey.objects.filter(department=department, name=survey_name).exists():
                survey_create_from_template(
                    actor=actor, department=department, template=template, name=survey_name
                )
                created += 1
    return created


def _survey_name(department: Department, template: str) -> str:
    return f"{department.name} {template.upper()}"


class PastRequest(NamedTuple):
    department: str  # slug
    days_ago: int
    template: str  # the survey: the department's survey made from this template
    weights: list[int]  # how customers score it: weights of NPS 0–10, CSAT 1–5 or CES 1–7
    audience: dict | None = None  # attributes to match; None: all contacts the department knows
    purpose: str = "Quarterly relationship survey"


# Each department asks its contacts now and then; support's CSAT and billing's CES give the dashboard
# every figure. Requests three weeks apart meet the "one survey per 30 days" rule for people several
# departments know. The latest requests of support and marketing went to a segment only, so their
# owners' logins still have people to survey today (and a pre-flight with every kind of block).
HISTORY = [
    PastRequest("support", 150, "nps", [1, 1, 1, 1, 2, 3, 4, 8, 12, 14, 10]),
    PastRequest("marketing", 130, "nps", [2, 1, 2, 3, 4, 6, 8, 10, 9, 6, 4]),
    PastRequest("sales", 110, "nps", [1, 1, 1, 2, 2, 4, 6, 10, 12, 10, 8]),
    PastRequest("billing", 90, "ces", [3, 4, 6, 8, 10, 8, 5], purpose="Effort after the new invoices"),
    PastRequest(
        "support", 50, "csat", [2, 3, 6, 12, 10], {"plan": "starter"}, "Starter plan onboarding help"
    ),
    PastRequest(
        "marketing", 35, "nps", [2, 1, 2, 3, 4, 6, 8, 10, 9, 6, 4], {"tier": "gold"}, "Gold customers"
    ),
    PastRequest("sales", 20, "nps", [1, 1, 1, 2, 2, 4, 6, 10, 12, 10, 8]),
]
ANSWER_SHARE = 0.35
COMMENTS = ["", "", "", "Quick and friendly.", "Took too long.", "Great help, thanks!"]


def load_demo_history(departments: Mapping[str, Department], *, rng: random.Random) -> int:
    """Past send requests screened as of their day, their allowed invitations sent that day and about
    a third answered within a few days; returns the responses made (none if any response exists)."""
    if Response.objects.exists():
        return 0
    _analyze()
    lead = get_user_model().objects.filter(username=DEMO_CX_LEAD).first()
    now = timezone.now()
    responses = 0
    for past in HISTORY:
        department = departments[past.department]
        actor = Actor(department_ids=frozenset({department.pk}), user_id=lead.pk if lead else None)
        survey = Survey.objects.get(
            department=department, name=_survey_name(department, past.template), is_current=True
        )
        sent_at = now - dt.timedelta(days=past.days_ago)
        # The beat's expiry task, as it would have run by then: an unanswered invitation whose link
        # has expired is no longer open, so it does not block this survey's next request.
        invitations_expire(now=sent_at)
        audience_kind = (
            SendRequest.AudienceKind.FILTER if past.audience else SendRequest.AudienceKind.ALL_KNOWN
        )
        request = send_request_create(
            actor=actor,
            department=department,
            survey=survey,
            channel="email",
            audience_kind=audience_kind,
            audience_filter=past.audience,
            earliest_send_at=sent_at,
            purpose=f"{past.purpose} (demo history)",
            now=sent_at,
        )
        send_request_submit(send_request=request, actor=actor, now=sent_at)
        send_request_screen(send_request_id=request.pk, now=sent_at)
        invitations_mark_sent(
            send_request_id=request.pk,
            sent_at=sent_at,
            expires_at=sent_at + dt.timedelta(days=survey.link_valid_days),
        )
        responses += _demo_answers(request, weights=past.weights, sent_at=sent_at, rng=rng)
        _analyze()
    invitations_expire(now=now)
    return responses


def _analyze() -> None:
    """Statistics for the tables the contacts and the history just filled, in this same transaction:
    without them PostgreSQL plans the screening for empty tables and takes minutes instead of a blink."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE contacts_contact, contacts_identity, contacts_departmentcontact, contacts_consent, "
            "surveys_invitation, surveys_decision"
        )


def _demo_answers(
    request: SendRequest, *, weights: list[int], sent_at: dt.datetime, rng: random.Random
) -> int:
    questions = list(request.survey.questions.all())
    scored = next(question for question in questions if question.kind in FIXED_SCALES)
    low, high = FIXED_SCALES[scored.kind]
    comment_position = next((q.position for q in questions if q.kind == QuestionKind.FREE_TEXT), None)
    invitations = list(
        Invitation.objects.filter(send_request=request, status=Invitation.Status.SENT)
        .select_related("survey", "contact")
        .order_by("pk")
    )
    answering = rng.sample(invitations, round(len(invitations) * ANSWER_SHARE))
    for invitation in answering:
        answers = {scored.position: rng.choices(range(low, high + 1), weights=weights)[0]}
        comment = rng.choice(COMMENTS)
        if comment and comment_position is not None:
            answers[comment_position] = comment
        answered_at = sent_at + dt.timedelta(hours=rng.uniform(1, 96))
        response_submit(invitation=invitation, answers=answers, now=answered_at)
    return len(answering)
