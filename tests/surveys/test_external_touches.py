"""POST /api/v1/touches: surveys another tool sent, recorded so the gatekeeper counts them (issue 16).

For the endpoint: works (one, several), replays, wrong method, another department's contact, bad
input; and what a user notices: a recorded touch blocks a later trigger under a rule, explains as
"another department" to another department, shows in the timeline and the results' invitations sent,
and is never reminded, expired again nor handed to a channel by our delivery.
"""

import datetime as dt

import pytest
from django.utils import timezone

from departments.actors import actor_for_user
from results.selectors.timeline import contact_timeline
from surveys.delivery.dispatch import invitations_dispatch_due
from surveys.delivery.invitation_status import invitations_expire_due
from surveys.delivery.reminders import reminders_due
from surveys.models import ExternalTouch, Invitation, SendRequest
from tests import factories
from tests.api import assert_error

TOUCHES = "/api/v1/touches"
TRIGGERS = "/api/v1/triggers"
MONTH = dt.timedelta(days=30)


@pytest.fixture
def monthly_rule(db):
    return factories.FrequencyRuleFactory(name="One survey a month", max_touches=1, window=MONTH)


@pytest.fixture
def ann(support):
    return factories.known_contact(support, email="ann@example.com")


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support, name="After your call")


def touch(contact, *, external_id="qx-1", days_ago=2, **fields) -> dict:
    at = timezone.now() - dt.timedelta(days=days_ago)
    return {
        "contact": {"id": str(contact.public_id)},
        "survey_kind": "transactional",
        "channel": "email",
        "at": at.isoformat(),
        "source_tool": "Qualtrics",
        "external_id": external_id,
        **fields,
    }


def trigger(client, survey, email="ann@example.com"):
    body = {
        "survey": survey.pk,
        "channel": "email",
        "contact": {"identities": [{"kind": "email", "value": email}]},
    }
    return client.post(TRIGGERS, body, format="json")


# Works


