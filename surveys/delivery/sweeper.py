"""The sweeper (beat): recover what a dead worker or a lost task left behind, and expire links."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from surveys.delivery.dispatch import DELIVERING, invitations_dispatch_due
from surveys.delivery.invitation_status import invitations_expire_due, invitations_requeue_stuck
from surveys.models import Invitation, SendRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepOutcome:
    requeued: int  # left in sending by a worker that died
    handed_again: int  # handed to the broker long ago and never claimed
    handed_over: int  # handed to the broker by this sweep (these and any other due ones)


def invitations_sweep_stuck(*, now: dt.datetime | None = None) -> SweepOutcome:
    """Recover what a dead worker or a lost task left behind, then dispatch: invitations in sending
    for longer than DELIVERY_STUCK_AFTER go back to queued (their worker is dead: no task runs that
    long), and queued ones handed over more than DELIVERY_HANDOFF_LEASE ago are handed over again.
    One statement each for all requests being delivered (thousands of triggers among them), their
    rows found by the unique (send_request, contact) index."""
    now = now or timezone.now()
    stuck_before = now - dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER)
    lease_before = now - dt.timedelta(seconds=settings.DELIVERY_HANDOFF_LEASE)
    delivering = Invitation.objects.filter(
        send_request__in=SendRequest.objects.filter(status__in=DELIVERING, earliest_send_at__lte=now)
    )
    requeued = invitations_requeue_stuck(invitations=delivering, stuck_before=stuck_before, now=now)
    handed_again = delivering.filter(status=Invitation.Status.QUEUED, dispatched_at__lt=lease_before).update(
        dispatched_at=None
    )
    if requeued or handed_again:
        logger.warning(
            "sweeper: %d invitations re-queued from sending, %d handed over again", requeued, handed_again
        )
    return SweepOutcome(
        requeued=requeued, handed_again=handed_again, handed_over=invitations_dispatch_due(now=now)
    )


def invitations_expire(*, now: dt.datetime | None = None) -> int:
    """Mark sent, unanswered invitations whose link has expired as expired (ending them as open
    invitations). Served by the invitation_awaiting_answer index. Returns how many."""
    return invitations_expire_due(now=now or timezone.now())
