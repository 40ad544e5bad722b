"""Reservations (beat, every RESERVATION_RELEASE_INTERVAL): a queued invitation holds its contact's
place under the frequency rules from the moment it is queued, at its planned time (touched_at).
One that was never sent must not hold it for ever: once its request's latest send time has passed,
or, for a request without one, RESERVATION_HOLD after its planned time, it is released (cancelled,
no longer a touch) with a reason its department sees, and so an abandoned request blocks no one.

The claim cancels an invitation whose window has closed too, but only one that is handed over to it;
this releases those that never are (a request left behind, a lost task, a planned time too far off)."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from surveys.delivery.dispatch import send_request_complete_finished
from surveys.delivery.invitation_status import invitations_release_expired_reservations
from surveys.external.reservations import external_reservations_release_expired

logger = logging.getLogger(__name__)

# Shown to the department that owns the invitation, as failure_reason: "code: detail" like the
# claim's stops (surveys/delivery/sending.py); the window's reason gets the latest send time added.
WINDOW_REASON = "released: not sent before the request's latest send time"


def reservations_release_expired(*, now: dt.datetime | None = None) -> int:
    """Cancel the queued invitations not sent by their request's latest send time, or, for requests
    without one, within RESERVATION_HOLD of their planned time; then complete the requests left with
    nothing to send. Invitations already handed to a channel (sending) stay. Returns how many.
    Raises ImproperlyConfigured if RESERVATION_HOLD is not positive."""
    now = now or timezone.now()
    hold = dt.timedelta(seconds=settings.RESERVATION_HOLD)
    if hold <= dt.timedelta(0):  # would release every reservation of an open-ended request at once
        raise ImproperlyConfigured(f"RESERVATION_HOLD must be a positive number of seconds, not {hold}")
    released = invitations_release_expired_reservations(
        now=now,
        hold_before=now - hold,
        window_reason=WINDOW_REASON,
        hold_reason=hold_reason(hold),
    )
    if released:
        logger.info("reservations: %d queued invitations released, not sent in time", released)
        send_request_complete_finished(now=now)
    # Slots reserved for other tools' sends (ask-then-record) and never confirmed: their requests are
    # completed from the start, so the statement above does not see them.
    external = external_reservations_release_expired(now=now)
    if external:
        logger.info("reservations: %d slots for other tools released, not confirmed in time", external)
    return released + external


def hold_reason(hold: dt.timedelta) -> str:
    """The reason of a release by the hold, naming it as an owner would: "the 7-day hold"."""
    seconds = int(hold.total_seconds())
    length = next(f"{seconds // size}-{unit}" for unit, size in HOLD_UNITS if seconds % size == 0)
    return f"released: not sent within the {length} hold of a request without a latest send time"


HOLD_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
