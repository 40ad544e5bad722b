"""What the trigger path keeps per process may never make the gatekeeper decide with stale data.

The active frequency rules are cached (surveys/gatekeeper/active_rules.py) and each single-contact statement
checks them against the rules table it sees; a valid API key is trusted for a few seconds
(departments/authentication.py) and forgotten at once when revoked in this process.
"""

import datetime as dt

from django.db import connection
from rest_framework.test import APIClient

from departments.actors import actor_for_user
from departments.models import ApiKey
from departments.services import api_key_create, api_keys_revoke
from surveys.gatekeeper.frequency_rules import frequency_rule_create, frequency_rule_update
from surveys.models import Decision, Invitation
from tests import factories

TRIGGERS = "/api/v1/triggers"
ELIGIBILITY = "/api/v1/eligibility"


def trigger(client, survey, email: str):
    body = {
        "survey": survey.pk,
        "channel": "email",
        "contact": {"identities": [{"kind": "email", "value": email}]},
    }
    return client.post(TRIGGERS, body, format="json")


def test_a_rule_created_after_triggers_applies_to_the_next_one(support_api, support, lead):
    survey = factories.SurveyFactory(department=support, kind="transactional")
    other = factories.SurveyFactory(department=support, kind="transactional")
    assert trigger(support_api, survey, "ann@example.com").status_code == 201  # rules now cached: none

    rule = frequency_rule_create(
        actor=actor_for_user(lead), name="One a month", max_touches=1, window=dt.timedelta(days=30)
    )
    response = trigger(support_api, other, "ann@example.com")

    assert response.status_code == 200, response.content
    assert response.json()["decision"]["reason"] == "rule"
    assert response.json()["decision"]["rule"] == rule.pk
    assert "One a month" in response.json()["decision"]["explanation"]
    assert Invitation.objects.filter(contact__identities__normalised="ann@example.com").count() == 1


def test_a_rule_changed_or_deactivated_applies_at_once(support_api, support, lead):
    survey = factories.SurveyFactory(department=support, kind="transactional")
    other = factories.SurveyFactory(department=support, kind="transactional")
    rule = frequency_rule_create(
        actor=actor_for_user(lead), name="One a month", max_touches=1, window=dt.timedelta(days=30)
    )
    assert trigger(support_api, survey, "bo@example.com").status_code == 201
    assert trigger(support_api, other, "bo@example.com").status_code == 200  # blocked, rule cached

    frequency_rule_update(actor=actor_for_user(lead), rule=rule, max_touches=2)
    allowed = trigger(support_api, other, "bo@example.com")

    assert allowed.status_code == 201, allowed.content
    assert (
        Decision.objects.filter(allowed=True, contact__identities__normalised="bo@example.com").count() == 2
    )


def test_a_rule_changed_behind_the_services_back_applies_at_once(support_api, support, lead):
    """The statement compares the whole rules table, not the version the services keep."""
    survey = factories.SurveyFactory(department=support, kind="transactional")
    other = factories.SurveyFactory(department=support, kind="transactional")
    factories.FrequencyRuleFactory(name="One a month", max_touches=1, window=dt.timedelta(days=30))
    assert trigger(support_api, survey, "cy@example.com").status_code == 201

    with connection.cursor() as cursor:
        cursor.execute("UPDATE surveys_frequencyrule SET is_active = false")
    response = trigger(support_api, other, "cy@example.com")

    assert response.status_code == 201, response.content


def test_eligibility_sees_a_new_rule_at_once(support_api, support, lead):
    survey = factories.SurveyFactory(department=support, kind="transactional")
    assert trigger(support_api, survey, "di@example.com").status_code == 201
    other = factories.SurveyFactory(department=support, kind="transactional")
    body = {
        "survey": other.pk,
        "channel": "email",
        "contact": {"identities": [{"kind": "email", "value": "di@example.com"}]},
    }
    assert support_api.post(ELIGIBILITY, body, format="json").json()["decision"]["allowed"] is True

    frequency_rule_create(
        actor=actor_for_user(lead), name="Weekly", max_touches=1, window=dt.timedelta(days=7)
    )

    assert support_api.post(ELIGIBILITY, body, format="json").json()["decision"]["reason"] == "rule"


def test_a_revoked_key_stops_working_at_once_in_the_process_that_revoked_it(support):
    survey = factories.SurveyFactory(department=support, kind="transactional")
    api_key, plain = api_key_create(department=support, name="old")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert trigger(client, survey, "ed@example.com").status_code == 201  # the key is now trusted

    api_keys_revoke(api_keys=ApiKey.objects.filter(pk=api_key.pk))
    response = client.post(TRIGGERS, {}, format="json")

    assert response.status_code == 401
    assert response.json()["message"] == "Unknown or revoked API key."
