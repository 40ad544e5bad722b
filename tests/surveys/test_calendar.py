"""The send calendar (issue 14): per day and department, invitations sent and planned and the requests
whose window is open, and the contacts the requests compete for — in the admin and at /api/v1/calendar.

A fixed week, 8 to 14 March 2025, seen on 12 March at noon:

- support's "Winter check" (sending, window 9 March 09:00 – 11 March 18:00) decided c1–c4 (c4
  blocked): c1 sent on the 9th, c2 on the 10th, c3 deferred by quiet hours to the 13th;
- marketing's "Zyxo spring promo" (screened, from 13 March 09:00, no deadline) decided c2, c3, c5
  (queued for the 13th) and blocked c6;
- marketing's "Zyxo welcome" (completed, from 8 March 09:00, no deadline) sent c1 and c5 on the 8th;
- and what the calendar leaves out as requests: a marketing trigger (its send on the 10th counts),
  a cancelled marketing request and a support draft in the week, a support request of 1 March.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from surveys.models import Decision, Invitation, SendRequest
from tests import factories

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOW = dt.datetime(2025, 3, 12, 12, 0, tzinfo=UTC)
WEEK = {"start": "2025-03-08", "days": "7"}
PAGE = reverse("admin:surveys_sendrequest_calendar")
API = "/api/v1/calendar"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def target(send_request: SendRequest, contact, *, allowed=True, status=None, sent_at=None, touched_at=None,
           send_after=None) -> None:  # fmt: skip
    """A decision for `contact` in `send_request` and, if given a status, its invitation."""
    Decision.objects.create(
        send_request=send_request, contact=contact, allowed=allowed, reason="" if allowed else "rule",
        decided_at=send_request.screened_at or send_request.earliest_send_at,
    )  # fmt: skip
    if status is None:
        return
    survey = send_request.survey
    Invitation.objects.create(
        send_request=send_request, survey=survey, survey_family_id=survey.family_id,
        department=send_request.department, survey_kind=survey.kind, contact=contact, channel="email",
        status=status, touched_at=touched_at or sent_at, sent_at=sent_at, send_after=send_after,
    )  # fmt: skip


def request(department, name: str, status: str, earliest: dt.datetime, **fields) -> SendRequest:
    survey = factories.SurveyFactory(department=department, name=name)
    screened = fields.pop("screened_at", None if status in ("draft", "submitted") else earliest)
    return factories.SendRequestFactory(
        department=department, survey=survey, status=status, earliest_send_at=earliest,
        screened_at=screened, **fields,
    )  # fmt: skip


@pytest.fixture
def week(support, marketing):
    with time_machine.travel(NOW, tick=False):
        c1, c2, c3, c4, c5, c6 = factories.ContactFactory.create_batch(6)
        winter = request(
            support, "Winter check", "sending", at(9, 9), latest_send_at=at(11, 18), screened_at=at(9, 8)
        )
        target(winter, c1, status="sent", sent_at=at(9, 10))
        target(winter, c2, status="answered", sent_at=at(10, 11))
        target(winter, c3, status="queued", touched_at=at(11, 17), send_after=at(13, 8))
        target(winter, c4, allowed=False)
        promo = request(marketing, "Zyxo spring promo", "screened", at(13, 9), screened_at=at(12, 10))
        for contact in (c2, c3, c5):
            target(promo, contact, status="queued", touched_at=at(13, 9))
        target(promo, c6, allowed=False)
        welcome = request(marketing, "Zyxo welcome", "completed", at(8, 9), screened_at=at(8, 9, 5))
        target(welcome, c1, status="sent", sent_at=at(8, 9, 30))
        target(welcome, c5, status="opened", sent_at=at(8, 9, 30))

        trigger = request(marketing, "Zyxo order", "completed", at(10, 10), audience_kind="trigger")
        target(trigger, c4, status="sent", sent_at=at(10, 10, 5))
        cancelled = request(marketing, "Zyxo cancelled", "cancelled", at(10, 9))
        target(cancelled, c1, status="cancelled", touched_at=at(10, 9))
        request(support, "Support draft", "draft", at(10, 9))
        earlier = request(support, "March 1", "completed", at(1, 9), latest_send_at=at(2, 9))
        target(earlier, c3, status="sent", sent_at=at(1, 10))
        yield {"winter": winter, "promo": promo, "welcome": welcome}


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def by_day(body: dict) -> dict[str, dict]:
    """The API's days as {day: {department slug: (sent, planned, [survey names]), "others": …}}."""
    days = {}
    for day in body["days"]:
        rows = {
            row["department"]: (row["sent"], row["planned"], [r["survey_name"] for r in row["send_requests"]])
            for row in day["departments"]
        }
        if day["other_departments"] is not None:
            rows["others"] = (day["other_departments"]["sent"], day["other_departments"]["planned"])
        days[day["day"]] = rows
    return days


