"""POST /api/v1/triggers: upsert a contact by identity and ask for one survey to be sent to them now.

For the endpoint: works, wrong method, another department's survey, bad input, missing survey; and
what the gatekeeper promises through it: a blocked trigger is a 200 with the reason and the next
eligible time (never naming another department's survey), a repeated Idempotency-Key never makes
a second invitation, and concurrent triggers for one person never break a rule.
"""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from contacts.models import Contact, DepartmentContact
from departments.services import api_key_create
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Decision, Invitation, SendRequest, Survey
from tests import factories
from tests.api import assert_error

TRIGGERS = "/api/v1/triggers"
MONTH = dt.timedelta(days=30)


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support, name="After your call", kind="transactional")


@pytest.fixture
def marketing_survey(marketing):
    return factories.SurveyFactory(department=marketing, name="Spring Campaign Pulse")


@pytest.fixture
def monthly_rule(db):
    return factories.FrequencyRuleFactory(name="One survey a month", max_touches=1, window=MONTH)


def trigger_body(survey, email="ann@example.com", **fields) -> dict:
    return {
        "survey": survey.pk,
        "channel": "email",
        "contact": {"identities": [{"kind": "email", "value": email}], "name": "Ann"},
        "purpose": "Ticket 4711 closed",
        **fields,
    }


def also_known_by(department, contact) -> None:
    """`department` knows `contact` too, through every identity the person has."""
    factories.DepartmentContactFactory(department=department, contact=contact)
    for identity in contact.identities.all():
        factories.DepartmentIdentityFactory(department=department, identity=identity)


