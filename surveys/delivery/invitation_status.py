"""The one place an invitation's status changes. Each helper makes one move of Invitation.TRANSITIONS
(surveys/models/delivery.py) as a conditional UPDATE whose `WHERE status IN (…)` is read from the
map, so a move the map does not allow cannot happen.

A move is checked against the map once, when this module is imported (`Move`): a helper written
for a move the map forbids raises InvalidStatusTransition at start-up, before anything runs. A row
whose status does not allow the move when the UPDATE runs is refused: the UPDATE matches nothing
and the helper returns 0 (False). That is a race, not a mistake — the customer answered, the
request was cancelled, another task got there first — and every caller reads "matched nothing" as
"someone else moved it first".

The survey page's answer is the one move made elsewhere: it is the first step of the single
statement that stores a response (SUBMIT_SQL, surveys/public/responses.py), which takes its
statuses from MARK_ANSWERED here.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from cxfeedback.db import execute_without_waiting
from surveys.errors import InvalidStatusTransition
from surveys.models import Invitation, SendRequest

Status = Invitation.Status
TRANSITIONS = Invitation.TRANSITIONS

# Sent and not answered, expired or bounced: the customer may still answer, reminders may go.
AWAITING_ANSWER = (Status.SENT, Status.DELIVERED, Status.OPENED)


def sources(to: str) -> tuple[str, ...]:
    """The statuses the map lets become `to`, in the order of Invitation.Status."""
    return tuple(status for status in Status.values if to in TRANSITIONS[status])


@dataclass(frozen=True)
class Move:
    """From `sources` (all the map allows, unless narrowed) to `to`. Raises InvalidStatusTransition
    when made if the map does not allow each of them to become `to`."""

    to: str
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        allowed = sources(self.to)
        if not self.sources:
            object.__setattr__(self, "sources", allowed)
        forbidden = [status for status in self.sources if status not in allowed]
        if forbidden or not allowed:
            raise InvalidStatusTransition(
                f"An invitation cannot become {self.to} from {', '.join(forbidden) or 'any status'}.",
                extra={"status": forbidden, "to": self.to},
            )

    @property
    def sources_sql(self) -> str:
        """`sources` as an SQL list for raw statements: the enum's own values, never input."""
        return ", ".join(f"'{status}'" for status in self.sources)

    def apply(self, invitations: QuerySet[Invitation], *, now: dt.datetime, **fields: object) -> int:
        """Move those of `invitations` in one of `sources`; returns how many moved."""
        return invitations.filter(status__in=self.sources).update(status=self.to, updated_at=now, **fields)


CLAIM = Move(Status.SENDING, (Status.QUEUED,))
MARK_SENT = Move(Status.SENT)
UNMARK_SENT = Move(Status.SENDING, (Status.SENT,))
MARK_FAILED = Move(Status.FAILED, (Status.SENDING,))
REQUEUE = Move(Status.QUEUED)
# Stopped when re-checked before sending: cancelled (the gatekeeper says no now) or failed (out of
# attempts). A request's cancellation cancels its queued invitations the same way.
STOPS = {to: Move(to, (Status.QUEUED,)) for to in (Status.CANCELLED, Status.FAILED)}
EXPIRE = Move(Status.EXPIRED)
MARK_OPENED = Move(Status.OPENED)
MARK_ANSWERED = Move(Status.ANSWERED)


def invitations_mark_sending(*, invitation_ids: Sequence[int], now: dt.datetime) -> int:
    """Queued → sending with one attempt more: the claim's move, for rows the caller has locked
    (surveys/delivery/sending.py). Returns how many moved."""
    invitations = Invitation.objects.filter(pk__in=list(invitation_ids))
    return CLAIM.apply(invitations, now=now, attempts=F("attempts") + 1)


def invitation_stop(*, invitation_id: int, to: str, reason: str, now: dt.datetime) -> bool:
    """Queued → cancelled or failed, with the reason, before it was sent; neither counts as a touch.
    Raises InvalidStatusTransition for any other `to`."""
    if to not in STOPS:
        raise InvalidStatusTransition(
            f"An invitation is stopped as cancelled or failed, not {to}.", extra={"to": to}
        )
    invitations = Invitation.objects.filter(pk=invitation_id)
    return bool(STOPS[to].apply(invitations, now=now, failure_reason=reason[:500]))


def invitations_cancel_queued(*, send_request_id: int, now: dt.datetime) -> int:
    """Queued → cancelled for the request's invitations not yet claimed (they stop counting as
    touches). Returns how many."""
    invitations = Invitation.objects.filter(send_request_id=send_request_id)
    return STOPS[Status.CANCELLED].apply(invitations, now=now)


