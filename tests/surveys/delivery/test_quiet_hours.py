"""Quiet hours defer a send to the morning in the contact's own time zone; they never block it."""

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.core import mail

from surveys.delivery.dispatch import invitations_dispatch_due
from surveys.delivery.quiet_hours import quiet_hours_end
from surveys.delivery.sending import invitations_send_batch
from surveys.models import Invitation
from tests import factories

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NIGHT = {"start": dt.time(21), "end": dt.time(8)}


def berlin(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("at", "hours", "ends"),
    [
        (berlin(2026, 6, 10, 20, 59), NIGHT, None),
        (berlin(2026, 6, 10, 21, 0), NIGHT, berlin(2026, 6, 11, 8, 0)),
        (berlin(2026, 6, 10, 23, 30), NIGHT, berlin(2026, 6, 11, 8, 0)),
        (berlin(2026, 6, 11, 0, 15), NIGHT, berlin(2026, 6, 11, 8, 0)),
        (berlin(2026, 6, 11, 7, 59), NIGHT, berlin(2026, 6, 11, 8, 0)),
        (berlin(2026, 6, 11, 8, 0), NIGHT, None),
        (berlin(2026, 6, 11, 12, 0), {"start": dt.time(12), "end": dt.time(14)}, berlin(2026, 6, 11, 14, 0)),
        (berlin(2026, 6, 11, 14, 0), {"start": dt.time(12), "end": dt.time(14)}, None),
        (berlin(2026, 6, 11, 3, 0), {"start": dt.time(0), "end": dt.time(0)}, None),
        # The night the clocks go forward (29 March 2026, 02:00 → 03:00): still 08:00 local.
        (berlin(2026, 3, 28, 22, 0), NIGHT, berlin(2026, 3, 29, 8, 0)),
        # A quiet end inside the skipped hour is read as after the change, never before `at`.
        (
            berlin(2026, 3, 29, 1, 30),
            {"start": dt.time(1), "end": dt.time(2, 30)},
            berlin(2026, 3, 29, 3, 30),
        ),
    ],
)
def test_quiet_hours_end_in_the_contacts_time_zone(at, hours, ends):
    assert quiet_hours_end(at, time_zone=BERLIN, **hours) == ends


def test_the_same_moment_is_night_in_one_zone_and_day_in_another():
    at = dt.datetime(2026, 6, 10, 22, 0, tzinfo=dt.UTC)  # midnight in Berlin, 07:00 in Tokyo

    assert quiet_hours_end(at, time_zone=BERLIN, **NIGHT) == berlin(2026, 6, 11, 8, 0)
    assert quiet_hours_end(at, time_zone=zoneinfo.ZoneInfo("Asia/Tokyo"), **NIGHT) == dt.datetime(
        2026, 6, 10, 23, 0, tzinfo=dt.UTC
    )
    assert quiet_hours_end(at, time_zone=zoneinfo.ZoneInfo("America/New_York"), **NIGHT) is None


def test_a_send_at_night_is_deferred_to_the_contacts_morning_then_sent(support, settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "21:00", "08:00"
    factories.known_contact(support, email="night@example.com", time_zone="Europe/Berlin")
    factories.known_contact(support, email="day@example.com", time_zone="America/New_York")
    with time_machine.travel(dt.datetime(2026, 6, 10, 23, 0, tzinfo=dt.UTC), tick=False):  # 01:00 Berlin
        send_request = factories.screened_request(support)
        handed = invitations_dispatch_due()
        outcome = invitations_send_batch(invitation_ids=list(Invitation.objects.values_list("pk", flat=True)))

    assert handed == 2 and len(outcome.sent) == 1 and outcome.deferred == 1
    night = Invitation.objects.get(send_request=send_request, contact__identities__value="night@example.com")
    assert night.status == "queued"  # deferred, not blocked
    assert night.send_after == berlin(2026, 6, 11, 8, 0) and night.dispatched_at is None
    # The touch keeps the time the gatekeeper reserved: the rule windows it checked stay valid.
    assert night.touched_at == dt.datetime(2026, 6, 10, 23, 0, tzinfo=dt.UTC)
    assert [m.to[0].split("<")[-1] for m in mail.outbox] == ["day@example.com>"]

    with time_machine.travel(berlin(2026, 6, 11, 7, 59), tick=False):
        assert invitations_dispatch_due() == 0
    with time_machine.travel(berlin(2026, 6, 11, 8, 0), tick=False):
        assert invitations_dispatch_due() == 1
        assert invitations_send_batch(invitation_ids=[night.pk]).sent == [night.pk]
    night.refresh_from_db()
    assert night.status == "sent" and night.sent_at == berlin(2026, 6, 11, 8, 0)


def test_a_contact_without_a_time_zone_has_the_sites(support, settings):
    settings.QUIET_HOURS_START, settings.QUIET_HOURS_END = "21:00", "08:00"
    settings.TIME_ZONE = "UTC"
    factories.known_contact(support, email="nozone@example.com", time_zone="")
    with time_machine.travel(dt.datetime(2026, 6, 10, 22, 0, tzinfo=dt.UTC), tick=False):
        factories.screened_request(support)
        [invitation_id] = Invitation.objects.values_list("pk", flat=True)
        outcome = invitations_send_batch(invitation_ids=[invitation_id])

    assert outcome.deferred == 1
    assert Invitation.objects.get().send_after == dt.datetime(2026, 6, 11, 8, 0, tzinfo=dt.UTC)
