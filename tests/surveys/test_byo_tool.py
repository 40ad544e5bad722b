"""Bring your own survey tool (issue 16): a department that sends with another tool still goes
through the gate. The eligibility API answers for a survey kind; POST /api/v1/touches/reservations
holds a slot that is confirmed or cancelled afterwards (or released by the beat); POST
/api/v1/responses brings the other tool's answers into the one dashboard.
"""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from results.models import FollowUp
from surveys.delivery.dispatch import invitations_dispatch_due
from surveys.delivery.reservations import reservations_release_expired
from surveys.models import Answer, ExternalTouch, Invitation, Response
from tests import factories
from tests.api import assert_error

ELIGIBILITY = "/api/v1/eligibility"
RESERVATIONS = "/api/v1/touches/reservations"
RESPONSES = "/api/v1/responses"
TRIGGERS = "/api/v1/triggers"
MONTH = dt.timedelta(days=30)
ANN = {"identities": [{"kind": "email", "value": "ann@example.com"}]}


@pytest.fixture
def monthly_rule(db):
    return factories.FrequencyRuleFactory(name="One survey a month", max_touches=1, window=MONTH)


@pytest.fixture
def ann(support):
    return factories.known_contact(support, email="ann@example.com")


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support, name="After your call")


def reserve(client, **fields):
    body = {
        "contact": ANN,
        "survey_kind": "transactional",
        "channel": "email",
        "source_tool": "Typeform",
        **fields,
    }
    return client.post(RESERVATIONS, body, format="json")


def confirm(client, reservation_id, **fields):
    return client.post(f"{RESERVATIONS}/{reservation_id}/confirm", fields, format="json")


def cancel(client, reservation_id):
    return client.post(f"{RESERVATIONS}/{reservation_id}/cancel", {}, format="json")


def trigger(client, survey):
    return client.post(
        TRIGGERS, {"survey": survey.pk, "channel": "email", "contact": ANN}, format="json"
    ).json()


# Eligibility for a survey kind


def test_eligibility_answers_for_a_survey_kind_without_a_survey(support_api, ann, survey, monthly_rule):
    body = {"survey_kind": "relationship", "channel": "email", "contact": ANN}
    assert support_api.post(ELIGIBILITY, body, format="json").json()["decision"]["allowed"] is True

    trigger(support_api, survey)

    decision = support_api.post(ELIGIBILITY, body, format="json").json()["decision"]
    assert (decision["allowed"], decision["reason"]) == (False, "rule")


def test_eligibility_wants_a_survey_or_a_kind_not_both(support_api, ann, survey):
    both = {"survey": survey.pk, "survey_kind": "relationship", "channel": "email", "contact": ANN}
    neither = {"channel": "email", "contact": ANN}

    assert_error(support_api.post(ELIGIBILITY, both, format="json"), 400)
    assert_error(support_api.post(ELIGIBILITY, neither, format="json"), 400)


# Reserve, confirm, cancel


def test_a_reservation_holds_the_slot_and_confirming_records_the_send(support_api, ann, survey, monthly_rule):
    reserved = reserve(support_api)

    assert reserved.status_code == 201, reserved.content
    reservation = reserved.json()["reservation"]
    assert reserved.json()["decision"]["allowed"] is True
    assert reservation["status"] == "reserved" and reservation["sent_at"] is None
    assert trigger(support_api, survey)["decision"]["reason"] == "rule"  # the slot is taken meanwhile

    sent_at = timezone.now().replace(microsecond=0)
    confirmed = confirm(support_api, reservation["id"], sent_at=sent_at.isoformat(), external_id="tf-81")

    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "sent"
    assert confirmed.json()["external_id"] == "tf-81"
    assert confirmed.json()["reserved_until"] is None
    assert Invitation.objects.get(external_touch__public_id=reservation["id"]).sent_at == sent_at
    assert confirm(support_api, reservation["id"]).status_code == 200  # twice: nothing changes
    assert_error(cancel(support_api, reservation["id"]), 409, "reservation_closed")
    assert trigger(support_api, survey)["decision"]["reason"] == "rule"


def test_a_cancelled_reservation_frees_the_slot(support_api, ann, survey, monthly_rule):
    reservation = reserve(support_api).json()["reservation"]

    cancelled = cancel(support_api, reservation["id"])

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancel(support_api, reservation["id"]).status_code == 200
    assert_error(confirm(support_api, reservation["id"]), 409, "reservation_closed")
    assert trigger(support_api, survey)["decision"]["allowed"] is True


def test_a_blocked_reservation_reserves_nothing(support_api, ann, survey, monthly_rule):
    trigger(support_api, survey)

    response = reserve(support_api)

    assert response.status_code == 200
    assert response.json()["decision"]["reason"] == "rule"
    assert response.json()["reservation"] is None
    assert ExternalTouch.objects.count() == 0