def invitations_cancel_for_merge(*, invitation_ids: Sequence[int], now: dt.datetime) -> list[int]:
    """Queued → cancelled: two records merged into one person who had an open invitation to the
    survey under each, and this one was not sent yet. Returns the ids that moved (a sender may have
    claimed one first: it then stays open, and apart)."""
    invitations = Invitation.objects.filter(
        pk__in=list(invitation_ids), status__in=STOPS[Status.CANCELLED].sources
    )
    moved = list(invitations.values_list("pk", flat=True))
    STOPS[Status.CANCELLED].apply(
        Invitation.objects.filter(pk__in=moved), now=now, failure_reason=MERGE_CANCEL_REASON
    )
    return moved


# Shown to the department that owns the invitation: it names no one and no other survey.
MERGE_CANCEL_REASON = "The person already had an invitation to this survey (two contact records were merged)."


def invitations_uncancel_for_merge(*, invitation_ids: Sequence[int], now: dt.datetime) -> int:
    """Cancelled → queued for the invitations a merge cancelled, when it is undone: the one move
    back from cancelled, outside Invitation.TRANSITIONS on purpose. They were never claimed or sent,
    and the unmerge gives each record back its own invitation. Returns how many."""
    return Invitation.objects.filter(
        pk__in=list(invitation_ids), status=Status.CANCELLED, failure_reason=MERGE_CANCEL_REASON
    ).update(status=Status.QUEUED, failure_reason="", dispatched_at=None, updated_at=now)


def invitation_mark_sent(*, invitation_id: int, expires_at: dt.datetime) -> Callable[[], bool]:
    """Sending → sent now, with the link's expiry the message announced (the touch keeps the time
    the gatekeeper reserved: see Invitation.touched_at).

    The statement leaves at once and commits on its own; the function returned waits for it and
    says whether it applied (False: no longer in sending — the customer answered in the moment
    between). Sent right before SMTP's final ".", the two writes are microseconds apart.

    If the connection died under the statement (the database restarted), it may never have run
    while the message went out: the function writes it again, waiting, on a new connection
    (_mark_sent_again), or the sweeper would later send the message a second time."""
    now = timezone.now()
    params = [str(invitation_id), now.isoformat(), expires_at.isoformat()]
    answer = execute_without_waiting(MARK_SENT_SQL, params)

    def applied() -> bool:
        try:
            return answer() > 0
        except (DatabaseError, psycopg.Error):
            return _mark_sent_again(invitation_id=invitation_id, now=now, expires_at=expires_at)

    return applied


MARK_SENT_AGAIN_SECONDS = 120  # how long a database restart may take while a sent message waits


def _mark_sent_again(*, invitation_id: int, now: dt.datetime, expires_at: dt.datetime) -> bool:
    deadline = time.monotonic() + MARK_SENT_AGAIN_SECONDS
    while True:
        connection.close()
        try:
            invitations = Invitation.objects.filter(pk=invitation_id)
            return bool(
                MARK_SENT.apply(invitations, now=now, sent_at=now, expires_at=expires_at, failure_reason="")
            )
        except DatabaseError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# Written out for the hot path: sent without the ORM, without waiting (cxfeedback/db.py). Built
# once, from the map's statuses (no input).
MARK_SENT_SQL = (
    f"UPDATE surveys_invitation SET status = '{MARK_SENT.to}', sent_at = $2, expires_at = $3,"  # noqa: S608
    f" failure_reason = '', updated_at = $2 WHERE id = $1 AND status IN ({MARK_SENT.sources_sql})"
)


def invitations_mark_sent(*, send_request_id: int, sent_at: dt.datetime, expires_at: dt.datetime) -> int:
    """The request's queued invitations claimed and marked sent at `sent_at`, through delivery's own
    two moves, without sending anything: the demo's history (surveys/demo.py). Returns how many."""
    invitations = Invitation.objects.filter(send_request_id=send_request_id)
    CLAIM.apply(invitations, now=sent_at, attempts=F("attempts") + 1)
    return MARK_SENT.apply(
        invitations, now=sent_at, sent_at=sent_at, expires_at=expires_at, failure_reason=""
    )


def invitation_unmark_sent(*, invitation_id: int) -> bool:
    """Sent → sending again: the server refused the message after it was marked sent at the point
    of no return. The caller then fails it or releases it for a retry."""
    invitations = Invitation.objects.filter(pk=invitation_id)
    return bool(UNMARK_SENT.apply(invitations, now=timezone.now(), sent_at=None))


