"""Departments stay apart in the gatekeeper's answers (PRODUCT.md §2, §4.4).

Support surveyed Ann about her broken router; marketing then asks to survey her and is blocked by
the shared frequency rule. Marketing may learn *that* another department contacted her and when —
never which department, which survey, what it asked or why. Every surface that carries the "no"
is checked: the stored decision and request, the explanation, and the API answers.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from departments.actors import actor_for_user
from surveys.gatekeeper.decisions import decision_explain
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Decision, SendRequest
from tests import factories

NOW = timezone.now().replace(microsecond=0)
DAY = dt.timedelta(days=1)
SUPPORT_SURVEY = "Broken router follow-up"
SUPPORT_QUESTION = "How did our engineer handle your router repair?"
SUPPORT_PURPOSE = "Ticket 4711: router replaced"


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def leaks(text: str) -> list[str]:
    """What of support's data `text` gives away: its department, survey, question or purpose. Ids
    (UUIDs) are left out first: a random one may hold "4711"."""
    text = UUID.sub("<id>", text)
    found = [secret for secret in (SUPPORT_SURVEY, SUPPORT_QUESTION, SUPPORT_PURPOSE, "4711", "router")
             if secret.lower() in text.lower()]  # fmt: skip
    if re.search(r"\bsupport\b", text, re.IGNORECASE):
        found.append("support")
    return found


@pytest.fixture
def monthly_rule(db):
    return factories.FrequencyRuleFactory(name="One survey per 30 days", max_touches=1, window=30 * DAY)


@pytest.fixture
def support_survey(support):
    survey = factories.SurveyFactory(
        department=support, name=SUPPORT_SURVEY, kind="transactional", questions=[]
    )
    factories.QuestionFactory(survey=survey, position=1, kind="csat", text=SUPPORT_QUESTION)
    return survey


@pytest.fixture
def marketing_survey(marketing):
    return factories.SurveyFactory(department=marketing, name="Spring Campaign Pulse")


@pytest.fixture
def ann(support, marketing):
    """Known to both departments, each by the email address it supplied."""
    contact = factories.known_contact(support, email="ann@example.com", name="Ann")
    factories.DepartmentContactFactory(department=marketing, contact=contact)
    factories.DepartmentIdentityFactory(department=marketing, identity=contact.identities.get())
    return contact


def support_surveys_ann(support, support_survey, ann, *, at: dt.datetime) -> None:
    result = trigger_send(
        department=support,
        survey=support_survey,
        channel="email",
        contact_id=ann.pk,
        purpose=SUPPORT_PURPOSE,
        now=at,
    )
    assert result.decision.allowed


@pytest.fixture
def marketing_blocked(marketing, support, support_survey, marketing_survey, ann, monthly_rule) -> Decision:
    """Support surveyed Ann 12 days ago; marketing's trigger now is blocked by the monthly rule."""
    support_surveys_ann(support, support_survey, ann, at=NOW - 12 * DAY)
    result = trigger_send(
        department=marketing, survey=marketing_survey, channel="email", contact_id=ann.pk, now=NOW
    )
    return result.decision


def test_the_stored_decision_says_only_that_another_department_touched_ann(
    marketing_blocked, marketing, monthly_rule
):
    decision = Decision.objects.select_related("send_request").get(pk=marketing_blocked.pk)

    assert (decision.allowed, decision.reason, decision.rule_id) == (False, "rule", monthly_rule.pk)
    assert decision.last_touch_at == NOW - 12 * DAY
    assert decision.last_touch_same_department is False
    assert decision.next_eligible_at == NOW + 18 * DAY
    assert decision.send_request.department == marketing
    assert leaks(repr(Decision.objects.filter(pk=decision.pk).values().get())) == []
    stored_request = SendRequest.objects.filter(pk=decision.send_request_id).values().get()
    assert stored_request["screening_summary"]["blocked"] == {"rule": 1}
    assert leaks(repr(stored_request)) == []


def test_the_explanation_does_not_name_support_or_its_survey(marketing_blocked, mallory):
    explanation = decision_explain(marketing_blocked, viewer=actor_for_user(mallory), now=NOW)

    assert "another department" in explanation
    assert "12 days ago" in explanation
    assert leaks(explanation) == []


def test_a_planned_support_send_is_explained_without_naming_it(
    marketing, support, support_survey, marketing_survey, ann, monthly_rule, mallory
):
    support_surveys_ann(support, support_survey, ann, at=NOW + 3 * DAY)

    blocked = trigger_send(
        department=marketing, survey=marketing_survey, channel="email", contact_id=ann.pk, now=NOW
    ).decision
    explanation = decision_explain(blocked, viewer=actor_for_user(mallory), now=NOW)

    assert blocked.next_eligible_at == NOW + 33 * DAY
    assert "planned by another department in 3 days" in explanation
    assert leaks(explanation) == []


def test_the_trigger_api_answers_marketing_without_naming_support(
    marketing_api, support, support_survey, marketing_survey, ann, monthly_rule
):
    support_surveys_ann(support, support_survey, ann, at=timezone.now() - 12 * DAY)

    response = marketing_api.post(
        "/api/v1/triggers",
        {
            "survey": marketing_survey.pk,
            "channel": "email",
            "contact": {"identities": [{"kind": "email", "value": "ann@example.com"}]},
            "purpose": "Spring campaign",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["decision"]["reason"] == "rule"
    assert "another department" in response.json()["decision"]["explanation"]
    assert leaks(response.content.decode()) == []


def test_the_eligibility_api_answers_marketing_without_naming_support(
    marketing_api, support, support_survey, marketing_survey, ann, monthly_rule
):
    support_surveys_ann(support, support_survey, ann, at=timezone.now() - 12 * DAY)

    response = marketing_api.post(
        "/api/v1/eligibility",
        {"survey": marketing_survey.pk, "channel": "email", "contact": {"id": str(ann.public_id)}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["decision"]["allowed"] is False
    assert "another department" in response.json()["decision"]["explanation"]
    assert leaks(response.content.decode()) == []


def test_marketings_list_of_decisions_does_not_name_support(marketing_api, marketing_blocked):
    response = marketing_api.get(
        f"/api/v1/send-requests/{marketing_blocked.send_request.public_id}/decisions"
    )

    assert response.status_code == 200, response.content
    assert "another department" in response.content.decode()
    assert leaks(response.content.decode()) == []


def test_support_cannot_open_marketings_blocked_request(support_api, marketing_blocked):
    response = support_api.get(f"/api/v1/send-requests/{marketing_blocked.send_request.public_id}/decisions")

    assert response.status_code == 404


def test_a_rule_for_support_alone_never_blocks_marketing(
    marketing, support, support_survey, marketing_survey, ann
):
    factories.FrequencyRuleFactory(name="Support: one per 90 days", window=90 * DAY, scope_department=support)
    support_surveys_ann(support, support_survey, ann, at=NOW - 12 * DAY)

    result = trigger_send(
        department=marketing, survey=marketing_survey, channel="email", contact_id=ann.pk, now=NOW
    )

    assert result.decision.allowed
    assert result.invitation is not None
