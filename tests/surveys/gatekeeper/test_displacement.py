"""Priority arbitration (issue 14): a request of higher priority takes the slot a lower-priority
request reserved but has not handed to a channel; the reservation that makes way is re-planned
inside its own window, or cancelled with a reason its department reads. Equal priorities stay first
come, first served; a reservation a worker is claiming is sent, not displaced."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connections, transaction
from django.utils import timezone

from surveys.gatekeeper.displacement import DISPLACED_REASON, REPLANNED_REASON
from surveys.gatekeeper.rules import Rule, Touch, rule_peak
from surveys.gatekeeper.send_requests import send_request_screen
from surveys.models import Decision, FrequencyRule, Invitation
from tests import factories

DAY = dt.timedelta(days=1)
NOW = timezone.now().replace(microsecond=0)
WEEK = 7 * DAY


@pytest.fixture
def bob(support, marketing):
    """Known to both departments, with an address each may use; one survey a week at most."""
    factories.FrequencyRuleFactory(name="Weekly", max_touches=1, window=WEEK)
    bob = factories.known_contact(support, email="bob@example.com")
    factories.DepartmentContactFactory(department=marketing, contact=bob)
    for identity in bob.identities.all():
        factories.DepartmentIdentityFactory(department=marketing, identity=identity)
    return bob


def screened(department, *, priority: int, latest: dt.datetime | None = None):
    request = factories.SendRequestFactory(
        department=department,
        status="submitted",
        priority=priority,
        earliest_send_at=NOW,
        latest_send_at=latest,
    )
    return send_request_screen(send_request_id=request.pk, now=NOW)


def invitation(request, contact) -> Invitation:
    return Invitation.objects.get(send_request=request, contact=contact)


def test_a_higher_priority_request_takes_the_slot_and_the_lower_one_is_replanned_in_its_window(
    marketing, support, bob
):
    campaign = screened(marketing, priority=3, latest=NOW + 14 * DAY)

    relationship = screened(support, priority=8)

    assert invitation(relationship, bob).touched_at == NOW
    assert Decision.objects.get(send_request=relationship, contact=bob).allowed
    moved = invitation(campaign, bob)
    assert (moved.status, moved.touched_at, moved.failure_reason) == ("queued", NOW + WEEK, REPLANNED_REASON)
    assert relationship.screening_summary["made_way"] == 1
    assert relationship.screening_summary["blocked"] == {}


def test_a_displaced_reservation_whose_window_is_too_short_is_cancelled_with_a_reason(
    marketing, support, bob
):
    campaign = screened(marketing, priority=3, latest=NOW + 3 * DAY)

    screened(support, priority=8)

    moved = invitation(campaign, bob)
    assert (moved.status, moved.failure_reason) == ("cancelled", DISPLACED_REASON)
    assert "support" not in moved.failure_reason.lower()


@pytest.mark.parametrize("priority", [3, 5])
def test_equal_or_lower_priority_is_first_come_first_served(marketing, support, bob, priority):
    campaign = screened(marketing, priority=5)

    late = screened(support, priority=priority)

    assert invitation(campaign, bob).status == "queued"
    assert not Decision.objects.get(send_request=late, contact=bob).allowed
    assert not Invitation.objects.filter(send_request=late).exists()


def test_a_reservation_already_handed_to_the_broker_does_not_make_way(marketing, support, bob):
    campaign = screened(marketing, priority=3)
    Invitation.objects.filter(send_request=campaign).update(dispatched_at=NOW)

    relationship = screened(support, priority=8)

    assert invitation(campaign, bob).status == "queued"
    assert not Invitation.objects.filter(send_request=relationship).exists()


def test_the_fewest_reservations_make_way(marketing, support, bob):
    """Two per two weeks: two low-priority reservations, the support request needs only one slot."""
    factories.FrequencyRuleFactory(name="Two a fortnight", max_touches=2, window=2 * WEEK)
    FrequencyRule.objects.filter(name="Weekly").update(is_active=False)
    first = screened(marketing, priority=2, latest=NOW + 30 * DAY)
    second = screened(marketing, priority=4, latest=NOW + 30 * DAY)  # another survey of marketing's

    screened(support, priority=8)

    statuses = {r.pk: (invitation(r, bob).status, invitation(r, bob).failure_reason) for r in (first, second)}
    assert statuses == {first.pk: ("queued", REPLANNED_REASON), second.pk: ("queued", "")}


@pytest.mark.django_db(transaction=True)
def test_a_reservation_a_worker_is_claiming_is_sent_not_displaced_and_the_rule_holds(marketing, support, bob):
    """A claim holds the invitation's row (surveys/delivery/sending.py); the screening, holding every
    stripe, skips it rather than waiting, and refuses the contact: never both sends in one week."""
    campaign = screened(marketing, priority=3, latest=NOW + 14 * DAY)
    held, release = threading.Event(), threading.Event()

    def worker_claiming():
        try:
            with transaction.atomic():
                Invitation.objects.select_for_update().get(send_request=campaign, contact=bob)
                held.set()
                release.wait(10)
                Invitation.objects.filter(send_request=campaign, contact=bob).update(status="sending")
        finally:
            connections.close_all()

    worker = threading.Thread(target=worker_claiming)
    worker.start()
    assert held.wait(10)
    try:
        relationship = screened(support, priority=8)
    finally:
        release.set()
        worker.join(10)

    assert invitation(campaign, bob).status == "sending"
    assert not Invitation.objects.filter(send_request=relationship).exists()
    touches = [
        Touch(i.touched_at, i.department_id, i.survey_kind, i.channel)
        for i in Invitation.objects.filter(contact=bob).exclude(status__in=Invitation.NOT_COUNTED)
    ]
    assert rule_peak(Rule(id=1, version=1, max_touches=1, window=WEEK), touches) == 1
