"""Times of another department's activity reach a department no finer than the hour (issue 12).

An exact next-eligible time is another department's send time plus a rule's window, and every
contact sharing it was in that send. So a department reads next_eligible_at rounded up to the next
full hour everywhere it is shown one — the decisions, the eligibility and trigger answers, the
explanation's words, the pre-flight's best send time — while a CX lead reads it exact, and the
gatekeeper keeps and plans with the exact time.
"""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from surveys.gatekeeper.decisions import hour_ceil
from surveys.models import Decision
from tests import factories

WINDOW = dt.timedelta(hours=48)
# Marketing's one send: about 30 hours ago at minute 17:23.456 (UTC), whatever the time of day the
# tests run, so support's questions now fall inside the rule's window, the send reads "1 day ago",
# and the window ends within a day, near enough for the explanation to give the hour.
SENT = (timezone.now() - dt.timedelta(hours=30)).replace(minute=17, second=23, microsecond=456000)
EXACT = SENT + WINDOW  # about 18 hours from now, at hh:17:23.456
SHOWN = EXACT.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)  # the next full hour
EXACT_MINUTE = f"{EXACT:%H:%M}"


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support, name="After your call")


@pytest.fixture
def blocked(support, marketing, survey):
    """Ann and Bob, two of support's contacts whom marketing knows too, both surveyed by marketing's
    one send request at SENT; then support's own request, screened now, blocked for both."""
    factories.FrequencyRuleFactory(name="One survey in two days", max_touches=1, window=WINDOW)
    contacts = [
        factories.known_contact(support, email="ann@example.com"),
        factories.known_contact(support, email="bob@example.com"),
    ]
    for contact in contacts:
        factories.DepartmentContactFactory(department=marketing, contact=contact)
        for identity in contact.identities.all():
            factories.DepartmentIdentityFactory(department=marketing, identity=identity)
    factories.screened_request(marketing, now=SENT, earliest_send_at=SENT)
    return factories.screened_request(support, survey=survey), contacts


def test_one_send_of_another_department_shows_as_the_next_full_hour_for_every_contact(support_api, blocked):
    request, _contacts = blocked

    body = support_api.get(f"/api/v1/send-requests/{request.public_id}/decisions").json()

    assert [(d["reason"], parse_datetime(d["next_eligible_at"])) for d in body["results"]] == [
        ("rule", SHOWN),
        ("rule", SHOWN),
    ]
    for decision in body["results"]:
        assert "Contacted by another department 1 day ago" in decision["explanation"]
        assert f"eligible from {SHOWN.day} {SHOWN:%b %Y}, {SHOWN:%H}:00 UTC." in decision["explanation"]
        assert EXACT_MINUTE not in decision["explanation"]


def test_a_cx_lead_sees_the_exact_time_and_the_gatekeeper_keeps_it(lead_api, blocked):
    request, _contacts = blocked

    body = lead_api.get(f"/api/v1/send-requests/{request.public_id}/decisions").json()

    assert [parse_datetime(d["next_eligible_at"]) for d in body["results"]] == [EXACT, EXACT]
    assert all(f"{EXACT_MINUTE} UTC" in d["explanation"] for d in body["results"])
    assert set(Decision.objects.filter(send_request=request).values_list("next_eligible_at", flat=True)) == {
        EXACT
    }


def test_eligibility_shows_a_department_the_hour_and_a_cx_lead_the_exact_time(
    support_api, lead_api, survey, blocked
):
    _request, contacts = blocked

    def next_eligible(client, contact, **fields):
        body = {"survey": survey.pk, "channel": "email", "contact": {"id": str(contact.public_id)}, **fields}
        response = client.post("/api/v1/eligibility", body, format="json")
        assert response.status_code == 200, response.content
        return parse_datetime(response.json()["decision"]["next_eligible_at"])

    assert [next_eligible(support_api, contact) for contact in contacts] == [SHOWN, SHOWN]
    assert next_eligible(lead_api, contacts[0], department="support") == EXACT


def test_a_blocked_trigger_shows_the_hour(support_api, survey, blocked):
    response = support_api.post(
        "/api/v1/triggers",
        {
            "survey": survey.pk,
            "channel": "email",
            "contact": {"identities": [{"kind": "email", "value": "ann@example.com"}]},
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert parse_datetime(response.json()["decision"]["next_eligible_at"]) == SHOWN


def test_a_preflight_plans_contacts_whose_block_ends_inside_the_window_and_sends_the_rest_now(
    support_api, lead_api, support, survey, blocked
):
    """Issue 14: a block ending inside the window is planned for its end, so the best time to send
    is now for department and CX lead alike; a window closing before the block ends plans no one."""
    now = timezone.now()
    roomy = factories.SendRequestFactory(department=support, survey=survey, latest_send_at=now + 5 * WINDOW)
    too_short = factories.SendRequestFactory(
        department=support, survey=survey, latest_send_at=EXACT - dt.timedelta(minutes=10)
    )

    def preflight(client, request):
        with time_machine.travel(now, tick=False):
            response = client.get(f"/api/v1/send-requests/{request.public_id}/preflight")
        assert response.status_code == 200, response.content
        body = response.json()
        sends_now = body["best_send_at"] == body["planned_send_at"]
        return sends_now, body["planned_later"], body["blocked_total"]

    for client in (support_api, lead_api):
        assert preflight(client, roomy) == (True, 2, 0)
        assert preflight(client, too_short) == (True, 0, 2)


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        ("2027-03-03T10:17:23.456+00:00", "2027-03-03T11:00:00+00:00"),
        ("2027-03-03T10:00:00.000001+00:00", "2027-03-03T11:00:00+00:00"),
        ("2027-03-03T11:00:00+00:00", "2027-03-03T11:00:00+00:00"),  # on the hour: stays
        ("2027-03-03T23:59:59+00:00", "2027-03-04T00:00:00+00:00"),
        ("2027-03-03T16:17:00+05:30", "2027-03-03T11:00:00+00:00"),  # full hours of UTC
    ],
)
def test_hour_ceil(exact, shown):
    assert hour_ceil(dt.datetime.fromisoformat(exact)) == dt.datetime.fromisoformat(shown)
