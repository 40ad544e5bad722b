"""A send request's delivery progress, as its owner watches it in the admin and the API: counts by
state (sent, held for quiet hours, planned, failed and cancelled with their reasons), a progress bar,
a page that refreshes itself only while something is due, and nothing for another department."""

import datetime as dt
import re
import uuid

import pytest
import time_machine
from django.urls import reverse

from contacts.models import Consent
from departments.models import CompanySettings
from surveys.delivery.dispatch import invitations_dispatch_due, send_request_complete_finished
from surveys.delivery.sending import invitations_send_batch
from surveys.models import Invitation
from tests import factories
from tests.smtp import loopback_smtp, send_through

NIGHT_IN_BERLIN = dt.datetime(2026, 6, 10, 23, 0, tzinfo=dt.UTC)  # 01:00 in Berlin, 19:00 in New York
MORNING_IN_BERLIN = dt.datetime(2026, 6, 11, 6, 0, tzinfo=dt.UTC)  # 08:00 in Berlin


@pytest.fixture
def smtp_server(settings):
    with loopback_smtp() as server:
        send_through(settings, server)
        yield server


@pytest.fixture
def night_send(support, settings, smtp_server):
    """Five contacts at 01:00 Berlin: one sent, one held for quiet hours, one refused by the mail
    server, one opted out after screening, one due and not yet sent."""
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "21:00", "08:00"
    for name, zone in (
        ("day", "America/New_York"),
        ("night", "Europe/Berlin"),
        ("refused", "America/New_York"),
    ):
        factories.known_contact(support, email=f"{name}@example.com", time_zone=zone)
    opted_out = factories.known_contact(support, email="optout@example.com", time_zone="America/New_York")
    factories.known_contact(support, email="later@example.com", time_zone="Asia/Tokyo")
    smtp_server.handler.refuse["refused@example.com"] = "550 5.1.1 No such user here"
    with time_machine.travel(NIGHT_IN_BERLIN, tick=False):
        send_request = factories.screened_request(support)
        factories.ConsentFactory(contact=opted_out, kind=Consent.Kind.OPT_OUT)
        invitations_dispatch_due()
        waiting = Invitation.objects.get(contact__identities__value="later@example.com")
        others = Invitation.objects.filter(send_request=send_request).exclude(pk=waiting.pk)
        invitations_send_batch(invitation_ids=list(others.values_list("pk", flat=True)))
    return send_request


def page_of(client, send_request) -> str:
    return client.get(reverse("admin:surveys_sendrequest_preflight", args=[send_request.pk])).content.decode()


def row(page: str, state: str) -> str:
    return re.search(rf'<tr class="delivery-{state}">(.*?)</tr>', page, re.S).group(1)


def test_the_request_page_counts_each_state_with_reasons_and_refreshes_while_due(alice_client, night_send):
    with time_machine.travel(NIGHT_IN_BERLIN + dt.timedelta(minutes=1), tick=False):
        page = page_of(alice_client, night_send)

    assert '<progress id="delivery-bar" max="5" value="3">60%</progress>' in page
    assert "3 of 5 invitations" in page
    assert re.search(r"<td>1</td>", row(page, "sent"))
    held = row(page, "held")
    assert "<td>1</td>" in held and "Sent from 08:00 in the contact&#x27;s own time zone." in held
    failed = row(page, "failed")
    assert "<td>1</td>" in failed and "550 5.1.1 No such user here" in failed
    assert "opted_out" in row(page, "cancelled")
    assert "waiting for a sender" in row(page, "queued")
    # Due now: the page reloads itself, without JavaScript.
    assert '<meta http-equiv="refresh" content="5">' in page
    invitations = reverse("admin:surveys_invitation_changelist") + f"?send_request__id__exact={night_send.pk}"
    assert f'href="{invitations}"' in page.replace("&amp;", "&")


def test_the_invitation_list_says_why_a_queued_invitation_waits(alice_client, night_send):
    url = reverse("admin:surveys_invitation_changelist") + f"?send_request__id__exact={night_send.pk}"
    with time_machine.travel(NIGHT_IN_BERLIN + dt.timedelta(minutes=1), tick=False):
        page = alice_client.get(url).content.decode()

    assert "Held for quiet hours until 08:00 local" in page
    assert "Due: waiting for a sender" in page
    assert "550 5.1.1 No such user here" in page


def test_once_everything_is_sent_the_page_shows_100_percent_and_stops_refreshing(alice_client, night_send):
    with time_machine.travel(MORNING_IN_BERLIN, tick=False):
        invitations_dispatch_due()
        queued = Invitation.objects.filter(send_request=night_send, status="queued")
        invitations_send_batch(invitation_ids=list(queued.values_list("pk", flat=True)))
        send_request_complete_finished()
        page = page_of(alice_client, night_send)

    assert '<progress id="delivery-bar" max="5" value="5">100%</progress>' in page
    assert re.search(r"<td>3</td>", row(page, "sent"))
    assert 'http-equiv="refresh"' not in page


def test_the_api_detail_carries_the_same_counts_and_another_department_sees_nothing(
    support_api, marketing_api, night_send
):
    url = f"/api/v1/send-requests/{night_send.public_id}"
    with time_machine.travel(NIGHT_IN_BERLIN + dt.timedelta(minutes=1), tick=False):
        ours = support_api.get(url)
        theirs = marketing_api.get(url)

    progress = ours.json()["progress"]
    assert {key: progress[key] for key in ("total", "sent", "held", "queued", "failed", "cancelled")} == {
        "total": 5,
        "sent": 1,
        "held": 1,
        "queued": 1,
        "failed": 1,
        "cancelled": 1,
    }
    assert progress["percent"] == 60 and progress["held_until"] == "2026-06-11T06:00:00Z"
    assert {r["state"] for r in progress["reasons"]} == {"held", "queued", "failed", "cancelled"}
    assert theirs.status_code == 404 and "progress" not in theirs.content.decode()
    unknown = uuid.uuid4()
    # Worded as for a request that does not exist.
    assert theirs.json()["message"] == f"Send request {night_send.public_id} not found."
    assert marketing_api.get(f"/api/v1/send-requests/{unknown}").json()["message"] == (
        f"Send request {unknown} not found."
    )


def test_a_draft_has_no_progress(support_api, support):
    draft = factories.SendRequestFactory(department=support)

    assert support_api.get(f"/api/v1/send-requests/{draft.public_id}").json()["progress"] is None


def test_another_departments_owner_cannot_open_the_request_page(mallory_client, night_send):
    response = mallory_client.get(reverse("admin:surveys_sendrequest_preflight", args=[night_send.pk]))

    assert response.status_code == 404


def test_invitations_of_a_request_awaiting_approval_wait_for_the_approval_not_a_sender(
    alice_client, support, alice
):
    CompanySettings.objects.update_or_create(pk=1, defaults={"approval_threshold": 1})
    for n in range(2):
        factories.known_contact(support, email=f"c{n}@example.com")
    held = factories.screened_request(support, created_by=alice)
    assert held.status == "awaiting_approval"

    page = page_of(alice_client, held)

    queued = row(page, "queued")
    assert "<td>2</td>" in queued and "waiting for a CX lead&#x27;s approval" in queued
    assert "waiting for a sender" not in page
    assert 'http-equiv="refresh"' not in page  # nothing happens until a CX lead decides