def test_a_replayed_reservation_returns_the_stored_one(support_api, ann):
    first = reserve(support_api, external_id="tf-1").json()["reservation"]

    again = reserve(support_api, external_id="tf-1")

    assert again.status_code == 200
    assert again.json()["reservation"]["id"] == first["id"]
    assert ExternalTouch.objects.count() == 1


def test_an_unconfirmed_reservation_is_released_by_the_beat_and_never_dispatched(
    support_api, ann, survey, monthly_rule
):
    reservation = reserve(support_api).json()["reservation"]
    assert invitations_dispatch_due(now=timezone.now()) == 0  # its request is not one dispatch visits

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=59), tick=False):
        assert reservations_release_expired() == 0
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=61), tick=False):
        assert reservations_release_expired() == 1

    invitation = Invitation.objects.get(external_touch__public_id=reservation["id"])
    assert invitation.status == "cancelled" and "1-hour hold" in invitation.failure_reason
    assert_error(confirm(support_api, reservation["id"]), 409, "reservation_closed")
    assert trigger(support_api, survey)["decision"]["allowed"] is True


def test_another_departments_reservation_is_not_found(support_api, marketing_api, ann):
    reservation = reserve(support_api).json()["reservation"]

    assert_error(confirm(marketing_api, reservation["id"]), 404)
    assert_error(cancel(marketing_api, reservation["id"]), 404)
    assert_error(reserve(marketing_api), 404)  # the contact is support's
    assert Invitation.objects.get().status == "queued"


def test_reservation_bad_input_and_wrong_method(support_api, ann):
    assert_error(reserve(support_api, survey_kind="quarterly"), 400)
    assert support_api.get(RESERVATIONS).status_code == 405
    assert_error(confirm(support_api, "5b1f0c2e-8a7d-4a53-9d0e-1f2a3b4c5d6e"), 404)
    assert ExternalTouch.objects.count() == 0


# Answers from other tools


def ingest(client, **fields):
    body = {
        "contact": ANN,
        "survey_kind": "relationship",
        "channel": "email",
        "source_tool": "SurveyMonkey",
        "external_id": "resp-1",
        "submitted_at": "2026-03-03T17:04:00Z",
        "answers": {"nps": 3, "csat": 5, "ces": 6, "free_text": "Slow, but they fixed it."},
        **fields,
    }
    return client.post(RESPONSES, body, format="json")


def test_ingested_answers_count_in_the_dashboard(support_api, lead_api, ann):
    response = ingest(support_api)

    assert response.status_code == 201, response.content
    headline = lead_api.get("/api/v1/results/summary", {"start": "2026-03-03", "end": "2026-03-03"}).json()[
        "headline"
    ]
    assert (headline["responses"], headline["invitations_sent"]) == (1, 1)
    assert (headline["nps_answers"], headline["detractors"], headline["nps"]) == (1, 1, -100.0)
    assert (headline["csat_answers"], headline["csat_satisfied"], headline["ces_mean"]) == (1, 1, 6.0)
    assert Answer.objects.get(value_text="Slow, but they fixed it.").question.kind == "free_text"
    assert FollowUp.objects.filter(contact=ann).count() == 1  # a detractor is followed up as ours are


def test_an_ingested_response_counts_for_response_clock_rules(support_api, ann, survey):
    factories.FrequencyRuleFactory(
        name="A week after an answer", max_touches=1, window=dt.timedelta(days=7), clock="response"
    )
    ingest(support_api, submitted_at=(timezone.now() - dt.timedelta(days=1)).isoformat())

    assert trigger(support_api, survey)["decision"]["reason"] == "rule"


def test_answers_to_a_recorded_touch_go_on_that_touch(support_api, ann):
    support_api.post(
        "/api/v1/touches",
        {"contact": ANN, "survey_kind": "relationship", "channel": "email", "at": "2026-03-01T09:00:00Z",
         "source_tool": "SurveyMonkey", "external_id": "resp-1"},
        format="json",
    )  # fmt: skip

    response = ingest(support_api, answers={"nps": 10})

    assert response.status_code == 201
    invitation = Invitation.objects.get()
    assert invitation.touched_at.isoformat() == "2026-03-01T09:00:00+00:00"
    assert invitation.responded_at.isoformat() == "2026-03-03T17:04:00+00:00"
    assert Response.objects.get().invitation == invitation


def test_an_ingested_response_replayed_is_stored_once(support_api, ann):
    first = ingest(support_api).json()

    again = ingest(support_api, answers={"nps": 10})

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert Response.objects.count() == 1
    assert Answer.objects.filter(question__kind="nps").get().value_number == 3


@pytest.mark.parametrize("answers", [{"nps": 11}, {"csat": 0}, {"ces": 8}, {}, {"free_text": ""}])
def test_answers_off_their_scale_are_refused(support_api, ann, answers):
    assert_error(ingest(support_api, answers=answers), 400)
    assert Response.objects.count() == Invitation.objects.count() == 0


def test_another_department_cannot_ingest_for_a_contact_it_does_not_know(marketing_api, ann):
    assert_error(ingest(marketing_api), 404)
    assert Response.objects.count() == 0
