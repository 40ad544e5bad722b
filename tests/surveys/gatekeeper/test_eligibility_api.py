"""POST /api/v1/eligibility: may this department survey this contact now? Reserves nothing.

For the endpoint: works (by id and by identity), wrong method, another department's survey and
contact, bad input, missing objects; and that the answer matches what a trigger then does, names the
reason and the next eligible time, and writes nothing.
"""

import datetime as dt
import json
import uuid

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.models import Consent
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Decision, Invitation, SendRequest
from tests import factories
from tests.api import assert_error

ELIGIBILITY = "/api/v1/eligibility"
TRIGGERS = "/api/v1/triggers"
MONTH = dt.timedelta(days=30)


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support, name="After your call")


@pytest.fixture
def marketing_survey(marketing):
    return factories.SurveyFactory(department=marketing, name="Spring Campaign Pulse")


@pytest.fixture
def monthly_rule(db):
    return factories.FrequencyRuleFactory(name="One survey a month", max_touches=1, window=MONTH)


@pytest.fixture
def ann(support):
    return factories.known_contact(support, email="ann@example.com")


def ask(client, survey, contact=None, *, reference: dict | None = None, **fields):
    """Ask about `contact` (by its id, as the API shows it), or about the contact `reference` names."""
    reference = reference or {"id": str(contact.public_id)}
    body = {"survey": survey.pk, "channel": "email", "contact": reference, **fields}
    return client.post(ELIGIBILITY, body, format="json")


def next_full_hour(at: dt.datetime) -> dt.datetime:
    """What a department is shown of an exact time: the next full hour (none of these is on one)."""
    return at.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)


def gatekeeper_rows() -> tuple[int, int, int]:
    return SendRequest.objects.count(), Decision.objects.count(), Invitation.objects.count()


def touched_by_marketing(contact, survey, days_ago: int) -> dt.datetime:
    """Marketing, which knows the person by the same email, sent them `survey` `days_ago` days ago."""
    factories.DepartmentContactFactory(department=survey.department, contact=contact)
    for identity in contact.identities.all():
        factories.DepartmentIdentityFactory(department=survey.department, identity=identity)
    touched = timezone.now() - dt.timedelta(days=days_ago)
    trigger_send(
        department=survey.department, survey=survey, channel="email", contact_id=contact.pk, now=touched
    )
    return touched


# Works


def test_an_eligible_contact_is_allowed(support_api, survey, ann, monthly_rule):
    response = ask(support_api, survey, ann)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "decision": {
            "allowed": True,
            "reason": "",
            "rule": None,
            "next_eligible_at": None,
            "explanation": "Allowed.",
        },
        "invitation": None,
        "contact": {"id": str(ann.public_id)},
    }


def test_a_contact_is_found_by_any_identity_normalised(support_api, survey, ann):
    response = ask(
        support_api, survey, reference={"identities": [{"kind": "email", "value": " ANN@Example.com"}]}
    )

    assert response.status_code == 200, response.content
    assert response.json()["contact"] == {"id": str(ann.public_id)}


def test_a_blocked_contact_gets_the_reason_next_eligible_time_and_a_discreet_explanation(
    support_api, survey, marketing_survey, ann, monthly_rule
):
    touched = touched_by_marketing(ann, marketing_survey, days_ago=12)

    response = ask(support_api, survey, ann)

    assert response.status_code == 200
    decision = response.json()["decision"]
    assert (decision["allowed"], decision["reason"], decision["rule"]) == (False, "rule", monthly_rule.pk)
    # To the full hour, rounded up: the exact time would be marketing's send plus the rule's month.
    assert parse_datetime(decision["next_eligible_at"]) == next_full_hour(touched + MONTH)
    assert "Contacted by another department 12 days ago" in decision["explanation"]
    assert "eligible from" in decision["explanation"]
    # The survey's id as an explanation would carry it; a bare number would match the date's digits.
    secrets = (
        "Marketing",
        "marketing",
        "Spring Campaign Pulse",
        f"#{marketing_survey.pk}",
        f"survey {marketing_survey.pk}",
    )
    for secret in secrets:
        assert secret not in decision["explanation"]


def test_asking_about_a_later_time_answers_for_that_time(
    support_api, survey, marketing_survey, ann, monthly_rule
):
    touched = touched_by_marketing(ann, marketing_survey, days_ago=12)

    after = ask(support_api, survey, ann, at=(touched + MONTH + dt.timedelta(minutes=1)).isoformat())

    assert after.json()["decision"]["allowed"] is True


def test_a_snoozed_contact_is_eligible_when_the_snooze_ends(support_api, survey, ann):
    until = timezone.now() + dt.timedelta(days=5)
    factories.ConsentFactory(contact=ann, kind=Consent.Kind.SNOOZE, until=until)

    decision = ask(support_api, survey, ann).json()["decision"]

    assert (decision["allowed"], decision["reason"]) == (False, "snoozed")
    assert parse_datetime(decision["next_eligible_at"]) == next_full_hour(until)


def test_an_opted_out_contact_is_not_eligible(support_api, survey, ann):
    factories.ConsentFactory(contact=ann, kind=Consent.Kind.OPT_OUT)

    decision = ask(support_api, survey, ann).json()["decision"]

    assert (decision["allowed"], decision["reason"], decision["next_eligible_at"]) == (
        False,
        "opted_out",
        None,
    )


