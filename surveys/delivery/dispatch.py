"""Dispatch (beat, every DISPATCH_INTERVAL): hand due, queued invitations to the broker in batches,
one `send_invitations_task` each, and move requests along (screened → sending → completed).
The life of an invitation is told in surveys/delivery/__init__.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from surveys.errors import InvalidStatusTransition
from surveys.gatekeeper.send_requests import send_request_transition
from surveys.models import Invitation, SendRequest

Status = Invitation.Status


def requests_delivering(*, now: dt.datetime) -> list[SendRequest]:
    """The requests whose invitations may be due: screened or sending, window started. Served by the
    send_request_delivering index. Higher priority first."""
    return list(
        SendRequest.objects.filter(status__in=[SendRequest.Status.SCREENED, SendRequest.Status.SENDING])
        .filter(earliest_send_at__lte=now)
        .order_by("-priority", "earliest_send_at", "pk")
    )


def invitations_dispatch_due(*, now: dt.datetime | None = None) -> int:
    """Hand every due, queued, not yet handed-over invitation to the broker; move screened requests
    whose time has come to sending and finished ones to completed. Returns invitations handed over."""
    now = now or timezone.now()
    handed = 0
    for send_request in requests_delivering(now=now):
        if send_request.status == SendRequest.Status.SCREENED:
            try:
                send_request_transition(send_request=send_request, to=SendRequest.Status.SENDING)
            except InvalidStatusTransition:
                continue  # cancelled meanwhile
        handed += invitations_hand_over(send_request_id=send_request.pk, now=now)
    send_request_complete_finished(now=now)
    return handed


def invitations_hand_over(*, send_request_id: int, now: dt.datetime) -> int:
    """Mark one request's due, queued, not handed-over invitations handed over and queue a send task
    per batch. The UPDATE … RETURNING picks each row for one caller only, so two dispatchers never
    hand the same invitation over twice. It finds the request's rows by the unique (send_request,
    contact) index; there is deliberately no index on the whole table by time."""
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE surveys_invitation SET dispatched_at = %s
               WHERE send_request_id = %s AND status = 'queued' AND coalesce(send_after, touched_at) <= %s
                 AND dispatched_at IS NULL
               RETURNING id""",
            [now, send_request_id, now],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    from surveys.tasks import send_invitations_task

    # A broker that fails here leaves the rest marked handed over; the sweeper hands them over
    # again after DELIVERY_HANDOFF_LEASE.
    for batch in chunks(ids, settings.DELIVERY_BATCH_SIZE):
        send_invitations_task.delay_on_commit(batch)
    return len(ids)


def send_request_complete_finished(*, now: dt.datetime | None = None) -> list[int]:
    """Move requests being delivered with no invitation queued or sending any more to completed.
    Returns their ids."""
    now = now or timezone.now()
    unfinished = Invitation.objects.filter(
        send_request=OuterRef("pk"), status__in=[Status.QUEUED, Status.SENDING]
    )
    finished = (
        SendRequest.objects.filter(status__in=[SendRequest.Status.SCREENED, SendRequest.Status.SENDING])
        .filter(earliest_send_at__lte=now)
        .exclude(Exists(unfinished))
    )
    completed = []
    for send_request in finished:
        try:
            send_request_transition(send_request=send_request, to=SendRequest.Status.COMPLETED)
        except InvalidStatusTransition:
            continue
        completed.append(send_request.pk)
    return completed


def chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