def post(client, body, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(TRIGGERS, body, format="json", headers=headers)


# Works


def test_an_allowed_trigger_upserts_the_contact_and_queues_one_invitation(support_api, support, survey):
    response = post(support_api, trigger_body(survey, email="Ann@Example.com"))

    assert response.status_code == 201, response.content
    body = response.json()
    invitation = Invitation.objects.get()
    contact = Contact.objects.get()
    assert body == {
        "decision": {
            "allowed": True,
            "reason": "",
            "rule": None,
            "next_eligible_at": None,
            "explanation": "Allowed.",
        },
        "invitation": {
            "id": str(invitation.public_id),
            "status": "queued",
            "planned_at": body["invitation"]["planned_at"],
        },
        "contact": {"id": str(contact.public_id)},
    }
    assert (invitation.contact_id, invitation.survey_id, invitation.channel) == (
        contact.pk,
        survey.pk,
        "email",
    )
    # The name is the department's own for the person, in its view; the person's own stays unset.
    assert DepartmentContact.objects.get(department=support, contact=contact).name == "Ann"
    assert contact.name == ""
    request = SendRequest.objects.get()
    assert (request.audience_kind, request.status, request.purpose) == (
        "trigger",
        "screened",
        "Ticket 4711 closed",
    )


def test_a_known_contact_is_matched_by_a_normalised_identity(support_api, support, survey):
    contact = factories.known_contact(support, email="ann@example.com")

    response = post(support_api, trigger_body(survey, email=" ANN@example.COM "))

    assert response.status_code == 201, response.content
    assert response.json()["contact"] == {"id": str(contact.public_id)}
    assert Contact.objects.count() == 1


def test_a_signed_in_owner_names_the_department(alice, support, survey):
    client = APIClient()
    client.force_login(alice)

    without = post(client, trigger_body(survey))
    named = post(client, trigger_body(survey, department="support"))

    assert_error(without, 400, "invalid")
    assert named.status_code == 201, named.content


# Blocked: a normal answer with the reason, never naming another department's survey


def test_a_blocked_trigger_is_200_with_reason_next_eligible_time_and_a_discreet_explanation(
    support_api, support, marketing, survey, marketing_survey, monthly_rule
):
    contact = factories.known_contact(support, email="ann@example.com")
    also_known_by(marketing, contact)
    touched = timezone.now() - dt.timedelta(days=12)
    trigger_send(
        department=marketing, survey=marketing_survey, channel="email", contact_id=contact.pk, now=touched
    )

    response = post(support_api, trigger_body(survey))

    assert response.status_code == 200, response.content
    body = response.json()
    decision = body["decision"]
    assert (decision["allowed"], decision["reason"], decision["rule"]) == (False, "rule", monthly_rule.pk)
    # To the full hour, rounded up: the exact time would be marketing's send plus the rule's month.
    shown = parse_datetime(decision["next_eligible_at"])
    assert (shown.minute, shown.second, shown.microsecond) == (0, 0, 0)
    assert dt.timedelta(0) <= shown - (touched + MONTH) < dt.timedelta(hours=1)
    assert "another department 12 days ago" in decision["explanation"]
    assert "eligible from" in decision["explanation"]
    for secret in ("Marketing", "marketing", "Spring Campaign Pulse", str(marketing_survey.pk)):
        assert secret not in decision["explanation"]
    assert body["invitation"] is None
    assert body["contact"] == {"id": str(contact.public_id)}
    assert not Invitation.objects.filter(department=support).exists()
    assert Decision.objects.filter(contact=contact, allowed=False, reason="rule").count() == 1


def test_a_second_trigger_for_the_same_survey_is_already_invited(support_api, survey):
    first = post(support_api, trigger_body(survey))
    second = post(support_api, trigger_body(survey))

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["decision"]["reason"] == "already_invited"
    assert Invitation.objects.count() == 1


def test_an_opted_out_contact_is_not_invited(support_api, support, survey):
    contact = factories.known_contact(support, email="ann@example.com")
    factories.ConsentFactory(contact=contact, kind="opt_out")

    response = post(support_api, trigger_body(survey))

    assert response.status_code == 200
    assert response.json()["decision"] | {"explanation": ""} == {
        "allowed": False,
        "reason": "opted_out",
        "rule": None,
        "next_eligible_at": None,
        "explanation": "",
    }
    assert not Invitation.objects.exists()


# Idempotency


def test_a_repeated_key_replays_the_same_invitation_and_creates_nothing(support_api, survey):
    first = post(support_api, trigger_body(survey), key="order-1-delivered")
    counts = (SendRequest.objects.count(), Decision.objects.count(), Invitation.objects.count())

    again = post(support_api, trigger_body(survey), key="order-1-delivered")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (
        (SendRequest.objects.count(), Decision.objects.count(), Invitation.objects.count())
        == counts
        == (
            1,
            1,
            1,
        )
    )


def test_a_repeated_key_replays_a_blocked_answer_too(support_api, survey):
    post(support_api, trigger_body(survey))
    blocked = post(support_api, trigger_body(survey), key="again")

    again = post(support_api, trigger_body(survey), key="again")

    assert blocked.status_code == again.status_code == 200
    assert again.json() == blocked.json()
    assert Decision.objects.count() == 2


def test_the_same_key_with_another_body_is_422_and_changes_nothing(support_api, survey):
    post(support_api, trigger_body(survey), key="k1")

    response = post(support_api, trigger_body(survey, email="bob@example.com"), key="k1")

    assert_error(response, 422, "idempotency_key_reused")
    assert Invitation.objects.count() == 1
    assert Contact.objects.count() == 1


def test_a_trigger_for_a_known_contact_takes_few_queries(support_api, support, survey, monthly_rule):
    """The hot path of PRODUCT.md §8 (300 triggers/s): no upsert when nothing would change, and the
    decision and invitation come back from the screening statement itself."""
    factories.known_contact(support, email="ann@example.com")
    factories.known_contact(support, email="bob@example.com")
    post(support_api, trigger_body(survey, email="bob@example.com"), key="warm-up")  # freezes the survey
    body = trigger_body(survey)
    del body["contact"]["name"]

    with CaptureQueriesContext(connection) as queries:
        response = post(support_api, body, key="order-2")

    assert response.status_code == 201
    # The key's rate-limit counter; the idempotency claim (+ its savepoint pair here, inside the
    # test's transaction); the survey with the contact, its public id and zone; contact lock; the
    # one statement that decides and writes; the idempotency answer. The key itself is cached.
    assert len(queries) <= 8, "\n".join(q["sql"] or "" for q in queries)


# The usual set: wrong method, another department's survey, bad input, missing survey


def test_wrong_method_is_405(support_api):
    assert_error(support_api.get(TRIGGERS), 405)
    assert_error(support_api.put(TRIGGERS, {}, format="json"), 405)


def test_another_departments_survey_is_404_and_nothing_is_written(marketing_api, survey):
    response = post(marketing_api, trigger_body(survey))

    assert_error(response, 404, "not_found")
    assert not Contact.objects.exists()
    assert not SendRequest.objects.exists()


def test_an_api_key_cannot_act_for_another_department(support_api, marketing, survey):
    response = post(support_api, trigger_body(survey, department="marketing"))

    assert_error(response, 404, "not_found")


def test_a_missing_survey_is_404(support_api, survey):
    response = post(support_api, trigger_body(survey) | {"survey": survey.pk + 1000})

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "pigeon"}, "channel"),
        ({"survey": "first"}, "survey"),
        ({"contact": {"identities": []}}, "contact"),
        ({"contact": {"name": "Ann"}}, "contact"),
        ({"purpose": "x" * 501}, "purpose"),
        ({"survey": 2**70}, "survey"),
    ],
)
def test_bad_input_is_400_naming_the_field(support_api, survey, change, field):
    response = post(support_api, trigger_body(survey) | change)

    body = assert_error(response, 400, "invalid")
    assert body["message"].startswith(field)
    assert field in body["extra"]["fields"]
    assert not Contact.objects.exists()


