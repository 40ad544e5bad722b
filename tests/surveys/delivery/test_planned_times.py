"""Planned times include quiet hours: a trigger's planned_at and the pre-flight say when a contact's
local night holds the send, instead of "now"."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from contacts.models import Consent
from departments.actors import actor_for_user
from surveys.gatekeeper.preflight import preflight_summary, send_request_preflight
from surveys.gatekeeper.send_requests import send_request_create
from tests import factories

NIGHT_IN_BERLIN = dt.datetime(2026, 6, 10, 23, 0, tzinfo=dt.UTC)  # 01:00 in Berlin, 19:00 in New York
BERLIN_MORNING = dt.datetime(2026, 6, 11, 6, 0, tzinfo=dt.UTC)  # 08:00 in Berlin


@pytest.fixture(autouse=True)
def night(settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "21:00", "08:00"


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support, name="After your call", kind="transactional")


def trigger(client, survey, email: str, time_zone: str):
    body = {
        "survey": survey.pk,
        "channel": "email",
        "contact": {"identities": [{"kind": "email", "value": email}], "time_zone": time_zone},
    }
    return client.post("/api/v1/triggers", body, format="json")


def test_a_trigger_for_someone_asleep_is_planned_for_their_morning(support_api, survey):
    with time_machine.travel(NIGHT_IN_BERLIN, tick=False):
        asleep = trigger(support_api, survey, "berlin@example.com", "Europe/Berlin")
        awake = trigger(support_api, survey, "newyork@example.com", "America/New_York")

    assert asleep.status_code == awake.status_code == 201
    assert asleep.json()["invitation"]["planned_at"] == "2026-06-11T06:00:00Z"
    assert awake.json()["invitation"]["planned_at"] == "2026-06-10T23:00:00Z"


def test_a_trigger_for_a_known_contact_reads_the_zone_the_department_knows(support, support_api, survey):
    """The trigger's fast path (nothing about the contact changes) reads the zone with the contact:
    the department's view of the person wins over the person's own."""
    berliner = factories.known_contact(support, email="berlin@example.com", time_zone="Europe/Berlin")
    berliner.time_zone = "America/New_York"  # the person's own zone, which the department's view overrides
    berliner.save(update_fields=["time_zone"])
    body = {
        "survey": survey.pk,
        "channel": "email",
        "contact": {"identities": [{"kind": "email", "value": "berlin@example.com"}]},
    }

    with time_machine.travel(NIGHT_IN_BERLIN, tick=False):
        answer = support_api.post("/api/v1/triggers", body, format="json")

    assert answer.status_code == 201
    assert answer.json()["invitation"]["planned_at"] == "2026-06-11T06:00:00Z"


@pytest.fixture
def draft(alice, support, survey):
    factories.known_contact(support, email="berlin@example.com", time_zone="Europe/Berlin")
    factories.known_contact(support, email="newyork@example.com", time_zone="America/New_York")
    opted_out = factories.known_contact(support, email="asleep-out@example.com", time_zone="Europe/Berlin")
    factories.ConsentFactory(contact=opted_out, kind=Consent.Kind.OPT_OUT, created_at=NIGHT_IN_BERLIN)
    return send_request_create(
        actor=actor_for_user(alice),
        department=support,
        survey=survey,
        channel="email",
        audience_kind="all_known",
        earliest_send_at=NIGHT_IN_BERLIN,
        now=NIGHT_IN_BERLIN,
    )


def test_the_preflight_counts_eligible_contacts_held_by_their_quiet_hours(draft):
    with time_machine.travel(NIGHT_IN_BERLIN, tick=False):
        report = preflight_summary(send_request_preflight(send_request=draft))

    assert report["eligible_now"] == 2
    # Berlin is asleep (the opted-out Berlin contact is not eligible, so not held); New York is not.
    assert (report["quiet_hours_held"], report["quiet_hours_until"]) == (1, BERLIN_MORNING)
    assert report["quiet_hours_end_local"] == "08:00"


def test_the_preflight_page_and_api_say_who_waits_for_the_morning(alice_client, support_api, draft):
    with time_machine.travel(NIGHT_IN_BERLIN, tick=False):
        page = alice_client.get(
            reverse("admin:surveys_sendrequest_preflight", args=[draft.pk])
        ).content.decode()
        api = support_api.get(f"/api/v1/send-requests/{draft.public_id}/preflight").json()

    held = re.search(r'<div id="quiet-hours-held">(.*?)</div>', page, re.S).group(1)
    assert "1 eligible contact is in their quiet hours then: held until 08:00 in their own time zone" in held
    assert "the last by 11 Jun 2026, 06:00 UTC" in held
    assert (api["quiet_hours_held"], api["quiet_hours_until"]) == (1, "2026-06-11T06:00:00Z")


def test_in_daytime_nobody_is_held(draft):
    with time_machine.travel(dt.datetime(2026, 6, 11, 14, 0, tzinfo=dt.UTC), tick=False):  # 16:00 / 10:00
        report = preflight_summary(send_request_preflight(send_request=draft))

    assert (report["quiet_hours_held"], report["quiet_hours_until"]) == (0, None)
