"""TODO docstring"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cxfeedback.db import execute_without_waiting
from surveys.models import Invitation

Status = Invitation.Status

# Sent and not answered, expired or bounced: the customer may still answer, reminders may go.
AWAITING_ANSWER = (Status.SENT, Status.DELIVERED, Status.OPENED)


def invitation_mark_sent(*, invitation_id: int, expires_at: dt.datetime) -> Callable[[], bool]:
    """Sending → sent now, with the link's expiry the message announced (the touch keeps the time
    the gatekeeper reserved: see Invitation.touched_at).

    The statement leaves at once and commits on its own; the function returned waits for it and
    says whether it applied (False: no longer in sending — the customer answered in the moment
    between). Sent right before SMTP's final ".", the two writes are microseconds apart."""
    now = timezone.now().isoformat()
    answer = execute_without_waiting(MARK_SENT_SQL, [str(invitation_id), now, expires_at.isoformat()])
    return lambda: answer() > 0


MARK_SENT_SQL = (
    "UPDATE surveys_invitation SET status = 'sent', sent_at = $2, expires_at = $3, failure_reason = '',"
    " updated_at = $2 WHERE id = $1 AND status = 'sending'"
)


def invitation_unmark_sent(*, invitation_id: int) -> bool:
    """Sent → sending again: the server refused the message after it was marked sent at the point
    of no return. The caller then fails it or releases it for a retry."""
    return bool(
        Invitation.objects.filter(pk=invitation_id, status=Status.SENT).update(
            status=Status.SENDING, sent_at=None, updated_at=timezone.now()
        )
    )


def invitation_mark_failed(*, invitation_id: int, reason: str) -> bool:
    """Sending → failed with the reason; a failed invitation no longer counts as a touch."""
    return bool(
        Invitation.objects.filter(pk=invitation_id, status=Status.SENDING).update(
            status=Status.FAILED, failure_reason=reason[:500], updated_at=timezone.now()
        )
    )


def invitations_release(*, invitation_ids: Sequence[int], reason: str, attempted: bool = True) -> list[int]:
    """Sending → queued for a retry (handed over: the task retries them), or failed when out of
    attempts. `attempted=False` gives back the attempt of invitations not tried at all. Returns
    the ids queued again."""
    now = timezone.now()
    with transaction.atomic():
        mine = Invitation.objects.filter(pk__in=list(invitation_ids), status=Status.SENDING)
        if not attempted:
            mine.update(status=Status.QUEUED, attempts=F("attempts") - 1, dispatched_at=now, updated_at=now)
            return list(invitation_ids)
        mine.filter(attempts__gte=settings.DELIVERY_MAX_ATTEMPTS).update(
            status=Status.FAILED,
            failure_reason=f"attempts: gave up after {settings.DELIVERY_MAX_ATTEMPTS} attempts: {reason}"[
                :500
            ],
            updated_at=now,
        )
        again = list(mine.values_list("pk", flat=True).order_by("pk"))
        mine.update(status=Status.QUEUED, dispatched_at=now, failure_reason=reason[:500], updated_at=now)
    return again