def test_an_invalid_email_is_400_and_nothing_is_written(support_api, survey):
    response = post(support_api, trigger_body(survey, email="not an email"))

    body = assert_error(response, 400)
    assert "email" in body["message"]
    assert not Contact.objects.exists()
    assert not SendRequest.objects.exists()


def test_an_old_survey_version_is_400_naming_the_current_one(support_api, support, survey):
    Survey.objects.filter(pk=survey.pk).update(is_current=False)
    newer = factories.SurveyFactory(department=support)
    Survey.objects.filter(pk=newer.pk).update(family_id=survey.family_id, version=2)

    response = post(support_api, trigger_body(survey))

    body = assert_error(response, 400, "invalid_send_request")
    assert body["extra"] == {"field": "survey", "current_id": newer.pk}


def test_a_survey_without_questions_is_400(support_api, support):
    empty = factories.SurveyFactory(department=support, questions=[])

    response = post(support_api, trigger_body(empty))

    assert assert_error(response, 400, "invalid_send_request")["extra"] == {"field": "survey"}


def test_identities_of_two_contacts_are_409(support_api, support, survey):
    factories.known_contact(support, email="ann@example.com")
    factories.known_contact(support, email="bob@example.com")
    body = trigger_body(survey)
    body["contact"]["identities"].append({"kind": "email", "value": "bob@example.com"})

    response = post(support_api, body)

    assert_error(response, 409, "identity_conflict")
    assert not SendRequest.objects.exists()


def test_unauthenticated_is_401_or_403(client, survey):
    response = client.post(TRIGGERS, trigger_body(survey), content_type="application/json")

    assert response.status_code in (401, 403)


# Concurrency: many triggers for one person at the same moment


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("known", [True, False], ids=["known-contact", "new-contact"])
def test_concurrent_triggers_for_one_contact_queue_at_most_what_the_rule_allows(known):
    """Eight departments' integrations trigger different surveys for one person at once, under one
    survey a month: exactly one is queued, every other answer names the rule.

    A known contact takes the fast path (no upsert, so no identity or row lock): only the
    gatekeeper's own lock (surveys/gatekeeper/locks.py) stands between the eight; without it this fails.
    """
    factories.FrequencyRuleFactory(max_touches=1, window=MONTH)
    departments, clients, bodies = [], [], []
    for n in range(8):
        department = factories.DepartmentFactory(slug=f"dept-{n}")
        _, key = api_key_create(department=department, name="load")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        departments.append(department)
        clients.append(client)
        bodies.append(trigger_body(factories.SurveyFactory(department=department)))
    for round_ in range(5):
        email = f"person{round_}@example.com"
        if known:
            contact = factories.known_contact(departments[0], email=email)
            for department in departments[1:]:
                factories.DepartmentContactFactory(department=department, contact=contact)
        barrier = threading.Barrier(len(clients))
        statuses: list[int] = []

        def trigger(client, body, email=email, barrier=barrier, statuses=statuses):
            body = body | {"contact": {"identities": [{"kind": "email", "value": email}]}}
            try:
                barrier.wait()
                statuses.append(post(client, body).status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=trigger, args=pair) for pair in zip(clients, bodies, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        contact = Contact.objects.get(identities__normalised=email)
        assert sorted(statuses) == [200] * 7 + [201]
        assert Invitation.objects.filter(contact=contact).count() == 1
        assert Decision.objects.filter(contact=contact, reason="rule").count() == 7