def test_a_cx_lead_sees_every_department_by_name_with_its_numbers(week, lead_api, frozen):
    response = lead_api.get(API, WEEK)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["start"], body["end"]) == ("2025-03-08", "2025-03-14")
    assert by_day(body) == {
        "2025-03-08": {"marketing": (2, 0, ["Zyxo welcome"])},
        "2025-03-09": {"support": (1, 0, ["Winter check"])},
        "2025-03-10": {"support": (1, 0, ["Winter check"]), "marketing": (1, 0, [])},  # the trigger
        "2025-03-11": {"support": (0, 0, ["Winter check"])},
        "2025-03-12": {},
        "2025-03-13": {"support": (0, 1, []), "marketing": (0, 3, ["Zyxo spring promo"])},
        "2025-03-14": {},
    }


def test_a_cx_lead_sees_which_requests_compete_for_how_many_contacts(week, lead_api, frozen):
    body = lead_api.get(API, WEEK).json()

    pairs = {(p["first"]["survey_name"], p["second"]["survey_name"]): p["contacts"] for p in body["pairs"]}
    assert {frozenset(names): count for names, count in pairs.items()} == {
        frozenset({"Winter check", "Zyxo spring promo"}): 2,  # c2, c3
        frozenset({"Winter check", "Zyxo welcome"}): 1,  # c1 (the cancelled request's c1 not counted)
        frozenset({"Zyxo spring promo", "Zyxo welcome"}): 1,  # c5
    }
    audiences = {
        a["send_request"]["survey_name"]: (a["audience"], a["other_departments"]) for a in body["audiences"]
    }
    assert audiences == {"Winter check": (4, 3), "Zyxo spring promo": (4, 2), "Zyxo welcome": (2, 1)}


def test_a_department_sees_its_own_requests_and_only_counts_of_the_others(week, support_api, frozen):
    response = support_api.get(API, WEEK)

    assert response.status_code == 200, response.content
    body = response.json()
    assert by_day(body) == {
        "2025-03-08": {"support": (0, 0, []), "others": (2, 0)},
        "2025-03-09": {"support": (1, 0, ["Winter check"]), "others": (0, 0)},
        "2025-03-10": {"support": (1, 0, ["Winter check"]), "others": (1, 0)},
        "2025-03-11": {"support": (0, 0, ["Winter check"]), "others": (0, 0)},
        "2025-03-12": {"support": (0, 0, []), "others": (0, 0)},
        "2025-03-13": {"support": (0, 1, []), "others": (0, 3)},
        "2025-03-14": {"support": (0, 0, []), "others": (0, 0)},
    }
    # One number per own request: 3 of its 4 contacts are targeted by marketing too; no pair names it.
    assert [
        (a["send_request"]["survey_name"], a["audience"], a["other_departments"]) for a in body["audiences"]
    ] == [("Winter check", 4, 3)]
    assert body["pairs"] == []
    text = response.content.decode().lower()
    assert "zyxo" not in text and "marketing" not in text
    assert str(week["promo"].public_id) not in text and str(week["welcome"].public_id) not in text


