"""Dispatch (beat, every DISPATCH_INTERVAL): hand due, queued invitations to the broker in batches,
one `send_invitations_task` each, and move requests along (screened → sending → completed).
The life of an invitation is told in surveys/delivery/__init__.py.

A trigger is a request too, and under load there are thousands in flight: their invitations are
handed over, and their requests completed, by one statement for all of them, never one request at
a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.utils import timezone

from surveys.errors import InvalidStatusTransition
from surveys.gatekeeper.send_requests import send_request_transition
from surveys.models import SendRequest

DELIVERING = [SendRequest.Status.SCREENED, SendRequest.Status.SENDING]
DELIVERING_SQL = ", ".join(f"'{status}'" for status in DELIVERING)  # the enum's values, never input


def requests_delivering(*, now: dt.datetime) -> list[SendRequest]:
    """The lists being delivered: screened or sending requests whose window has started, triggers
    left out (see trigger_invitations_hand_over). Served by the send_request_delivering index.
    Higher priority first."""
    return list(
        SendRequest.objects.filter(status__in=DELIVERING, earliest_send_at__lte=now)
        .exclude(audience_kind=SendRequest.AudienceKind.TRIGGER)
        .order_by("-priority", "earliest_send_at", "pk")
    )


def invitations_dispatch_due(*, now: dt.datetime | None = None) -> int:
    """Hand every due, queued, not yet handed-over invitation to the broker; move screened requests
    whose time has come to sending and finished ones to completed. Returns invitations handed over."""
    now = now or timezone.now()
    handed = trigger_invitations_hand_over(now=now)
    for send_request in requests_delivering(now=now):
        if send_request.status == SendRequest.Status.SCREENED:
            try:
                send_request_transition(send_request=send_request, to=SendRequest.Status.SENDING)
            except InvalidStatusTransition:
                continue  # cancelled meanwhile
        handed += invitations_hand_over(send_request_id=send_request.pk, now=now)
    send_request_complete_finished(now=now)
    return handed


# A row is picked by one caller only: the UPDATE … RETURNING re-checks `dispatched_at IS NULL`
# on the row it locks, so two dispatchers never hand the same invitation over twice. Each
# request's rows are found by the unique (send_request, contact) index; there is deliberately no
# index on the whole table by time. Built once, from the enums' values.
DUE = """
    AND i.status = 'queued' AND coalesce(i.send_after, i.touched_at) <= %(now)s AND i.dispatched_at IS NULL
    RETURNING i.id"""
HAND_OVER_ONE = f"""
    UPDATE surveys_invitation i SET dispatched_at = %(now)s
    WHERE i.send_request_id = %(id)s {DUE}"""  # noqa: S608
HAND_OVER_TRIGGERS = f"""
    UPDATE surveys_invitation i SET dispatched_at = %(now)s
    FROM surveys_sendrequest r
    WHERE r.status IN ({DELIVERING_SQL}) AND r.audience_kind = '{SendRequest.AudienceKind.TRIGGER}'
      AND r.earliest_send_at <= %(now)s
      AND i.send_request_id = r.id {DUE}"""  # noqa: S608


def invitations_hand_over(*, send_request_id: int, now: dt.datetime) -> int:
    """Mark one request's due, queued, not handed-over invitations handed over and queue a send task
    per batch. Returns how many."""
    return _hand_over(HAND_OVER_ONE, {"now": now, "id": send_request_id})


def trigger_invitations_hand_over(*, now: dt.datetime) -> int:
    """The same for every trigger being delivered, in one statement: the invitations a trigger did
    not send at once (deferred by quiet hours) or whose message the sweeper found lost."""
    return _hand_over(HAND_OVER_TRIGGERS, {"now": now})


def _hand_over(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = sorted(row[0] for row in cursor.fetchall())
    from surveys.tasks import send_invitations_task

    # A broker that fails here leaves the rest marked handed over; the sweeper hands them over
    # again after DELIVERY_HANDOFF_LEASE.
    for batch in chunks(ids, settings.DELIVERY_BATCH_SIZE):
        send_invitations_task.delay_on_commit(batch)
    return len(ids)


# One statement for every finished request: the UPDATE re-checks the status on each row it locks,
# so a request cancelled meanwhile stays cancelled. Each request's unfinished invitations are
# looked up by the unique (send_request, contact) index. The `|| ''` keeps the planner from the
# partial index of open invitations, which matches the status test but not the request: on stale
# statistics (one request estimated, ten thousand triggers there) it scanned that whole index once
# per request, for more than 20 s.
COMPLETE_FINISHED = f"""
    UPDATE surveys_sendrequest r SET status = '{SendRequest.Status.COMPLETED}'
    WHERE r.status IN ({DELIVERING_SQL}) AND r.earliest_send_at <= %(now)s
      AND NOT EXISTS (
          SELECT FROM surveys_invitation i
          WHERE i.send_request_id = r.id AND i.status || '' IN ('queued', 'sending'))
    RETURNING r.id"""  # noqa: S608


def send_request_complete_finished(*, now: dt.datetime | None = None) -> list[int]:
    """Move requests being delivered with no invitation queued or sending any more to completed.
    Returns their ids."""
    with connection.cursor() as cursor:
        cursor.execute(COMPLETE_FINISHED, {"now": now or timezone.now()})
        return sorted(row[0] for row in cursor.fetchall())


def chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
