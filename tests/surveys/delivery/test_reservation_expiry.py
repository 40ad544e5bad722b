"""Reservations expire (issue 14): a queued invitation not sent by its request's latest send time,
or within RESERVATION_HOLD of its planned time when the request has none, is released by the beat —
cancelled with a reason, no longer a touch — so an abandoned request blocks no one."""

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from surveys.delivery.invitation_status import invitations_mark_sending
from surveys.delivery.reservations import hold_reason, reservations_release_expired
from surveys.delivery.sending import invitation_claim
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Invitation, SendRequest
from surveys.tasks import release_reservations_task
from tests import factories
from tests.workers import CeleryProcess, wait_until

DAY = dt.timedelta(days=1)
HOLD_REASON = "released: not sent within the 7-day hold of a request without a latest send time"


@pytest.fixture(autouse=True)
def no_quiet_hours(settings):
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"


def reservation(department, *, planned_at: dt.datetime, latest_send_at: dt.datetime | None = None):
    """The queued invitation a real screening at `planned_at` reserved for the department's one
    contact (ann@example.com)."""
    factories.known_contact(department, email="ann@example.com")
    send_request = factories.screened_request(
        department, now=planned_at, earliest_send_at=planned_at, latest_send_at=latest_send_at
    )
    return Invitation.objects.get(send_request=send_request)


def test_a_reservation_past_its_latest_send_time_is_released_and_no_longer_counts(support):
    """Under one survey a month, a request whose window closed before it was sent blocked the
    contact's next survey; released, it no longer does."""
    now = timezone.now()
    factories.FrequencyRuleFactory(name="One survey a month", max_touches=1, window=dt.timedelta(days=30))
    invitation = reservation(support, planned_at=now - 2 * DAY, latest_send_at=now - DAY)
    later = factories.SurveyFactory(department=support, name="After your call")
    ann = invitation.contact_id

    blocked = trigger_send(department=support, survey=later, channel="email", contact_id=ann, now=now)
    released = reservations_release_expired(now=now)
    allowed = trigger_send(department=support, survey=later, channel="email", contact_id=ann, now=now)

    assert not blocked.decision.allowed and blocked.decision.reason == "rule"
    assert released == 1
    invitation.refresh_from_db()
    latest = (now - DAY).astimezone(dt.UTC).replace(microsecond=0).isoformat()
    assert invitation.status == "cancelled"
    assert invitation.failure_reason == (
        f"released: not sent before the request's latest send time ({latest})"
    )
    assert invitation.send_request.status == SendRequest.Status.COMPLETED  # nothing left to send
    assert allowed.decision.allowed and allowed.invitation.status == "queued"


def test_a_reservation_inside_its_window_is_kept(support):
    now = timezone.now()
    invitation = reservation(support, planned_at=now - 20 * DAY, latest_send_at=now + DAY)

    assert reservations_release_expired(now=now) == 0

    invitation.refresh_from_db()
    assert (invitation.status, invitation.failure_reason) == ("queued", "")
    assert invitation.send_request.status == SendRequest.Status.SCREENED


def test_an_invitation_handed_to_a_channel_is_not_touched(support):
    now = timezone.now()
    invitation = reservation(support, planned_at=now - 2 * DAY, latest_send_at=now - DAY)
    invitations_mark_sending(invitation_ids=[invitation.pk], now=now)

    assert reservations_release_expired(now=now) == 0

    invitation.refresh_from_db()
    assert (invitation.status, invitation.failure_reason) == ("sending", "")
    assert invitation.send_request.status == SendRequest.Status.SCREENED  # still being sent


@pytest.mark.parametrize(
    ("planned_days_ago", "deferred_days_ago", "released"),
    [
        (8, None, True),
        (6, None, False),
        # Deferred by quiet hours: the hold counts from when it may go out.
        (8, 1, False),
        (8, 7.5, True),
    ],
)
def test_a_request_without_a_latest_send_time_holds_its_reservations_for_the_hold(
    support, planned_days_ago, deferred_days_ago, released
):
    now = timezone.now()
    invitation = reservation(support, planned_at=now - planned_days_ago * DAY)
    if deferred_days_ago is not None:
        Invitation.objects.filter(pk=invitation.pk).update(send_after=now - deferred_days_ago * DAY)

    assert reservations_release_expired(now=now) == int(released)

    invitation.refresh_from_db()
    if released:
        assert (invitation.status, invitation.failure_reason) == ("cancelled", HOLD_REASON)
    else:
        assert (invitation.status, invitation.failure_reason) == ("queued", "")