def test_an_sms_question_for_a_contact_without_a_phone_is_no_address(support_api, survey, ann):
    decision = ask(support_api, survey, ann, channel="sms").json()["decision"]

    assert (decision["allowed"], decision["reason"]) == (False, "no_address")


# Reserves nothing


def test_asking_reserves_nothing_and_the_trigger_then_agrees(support_api, survey, ann, monthly_rule):
    before = gatekeeper_rows()

    answers = [ask(support_api, survey, ann).json()["decision"]["allowed"] for _ in range(3)]

    assert answers == [True, True, True]
    assert gatekeeper_rows() == before == (0, 0, 0)
    trigger = support_api.post(
        TRIGGERS,
        {
            "survey": survey.pk,
            "channel": "email",
            "contact": {"identities": [{"kind": "email", "value": "ann@example.com"}]},
        },
        format="json",
    )
    assert trigger.status_code == 201
    after = ask(support_api, survey, ann).json()["decision"]
    assert (after["allowed"], after["reason"]) == (False, "already_invited")


# The usual set: wrong method, another department's objects, bad input, missing objects


def test_wrong_method_is_405(support_api):
    assert_error(support_api.get(ELIGIBILITY), 405)
    assert_error(support_api.delete(ELIGIBILITY), 405)


def test_another_departments_contact_is_404(support_api, survey, marketing):
    theirs = factories.known_contact(marketing, email="zoe@example.com")

    by_id = ask(support_api, survey, theirs)
    by_identity = ask(
        support_api, survey, reference={"identities": [{"kind": "email", "value": "zoe@example.com"}]}
    )

    assert_error(by_id, 404, "not_found")
    assert_error(by_identity, 404, "not_found")


def test_another_departments_survey_is_404(marketing_api, marketing, survey):
    theirs = factories.known_contact(marketing, email="zoe@example.com")

    assert_error(ask(marketing_api, survey, theirs), 404, "not_found")


def test_a_missing_contact_or_survey_is_404(support_api, survey, ann):
    missing_contact = support_api.post(
        ELIGIBILITY,
        {"survey": survey.pk, "channel": "email", "contact": {"id": str(uuid.uuid4())}},
        format="json",
    )
    missing_survey = support_api.post(
        ELIGIBILITY,
        {"survey": survey.pk + 1000, "channel": "email", "contact": {"id": str(ann.public_id)}},
        format="json",
    )

    assert_error(missing_contact, 404, "not_found")
    assert_error(missing_survey, 404, "not_found")


def test_another_departments_contact_answers_as_a_contact_nobody_has(support_api, survey, marketing):
    theirs = factories.known_contact(marketing, email="zoe@example.com")
    nobodys = uuid.uuid4()

    mine_not = ask(support_api, survey, theirs)
    missing = ask(support_api, survey, reference={"id": str(nobodys)})

    assert mine_not.status_code == missing.status_code == 404
    assert mine_not.json() == _with_id(missing.json(), nobodys, theirs.public_id)


def _with_id(body: dict, old: uuid.UUID, new: uuid.UUID) -> dict:
    """The error body as it would read for id `new`: the body names the id asked about, nothing else."""
    return json.loads(json.dumps(body).replace(str(old), str(new)))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"contact": {}}, "contact"),
        (
            {
                "contact": {
                    "id": str(uuid.uuid4()),
                    "identities": [{"kind": "email", "value": "a@example.com"}],
                }
            },
            "contact",
        ),
        ({"at": "next tuesday"}, "at"),
        ({"survey": None}, "survey"),
        ({"contact": {"id": 12}}, "contact"),  # an integer id: ids are UUIDs
        ({"contact": {"id": "ann"}}, "contact"),
    ],
)
def test_bad_input_is_400_naming_the_field(support_api, survey, ann, change, field):
    body = {"survey": survey.pk, "channel": "email", "contact": {"id": str(ann.public_id)}} | change

    error = assert_error(support_api.post(ELIGIBILITY, body, format="json"), 400, "invalid")

    assert error["message"].startswith(field)
    assert field in error["extra"]["fields"]


def test_an_invalid_identity_is_400(support_api, survey, ann):
    response = ask(support_api, survey, reference={"identities": [{"kind": "phone", "value": "call me"}]})

    assert "phone" in assert_error(response, 400)["message"]


def test_a_national_number_is_read_in_the_departments_region(support, support_api, survey):
    """A US department's customer, imported as (201) 555-0123, is found by that same spelling, and a
    contact list filter by it finds the same person (not a German number)."""
    support.phone_region = "US"
    support.save(update_fields=["phone_region"])
    upserted = support_api.post(
        "/api/v1/contacts", {"identities": [{"kind": "phone", "value": "(201) 555-0123"}]}, format="json"
    )
    assert upserted.status_code == 201, upserted.content

    asked = ask(support_api, survey, reference={"identities": [{"kind": "phone", "value": "(201) 555-0123"}]})
    listed = support_api.get("/api/v1/contacts", {"phone": "(201) 555-0123"})

    assert asked.status_code == 200, asked.content
    assert asked.json()["contact"]["id"] == upserted.json()["id"]
    assert [contact["id"] for contact in listed.json()["results"]] == [upserted.json()["id"]]