def test_marketing_sees_pairs_of_its_own_requests_only(week, mallory, frozen):
    client = APIClient()
    client.force_login(mallory)
    body = client.get(API, WEEK).json()

    assert [
        (p["first"]["survey_name"], p["second"]["survey_name"], p["contacts"]) for p in body["pairs"]
    ] in (
        [("Zyxo spring promo", "Zyxo welcome", 1)],
        [("Zyxo welcome", "Zyxo spring promo", 1)],
    )
    assert "winter" not in str(body).lower() and "support" not in str(body).lower()


def test_the_admin_page_shows_a_department_owner_no_other_department(week, alice_client, frozen):
    page = alice_client.get(PAGE, WEEK)

    assert page.status_code == 200
    text = page.content.decode()
    assert "Winter check" in text and "Other departments" in text
    assert "Zyxo" not in text and "Marketing" not in text
    for other in (week["promo"], week["welcome"]):
        assert reverse("admin:surveys_sendrequest_preflight", args=[other.pk]) not in text
    (thirteenth,) = [day for day in page.context["calendar"].days if day.day == dt.date(2025, 3, 13)]
    assert (thirteenth.other_departments.sent, thirteenth.other_departments.planned) == (0, 3)


def test_the_admin_page_shows_a_cx_lead_every_department(week, lead_client, frozen):
    page = lead_client.get(PAGE, WEEK)

    assert page.status_code == 200
    text = page.content.decode()
    for name in ("Winter check", "Zyxo spring promo", "Zyxo welcome", "Support", "Marketing"):
        assert name in text
    assert "Other departments" not in text
    assert "Zyxo order" not in text and "Zyxo cancelled" not in text and "Support draft" not in text


def test_the_send_request_list_links_to_the_calendar(alice_client):
    assert PAGE in alice_client.get(reverse("admin:surveys_sendrequest_changelist")).content.decode()


def test_by_default_a_week_back_to_three_weeks_ahead(support_api, alice_client, frozen):
    body = support_api.get(API).json()

    assert (body["start"], body["end"]) == ("2025-03-05", "2025-04-02")
    assert len(body["days"]) == 29
    assert alice_client.get(PAGE).context["calendar"].calendar_range.days == 29


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"start": "2025-13-01"},
            "start: '2025-13-01' is not a day; write it as YYYY-MM-DD, e.g. 2025-03-01.",
        ),
        (
            {"start": "12/03/2025"},
            "start: '12/03/2025' is not a day; write it as YYYY-MM-DD, e.g. 2025-03-01.",
        ),
        ({"start": "0900-01-01"}, "start: 0900-01-01 is too far off; give a day between 1970 and 2999."),
        ({"days": "63"}, "days: '63' is not a number of days from 1 to 62."),
        ({"days": "0"}, "days: '0' is not a number of days from 1 to 62."),
        ({"days": "a week"}, "days: 'a week' is not a number of days from 1 to 62."),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter_and_value(support_api, alice_client, query, message):
    response = support_api.get(API, query)

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["message"]) == ("invalid", message)
    assert list(body["extra"]["fields"]) == list(query)

    page = alice_client.get(PAGE, query)
    assert page.status_code == 400
    assert page.context["errors"] == [message] and page.context["calendar"] is None


def test_the_api_is_read_only_and_needs_a_caller(client, support_api):
    assert support_api.post(API, WEEK).status_code == 405
    assert client.get(API, WEEK).status_code in (401, 403)


def test_the_query_count_does_not_grow_with_requests_and_days(week, lead_api, support, frozen,
                                                             django_assert_num_queries):  # fmt: skip
    lead_api.get(API, WEEK)  # the session and permissions, read once
    with CaptureQueriesContext(connection) as before:
        lead_api.get(API, WEEK)
    for day in (9, 10, 11):
        more = request(support, f"More {day}", "completed", at(day, 9), latest_send_at=at(day, 18))
        target(more, factories.ContactFactory(), status="sent", sent_at=at(day, 10))

    with django_assert_num_queries(len(before)):
        lead_api.get(API, {"start": "2025-03-01", "days": "31"})