def test_the_hold_is_configurable_and_named_in_the_reason(support, settings):
    now = timezone.now()
    settings.RESERVATION_HOLD = 36 * 3600
    invitation = reservation(support, planned_at=now - 2 * DAY)

    assert reservations_release_expired(now=now) == 1

    invitation.refresh_from_db()
    assert invitation.failure_reason == (
        "released: not sent within the 36-hour hold of a request without a latest send time"
    )


@pytest.mark.parametrize(
    ("hold", "named"),
    [
        (dt.timedelta(days=7), "7-day"),
        (dt.timedelta(hours=36), "36-hour"),
        (dt.timedelta(minutes=90), "90-minute"),
        (dt.timedelta(seconds=90), "90-second"),
    ],
)
def test_the_hold_is_named_as_an_owner_would(hold, named):
    assert f"the {named} hold" in hold_reason(hold)


def test_a_hold_that_is_not_positive_is_refused(settings, db):
    settings.RESERVATION_HOLD = 0

    with pytest.raises(Exception, match="RESERVATION_HOLD must be a positive"):
        reservations_release_expired()


@pytest.mark.django_db(transaction=True)
def test_a_reservation_being_claimed_is_left_to_the_claim_without_waiting(support):
    """A worker's claim holds the row (queued → sending, not committed yet): the release skips it
    at once rather than wait, and never cancels what the claim sends. Without SKIP LOCKED the
    release waits for the claim and this fails."""
    now = timezone.now()
    invitation = reservation(support, planned_at=now - 8 * DAY)
    claimed, finish = threading.Event(), threading.Event()
    released: list[int] = []

    def claim() -> None:
        try:
            with transaction.atomic():
                invitation_claim(invitation_ids=[invitation.pk], now=now)
                claimed.set()
                finish.wait(timeout=30)
        finally:
            connection.close()

    def release() -> None:
        try:
            released.append(reservations_release_expired(now=now))
        finally:
            connection.close()

    claimer, releaser = threading.Thread(target=claim), threading.Thread(target=release)
    claimer.start()
    assert claimed.wait(timeout=10)
    releaser.start()
    releaser.join(timeout=5)
    waited = releaser.is_alive()
    finish.set()
    claimer.join()
    releaser.join()

    assert not waited and released == [0]
    invitation.refresh_from_db()
    assert (invitation.status, invitation.failure_reason) == ("sending", "")


def test_the_beat_schedules_the_release_as_a_registered_task(settings):
    from cxfeedback.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["release-reservations"]

    assert entry["task"] in app.tasks and entry["task"] == release_reservations_task.name
    assert entry["schedule"] == settings.RESERVATION_RELEASE_INTERVAL == 300


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_beat_and_a_worker_release_an_expired_reservation(celery_worker, support, tmp_path):
    now = timezone.now()
    invitation = reservation(support, planned_at=now - 2 * DAY, latest_send_at=now - DAY)
    # Every second for the test; the rest of the schedule (dispatch included) not within it.
    others = ("DISPATCH_INTERVAL", "SWEEP_INTERVAL", "EXPIRE_INTERVAL", "REMINDER_INTERVAL")
    env = {"RESERVATION_RELEASE_INTERVAL": "1", **dict.fromkeys(others, "3600")}
    beat = CeleryProcess("beat", f"--schedule={tmp_path / 'celerybeat-schedule'}", env=env).start()
    try:
        wait_until(
            lambda: Invitation.objects.get(pk=invitation.pk).status == "cancelled",
            timeout=60,
            message="the beat's worker to release the reservation",
        )
    finally:
        beat.stop()

    invitation.refresh_from_db()
    assert invitation.failure_reason.startswith("released: not sent before the request's latest send time")
    assert invitation.send_request.status == SendRequest.Status.COMPLETED