def test_a_recorded_touch_is_stored_and_answered_with_its_id(support_api, ann):
    response = support_api.post(TOUCHES, touch(ann), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["contact"] == {"id": str(ann.public_id)}
    assert (body["source_tool"], body["external_id"], body["status"], body["created"]) == (
        "Qualtrics",
        "qx-1",
        "sent",
        True,
    )
    stored = ExternalTouch.objects.get(public_id=body["id"])
    assert stored.invitation.contact_id == ann.pk
    assert stored.invitation.sent_at == stored.invitation.touched_at


def test_a_recorded_touch_blocks_a_later_trigger_under_a_rule(support_api, ann, survey, monthly_rule):
    support_api.post(TOUCHES, touch(ann, days_ago=3), format="json")

    answer = trigger(support_api, survey).json()

    assert answer["decision"]["allowed"] is False
    assert answer["decision"]["reason"] == "rule"
    assert answer["invitation"] is None


def test_a_touch_older_than_the_window_does_not_block(support_api, ann, survey, monthly_rule):
    support_api.post(TOUCHES, touch(ann, days_ago=31), format="json")

    assert trigger(support_api, survey).json()["decision"]["allowed"] is True


def test_a_replay_returns_the_same_touch_and_records_nothing_more(support_api, ann):
    first = support_api.post(TOUCHES, touch(ann), format="json").json()

    again = support_api.post(TOUCHES, touch(ann, days_ago=1), format="json")

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["created"] is False
    assert ExternalTouch.objects.count() == Invitation.objects.count() == 1


def test_several_touches_in_one_call(support, support_api, ann):
    bob = factories.known_contact(support, email="bob@example.com")
    body = {
        "touches": [
            touch(ann, external_id="w-1"),
            {
                **touch(bob, external_id="w-2"),
                "contact": {"identities": [{"kind": "email", "value": "bob@example.com"}]},
            },
            touch(ann, external_id="w-1"),  # the same send twice in one file: one touch
            touch(ann, external_id="w-3", days_ago=40, survey_kind="relationship", channel="sms"),
        ]
    }

    response = support_api.post(TOUCHES, body, format="json")

    assert response.status_code == 201, response.content
    answers = response.json()["touches"]
    assert [a["external_id"] for a in answers] == ["w-1", "w-2", "w-1", "w-3"]
    assert answers[0]["id"] == answers[2]["id"]
    assert answers[1]["contact"] == {"id": str(bob.public_id)}
    assert Invitation.objects.filter(contact=ann).count() == 2
    assert Invitation.objects.filter(contact=bob).count() == 1
    assert support_api.post(TOUCHES, body, format="json").status_code == 200  # all replays


def test_another_departments_touch_explains_as_another_department(
    marketing, marketing_api, support_api, ann, survey, monthly_rule
):
    factories.DepartmentContactFactory(department=marketing, contact=ann)
    for identity in ann.identities.all():
        factories.DepartmentIdentityFactory(department=marketing, identity=identity)
    marketing_api.post(TOUCHES, touch(ann, source_tool="Medallia"), format="json")

    decision = trigger(support_api, survey).json()["decision"]

    assert decision["reason"] == "rule"
    assert "by another department" in decision["explanation"]
    assert "Medallia" not in decision["explanation"]


def test_a_touch_shows_in_the_timeline_and_the_results(support, support_api, alice, ann, lead_api):
    at = timezone.now() - dt.timedelta(days=2)
    support_api.post(TOUCHES, {**touch(ann), "at": at.isoformat()}, format="json")

    timeline = contact_timeline(actor=actor_for_user(alice), contact_id=ann.pk)
    entries = [e for e in timeline.entries if e.kind == "invitation"]
    assert [e.title for e in entries] == ["Invited to “Transactional surveys from other tools” by email"]
    day = at.date().isoformat()
    headline = lead_api.get("/api/v1/results/summary", {"start": day, "end": day}).json()["headline"]
    assert headline["invitations_sent"] == 1


def test_delivery_never_reminds_expires_or_sends_a_recorded_touch(support_api, ann):
    support_api.post(TOUCHES, touch(ann, days_ago=20), format="json")
    invitation = Invitation.objects.get()
    now = timezone.now()

    assert invitations_expire_due(now=now) == 0
    assert not Invitation.objects.filter(reminders_due(now=now)).exists()
    assert invitations_dispatch_due(now=now) == 0
    invitation.refresh_from_db()
    assert invitation.status == "expired" and invitation.reminders_sent == 0
    assert SendRequest.objects.get().status == "completed"


def test_the_placeholder_survey_cannot_be_triggered(support_api, ann):
    support_api.post(TOUCHES, touch(ann), format="json")
    placeholder = Invitation.objects.get().survey

    response = support_api.post(
        TRIGGERS,
        {
            "survey": placeholder.pk,
            "channel": "email",
            "contact": {"identities": [{"kind": "email", "value": "x@y.z"}]},
        },
        format="json",
    )

    assert_error(response, 400, "invalid_send_request")
    assert placeholder.name not in str(support_api.get("/api/v1/surveys").json())


# Wrong method, bad input, other departments


def test_wrong_method(support_api):
    assert support_api.get(TOUCHES).status_code == 405


@pytest.mark.parametrize(
    "change",
    [
        {"external_id": ""},
        {"survey_kind": "quarterly"},
        {"channel": "pigeon"},
        {"at": "yesterday"},
        {"contact": {}},
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(support_api, ann, change):
    body = assert_error(support_api.post(TOUCHES, {**touch(ann), **change}, format="json"), 400)

    assert body["message"]
    assert ExternalTouch.objects.count() == 0


def test_more_than_a_thousand_touches_are_refused(support_api, ann):
    body = {"touches": [touch(ann, external_id=f"x-{n}") for n in range(1001)]}

    body = assert_error(support_api.post(TOUCHES, body, format="json"), 400)

    assert "1000" in body["message"]
    assert Invitation.objects.count() == 0


def test_a_bulk_call_names_the_touch_whose_contact_is_unknown_and_records_none(support_api, ann):
    stranger = {"identities": [{"kind": "email", "value": "nobody@example.com"}]}
    body = {"touches": [touch(ann, external_id="a"), {**touch(ann, external_id="b"), "contact": stranger}]}

    error = assert_error(support_api.post(TOUCHES, body, format="json"), 404)

    assert error["extra"]["touch"] == 1
    assert Invitation.objects.count() == 0


def test_another_departments_contact_is_not_found(marketing_api, ann):
    by_id = marketing_api.post(TOUCHES, touch(ann), format="json")
    by_email = marketing_api.post(
        TOUCHES,
        {**touch(ann), "contact": {"identities": [{"kind": "email", "value": "ann@example.com"}]}},
        format="json",
    )

    assert_error(by_id, 404)
    assert_error(by_email, 404)
    assert by_id.json()["message"].startswith("Contact")
    assert Invitation.objects.count() == 0


def test_the_same_external_id_in_another_department_is_its_own_touch(
    marketing, marketing_api, support_api, ann
):
    factories.DepartmentContactFactory(department=marketing, contact=ann)
    first = support_api.post(TOUCHES, touch(ann), format="json").json()

    theirs = marketing_api.post(TOUCHES, touch(ann), format="json")

    assert theirs.status_code == 201
    assert theirs.json()["id"] != first["id"]


def test_the_calendar_counts_a_touch_as_sent_but_lists_no_request_for_it(support_api, lead_api, ann):
    at = timezone.now() - dt.timedelta(days=2)
    support_api.post(TOUCHES, {**touch(ann), "at": at.isoformat()}, format="json")
    day = at.date().isoformat()

    body = lead_api.get("/api/v1/calendar", {"start": day, "end": day}).json()

    [row] = body["days"][0]["departments"]
    assert (row["sent"], row["send_requests"]) == (1, [])