def invitation_mark_failed(*, invitation_id: int, reason: str) -> bool:
    """Sending → failed with the reason; a failed invitation no longer counts as a touch."""
    invitations = Invitation.objects.filter(pk=invitation_id)
    return bool(MARK_FAILED.apply(invitations, now=timezone.now(), failure_reason=reason[:500]))


def invitations_release(*, invitation_ids: Sequence[int], reason: str, attempted: bool = True) -> list[int]:
    """Sending → queued for a retry (handed over: the task retries them), or failed when out of
    attempts. `attempted=False` gives back the attempt of invitations not tried at all. Returns
    the ids queued again."""
    now = timezone.now()
    with transaction.atomic():
        mine = Invitation.objects.filter(pk__in=list(invitation_ids))
        if not attempted:
            REQUEUE.apply(mine, now=now, attempts=F("attempts") - 1, dispatched_at=now)
            return list(invitation_ids)
        MARK_FAILED.apply(
            mine.filter(attempts__gte=settings.DELIVERY_MAX_ATTEMPTS),
            now=now,
            failure_reason=f"attempts: gave up after {settings.DELIVERY_MAX_ATTEMPTS} attempts: {reason}"[
                :500
            ],
        )
        again = list(mine.filter(status__in=REQUEUE.sources).values_list("pk", flat=True).order_by("pk"))
        REQUEUE.apply(mine, now=now, dispatched_at=now, failure_reason=reason[:500])
    return again


def invitations_requeue_stuck(
    *, invitations: QuerySet[Invitation], stuck_before: dt.datetime, now: dt.datetime
) -> int:
    """Sending → queued for those of `invitations` in sending since before `stuck_before` (their
    worker died: see the sweeper), to be handed over again. Returns how many."""
    return REQUEUE.apply(invitations.filter(updated_at__lt=stuck_before), now=now, dispatched_at=None)


def invitations_expire_due(*, now: dt.datetime) -> int:
    """Sent, delivered or opened → expired once the link's expiry has passed (they are no longer
    open invitations). Served by the invitation_awaiting_answer index. Returns how many."""
    return EXPIRE.apply(Invitation.objects.filter(expires_at__lte=now), now=now)


def invitations_release_expired_reservations(
    *, now: dt.datetime, hold_before: dt.datetime, window_reason: str, hold_reason: str
) -> int:
    """Queued → cancelled for the reservations of requests being delivered that were not handed to
    a channel in time: the request's latest send time passed, or, for a request without one, planned
    (send_after, else touched_at) before `hold_before`. The reason: `window_reason` with the latest
    send time, or `hold_reason`. They stop counting as touches. Returns how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            RELEASE_EXPIRED_SQL,
            {"now": now, "hold_before": hold_before, "window": window_reason, "hold": hold_reason},
        )
        return cursor.rowcount


# One statement for all requests being delivered (the send_request_delivering index), each
# request's rows found by the unique (send_request, contact) index. A claim (surveys/delivery/
# sending.py) locks its queued rows and moves them to sending in one transaction: SKIP LOCKED
# leaves those to it, so a reservation is either sent or released, and neither waits for the other
# (the next run sees any row skipped). Built once, from the enums' values (no input).
RELEASE_EXPIRED_SQL = f"""
    WITH expired AS (
        SELECT i.id, r.latest_send_at
        FROM surveys_sendrequest r JOIN surveys_invitation i ON i.send_request_id = r.id
        WHERE r.status IN ('{SendRequest.Status.SCREENED}', '{SendRequest.Status.SENDING}')
          AND i.status IN ({STOPS[Status.CANCELLED].sources_sql})
          AND (r.latest_send_at < %(now)s
               OR (r.latest_send_at IS NULL AND coalesce(i.send_after, i.touched_at) < %(hold_before)s))
        FOR UPDATE OF i SKIP LOCKED
    )
    UPDATE surveys_invitation i
    SET status = '{STOPS[Status.CANCELLED].to}', updated_at = %(now)s, failure_reason = left(
        CASE WHEN e.latest_send_at IS NULL THEN %(hold)s
             ELSE %(window)s || ' (' || to_char(e.latest_send_at AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD"T"HH24:MI:SS"+00:00"') || ')' END, 500)
    FROM expired e
    WHERE i.id = e.id AND i.status IN ({STOPS[Status.CANCELLED].sources_sql})
"""  # noqa: S608


def invitation_mark_opened(*, invitation_id: int, now: dt.datetime) -> bool:
    """Sent or delivered → opened (the customer, or a link scanner, loaded its survey). Never moves
    an invitation back, never touches an answered one."""
    return bool(MARK_OPENED.apply(Invitation.objects.filter(pk=invitation_id), now=now))
