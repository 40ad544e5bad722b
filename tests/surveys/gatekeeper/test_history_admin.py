"""The gatekeeper's history in the admin as marketing's owner sees it, for a person support knows too:
found by marketing's view of them only, and with next-eligible times no finer than the hour."""

import datetime as dt

import pytest
from django.urls import reverse

from surveys.models import Decision, Reason
from tests import factories

pytestmark = pytest.mark.django_db

DECISIONS = reverse("admin:surveys_decision_changelist")
# An exact time: support's send plus a rule's window, to the microsecond.
EXACT = dt.datetime(2026, 3, 4, 10, 17, 23, 456789, tzinfo=dt.UTC)


@pytest.fixture
def decision(support, marketing) -> Decision:
    """Marketing's request was blocked for a person support knows too (and named them its own way)."""
    contact = factories.known_contact(support, email="sam@support.example", name="Sam Support")
    factories.DepartmentContactFactory(department=marketing, contact=contact, name="Samuel M")
    rule = factories.FrequencyRuleFactory()
    return Decision.objects.create(
        send_request=factories.SendRequestFactory(department=marketing),
        contact=contact,
        allowed=False,
        reason=Reason.RULE,
        rule=rule,
        rule_version=rule.version,
        next_eligible_at=EXACT,
        decided_at=EXACT - dt.timedelta(days=20),
    )


@pytest.mark.parametrize("term", ["Sam Support", "sam@support.example"])
def test_an_owner_finds_no_decision_by_what_another_department_knows(mallory_client, decision, term):
    assert list(mallory_client.get(DECISIONS, {"q": term}).context["cl"].result_list) == []


def test_an_owner_finds_a_decision_by_their_own_view(mallory_client, decision):
    assert list(mallory_client.get(DECISIONS, {"q": "samuel"}).context["cl"].result_list) == [decision]


def test_an_owner_sees_next_eligible_times_to_the_hour_and_a_lead_exactly(
    mallory_client, lead_client, decision
):
    owner_page = mallory_client.get(reverse("admin:surveys_decision_change", args=[decision.pk]))
    lead_page = lead_client.get(reverse("admin:surveys_decision_change", args=[decision.pk]))

    assert "March 4, 2026, 11 a.m." in owner_page.content.decode()
    assert "10:17" not in mallory_client.get(DECISIONS).content.decode()
    assert "March 4, 2026, 10:17 a.m." in lead_page.content.decode()
