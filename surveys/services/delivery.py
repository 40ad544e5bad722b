"""Delivery: turning queued invitations into messages, exactly once in effect over a broker that
delivers tasks at least once (PRODUCT.md §5).

The life of an invitation here:
1. Dispatch (beat, every DISPATCH_INTERVAL): for each request being delivered, the queued
   invitations whose time has come and that no task holds yet get `dispatched_at` and are handed
   to the broker in batches, one `send_invitations_task` each. A trigger hands its one invitation
   over right after it commits.
2. Claim (the task): one transaction locks the batch's still-queued rows, re-checks each one —
   consent and snooze now, the request's send window, an address, quiet hours in the contact's
   time zone (deferred, not blocked) — and moves the rest from queued to sending with a fresh
   token each. The conditional move is the claim: a second task with the same ids finds nothing
   queued and sends nothing.
3. Send over one connection per batch, then mark each invitation sent (its own commit) the moment
   the server accepted it; a permanent failure marks it failed with the reason (no longer a touch);
   a transient one puts it back to queued for the task's retry with backoff, up to
   DELIVERY_MAX_ATTEMPTS claims in all.
4. The sweeper (beat) re-queues what a dead worker left in sending — after DELIVERY_STUCK_AFTER,
   longer than any task may run (CELERY_TASK_TIME_LIMIT kills it), so no live task still holds
   it — and hands over again what was handed to the broker long ago and never claimed (the broker
   or the worker lost the task).

Exactly once: an invitation is sent only by the task that claimed it, and claimed again only
after it was put back (transient failure: the server did not take it) or its worker is certainly
dead. It is marked sent (its own commit) at the channel's point of no return — for SMTP when the
server has the whole message and only the final "." is left (surveys/channels/email.py) — so a
worker that dies while the server takes the message leaves it sent, and the sweeper finds nothing
to send again; a refusal after that point undoes the mark. For an SMS or a provider's API the
mark follows the provider's answer, and a crash in between sends it twice (an email then carries
the same Message-ID, which mail providers fold into one).

Reminders (beat) are at most once: the reminder count is raised before sending and lowered again
only if the server refused for now, so a crash mid-send loses a reminder rather than repeating one.
They never create invitations and so never count as touches.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from contacts.consent import ConsentVerdict, consent_decide
from contacts.models import Channel, Consent, Identity
from cxfeedback.db import execute_without_waiting
from surveys.channels import Outgoing, PermanentFailure, SendFailed, TransientFailure, sender_for
from surveys.channels.content import zone_of
from surveys.models import Invitation, InvitationToken, SendRequest
from surveys.quiet_hours import parse_clock, quiet_hours_end
from surveys.services.send_requests import InvalidStatusTransition, send_request_transition
from surveys.tokens import token_new

logger = logging.getLogger(__name__)

Status = Invitation.Status
# Sent and not answered, expired or bounced: the customer may still answer, reminders may go.
AWAITING_ANSWER = (Status.SENT, Status.DELIVERED, Status.OPENED)
ADDRESS_KIND = {Channel.EMAIL: Identity.Kind.EMAIL, Channel.SMS: Identity.Kind.PHONE}


@dataclass
class BatchOutcome:
    """What one batch did, by invitation id. `retry` went back to queued for the task's retry;
    `handed_on` was not tried in this batch's time budget and goes to a new task at once."""

    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    handed_on: list[int] = field(default_factory=list)
    cancelled: int = 0
    deferred: int = 0
    retry_code: str = ""  # the last transient failure's code, safe to log
    retry_reason: str = ""  # and its full text, for the invitations' records


@dataclass(frozen=True)
class Claim:
    outgoing: list[Outgoing]
    cancelled: int
    deferred: int
    failed: list[int] = field(default_factory=list)  # out of attempts


# -- Dispatch -------------------------------------------------------------------------------------


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
    for batch in _chunks(ids, settings.DELIVERY_BATCH_SIZE):
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


# -- Claim and send ------------------------------------------------------------------------------


def invitations_send_batch(*, invitation_ids: Sequence[int], now: dt.datetime | None = None) -> BatchOutcome:
    """Claim the batch's due invitations and send them over one connection per channel.

    Writes: the claim (sending, a token each; cancelled or deferred ones), then each invitation's
    outcome as it happens. Raises nothing for a failed message; the outcome says what to retry.
    """
    claim = invitation_claim(invitation_ids=invitation_ids, now=now or timezone.now())
    outcome = BatchOutcome(cancelled=claim.cancelled, deferred=claim.deferred, failed=list(claim.failed))
    deadline = time.monotonic() + settings.DELIVERY_BATCH_SECONDS
    by_channel: dict[str, list[Outgoing]] = defaultdict(list)
    for message in claim.outgoing:
        by_channel[message.channel].append(message)
    for messages in by_channel.values():
        _send_over_one_connection(messages, outcome, deadline=deadline)
    if outcome.retry:
        outcome.retry = invitations_release(invitation_ids=outcome.retry, reason=outcome.retry_reason)
    if outcome.handed_on:
        invitations_release(invitation_ids=outcome.handed_on, reason="", attempted=False)
    logger.info(
        "invitation batch: %d sent, %d failed, %d to retry, %d handed on, %d cancelled, %d deferred",
        len(outcome.sent),
        len(outcome.failed),
        len(outcome.retry),
        len(outcome.handed_on),
        outcome.cancelled,
        outcome.deferred,
    )
    return outcome


def _send_over_one_connection(messages: list[Outgoing], outcome: BatchOutcome, *, deadline: float) -> None:
    sender = sender_for(messages[0].channel)
    try:
        sender.open()
    except SendFailed as failure:  # no connection: nothing was tried, whatever the error says
        outcome.retry.extend(m.invitation_id for m in messages)
        outcome.retry_code, outcome.retry_reason = failure.code, failure.reason
        return
    marked: set[int] = set()

    def mark_sent(message: Outgoing) -> Callable[[], bool]:
        marked.add(message.invitation_id)  # undone only where it applied: see invitation_unmark_sent
        return invitation_mark_sent(invitation_id=message.invitation_id, expires_at=message.expires_at)

    try:
        for position, message in enumerate(messages):
            if time.monotonic() > deadline:
                outcome.handed_on.extend(m.invitation_id for m in messages[position:])
                return
            try:
                sender.send(message, mark_sent=functools.partial(mark_sent, message))
            except SendFailed as failure:
                if message.invitation_id in marked:  # refused after the point of no return
                    invitation_unmark_sent(invitation_id=message.invitation_id)
                if isinstance(failure, PermanentFailure):
                    invitation_mark_failed(invitation_id=message.invitation_id, reason=failure.reason)
                    outcome.failed.append(message.invitation_id)
                    logger.info("invitation %s failed for good: %s", message.invitation_id, failure.code)
                    continue
                outcome.retry_code, outcome.retry_reason = failure.code, failure.reason
                if isinstance(failure, TransientFailure) and failure.connection_lost:
                    outcome.retry.extend(m.invitation_id for m in messages[position:])
                    return
                outcome.retry.append(message.invitation_id)
            else:
                outcome.sent.append(message.invitation_id)
    finally:
        sender.close()


def invitation_claim(*, invitation_ids: Sequence[int], now: dt.datetime) -> Claim:
    """Move the due, still-queued invitations among `invitation_ids` to sending, each with a new
    token, and return the messages to send. In the same transaction: cancel those whose contact
    may no longer be asked (consent, snooze), that have no address or whose request's send window
    has closed; defer those in the contact's quiet hours; fail those out of attempts.

    Rows another task holds are skipped (SKIP LOCKED), not waited for: that task claims them.
    """
    with transaction.atomic():
        invitations = list(
            Invitation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("contact", "survey", "department", "send_request")
            .filter(pk__in=list(invitation_ids), status=Status.QUEUED)
            .filter(Q(send_after__isnull=True, touched_at__lte=now) | Q(send_after__lte=now))
            .order_by("pk")
        )
        if not invitations:
            return Claim(outgoing=[], cancelled=0, deferred=0)
        addresses = _addresses([i.contact_id for i in invitations])
        verdicts = _consent_verdicts(invitations, now=now)
        claimed, cancelled, deferred, failed = [], 0, 0, []
        for invitation in invitations:
            address = addresses.get((invitation.contact_id, ADDRESS_KIND[invitation.channel]))
            reason = _reason_not_to_send(invitation, verdicts[invitation.pk], address=address, now=now)
            if reason:
                if _invitation_stop(invitation, reason=reason, now=now) == Status.FAILED:
                    failed.append(invitation.pk)
                else:
                    cancelled += 1
                continue
            quiet_until = _quiet_until(invitation, now=now)
            if quiet_until is not None:
                # Deferred, not blocked: queued again for the end of the night, to be dispatched then.
                Invitation.objects.filter(pk=invitation.pk).update(
                    send_after=quiet_until, dispatched_at=None, updated_at=now
                )
                deferred += 1
                continue
            claimed.append((invitation, address))
        outgoing = _claim_for_sending(claimed, now=now)
    return Claim(outgoing=outgoing, cancelled=cancelled, deferred=deferred, failed=failed)


def _reason_not_to_send(
    invitation: Invitation, verdict: ConsentVerdict, *, address: str | None, now: dt.datetime
) -> str:
    """Why this invitation must not go out now ("" if it may): the gatekeeper's contract re-checked."""
    if not verdict.allowed:
        until = f" until {verdict.until.isoformat()}" if verdict.until else ""
        return f"{verdict.reason}: re-checked before sending{until}"
    if address is None:
        return "no_address: the contact has no address on this channel any more"
    latest = invitation.send_request.latest_send_at
    if latest is not None and now > latest:
        return "send_window_closed: the request's latest send time passed before it could be sent"
    if invitation.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        return f"attempts: gave up after {invitation.attempts} attempts"
    return ""


def _invitation_stop(invitation: Invitation, *, reason: str, now: dt.datetime) -> str:
    """Cancelled (the gatekeeper says no now) or failed (out of attempts); neither counts as a touch.
    Returns the status it got."""
    status = Status.FAILED if reason.startswith("attempts:") else Status.CANCELLED
    Invitation.objects.filter(pk=invitation.pk).update(status=status, failure_reason=reason, updated_at=now)
    logger.info("invitation %s %s before sending: %s", invitation.pk, status, reason.split(":", 1)[0])
    return status


def _quiet_until(invitation: Invitation, *, now: dt.datetime) -> dt.datetime | None:
    return quiet_hours_end(
        now,
        time_zone=zone_of(invitation.contact.time_zone),
        start=parse_clock(settings.QUIET_HOURS_START),
        end=parse_clock(settings.QUIET_HOURS_END),
    )


def _claim_for_sending(claimed: list[tuple[Invitation, str]], *, now: dt.datetime) -> list[Outgoing]:
    """Queued → sending, attempts + 1, and a fresh token per invitation; returns the messages."""
    if not claimed:
        return []
    Invitation.objects.filter(pk__in=[i.pk for i, _ in claimed]).update(
        status=Status.SENDING, attempts=F("attempts") + 1, updated_at=now
    )
    tokens, outgoing = [], []
    for invitation, address in claimed:
        token, token_hash = token_new()
        tokens.append(InvitationToken(invitation_id=invitation.pk, token_hash=token_hash, created_at=now))
        outgoing.append(_outgoing(invitation, address=address, token=token, kind="invite", now=now))
    InvitationToken.objects.bulk_create(tokens)
    return outgoing


def _outgoing(invitation: Invitation, *, address: str, token: str, kind: str, now: dt.datetime) -> Outgoing:
    contact, survey = invitation.contact, invitation.survey
    return Outgoing(
        invitation_id=invitation.pk,
        kind=kind,
        channel=invitation.channel,
        address=address,
        name=contact.name,
        locale=contact.locale,
        time_zone=contact.time_zone,
        token=token,
        survey_name=survey.name,
        survey_intro=survey.intro,
        department_name=invitation.department.name,
        expires_at=invitation.expires_at or now + dt.timedelta(days=survey.link_valid_days),
    )


def _addresses(contact_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """(contact, identity kind) → the address to send to: the one given most recently. Emails as
    given (normalised ones drop tags the person may rely on), phones in E.164."""
    rows = (
        Identity.objects.filter(contact_id__in=set(contact_ids), kind__in=list(ADDRESS_KIND.values()))
        .order_by("contact_id", "kind", "-pk")
        .values_list("contact_id", "kind", "value", "normalised")
    )
    addresses: dict[tuple[int, str], str] = {}
    for contact_id, kind, value, normalised in rows:
        addresses.setdefault((contact_id, kind), normalised if kind == Identity.Kind.PHONE else value.strip())
    return addresses


def _consent_verdicts(invitations: list[Invitation], *, now: dt.datetime) -> dict[int, ConsentVerdict]:
    """Each invitation's consent verdict at `now`: what contacts.consent_selectors.consent_status
    answers for one contact, for the whole batch in one query (the same consent_decide)."""
    records = defaultdict(list)
    rows = (
        Consent.objects.filter(contact_id__in={i.contact_id for i in invitations}, created_at__lte=now)
        .order_by("created_at", "pk")
        .values_list("contact_id", "department_id", "channel", "kind", "until", "created_at", named=True)
    )
    for row in rows:
        records[row.contact_id].append(row)
    return {
        i.pk: consent_decide(records[i.contact_id], department_id=i.department_id, channel=i.channel, at=now)
        for i in invitations
    }


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


# -- Sweeper and expiry --------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepOutcome:
    requeued: int  # left in sending by a worker that died
    handed_again: int  # handed to the broker long ago and never claimed
    handed_over: int  # handed to the broker by this sweep (these and any other due ones)


def invitations_sweep_stuck(*, now: dt.datetime | None = None) -> SweepOutcome:
    """Recover what a dead worker or a lost task left behind, then dispatch: invitations in sending
    for longer than DELIVERY_STUCK_AFTER go back to queued (their worker is dead: no task runs that
    long), and queued ones handed over more than DELIVERY_HANDOFF_LEASE ago are handed over again."""
    now = now or timezone.now()
    stuck_before = now - dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER)
    lease_before = now - dt.timedelta(seconds=settings.DELIVERY_HANDOFF_LEASE)
    requeued = handed_again = 0
    for send_request in requests_delivering(now=now):
        mine = Invitation.objects.filter(send_request_id=send_request.pk)
        requeued += mine.filter(status=Status.SENDING, updated_at__lt=stuck_before).update(
            status=Status.QUEUED, dispatched_at=None, updated_at=now
        )
        handed_again += mine.filter(status=Status.QUEUED, dispatched_at__lt=lease_before).update(
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
    now = now or timezone.now()
    return Invitation.objects.filter(status__in=AWAITING_ANSWER, expires_at__lte=now).update(
        status=Status.EXPIRED, updated_at=now
    )


# -- Reminders -----------------------------------------------------------------------------------


@dataclass
class ReminderOutcome:
    sent: int = 0
    skipped: int = 0  # consent, quiet hours or no address: perhaps next time
    failed: int = 0
    retry: int = 0


def reminders_due(*, now: dt.datetime) -> Q:
    """Sent, not answered, link still valid, fewer than REMINDER_MAX reminders, and the last message
    (the invitation or a reminder) at least REMINDER_MIN_GAP_DAYS ago."""
    gap_start = now - dt.timedelta(days=settings.REMINDER_MIN_GAP_DAYS)
    return (
        Q(status__in=AWAITING_ANSWER, expires_at__gt=now, responded_at__isnull=True)
        & Q(reminders_sent__lt=settings.REMINDER_MAX, sent_at__lte=gap_start)
        & (Q(last_reminder_at__isnull=True) | Q(last_reminder_at__lte=gap_start))
    )


def reminders_send(*, now: dt.datetime | None = None) -> ReminderOutcome:
    """Send the reminders that are due, in batches, within DELIVERY_BATCH_SECONDS (the next run goes
    on). Writes reminders_sent, last_reminder_at and a token per reminder; no invitation, no touch."""
    now = now or timezone.now()
    outcome = ReminderOutcome()
    deadline = time.monotonic() + settings.DELIVERY_BATCH_SECONDS
    due = Invitation.objects.filter(reminders_due(now=now)).order_by("pk").values_list("pk", flat=True)
    for batch in _chunks(list(due), settings.DELIVERY_BATCH_SIZE):
        if time.monotonic() > deadline:
            break
        _reminders_send_batch(batch, now=now, outcome=outcome)
    logger.info(
        "reminders: %d sent, %d skipped, %d failed, %d to retry",
        outcome.sent,
        outcome.skipped,
        outcome.failed,
        outcome.retry,
    )
    return outcome


def _reminders_send_batch(ids: list[int], *, now: dt.datetime, outcome: ReminderOutcome) -> None:
    claimed = _reminders_claim(ids, now=now, outcome=outcome)
    by_channel: dict[str, list[Outgoing]] = defaultdict(list)
    for message in claimed:
        by_channel[message.channel].append(message)
    for messages in by_channel.values():
        unsent = list(messages)
        sender = sender_for(messages[0].channel)
        try:
            sender.open()
            while unsent:
                try:
                    # The reminder was counted before sending (at most once): nothing to mark.
                    sender.send(unsent[0], mark_sent=lambda: lambda: None)
                except PermanentFailure as failure:
                    outcome.failed += 1
                    logger.info(
                        "reminder for invitation %s failed: %s", unsent[0].invitation_id, failure.code
                    )
                else:
                    outcome.sent += 1
                unsent.pop(0)
        except TransientFailure:
            pass  # the unsent ones are given back below, for the next run
        finally:
            sender.close()
        for message in unsent:
            _reminder_give_back(message, previous=claimed[message], now=now)
            outcome.retry += 1


def _reminders_claim(
    ids: list[int], *, now: dt.datetime, outcome: ReminderOutcome
) -> dict[Outgoing, dt.datetime | None]:
    """Count a reminder for each due invitation the contact may receive now. Returns the messages,
    each with the invitation's previous last_reminder_at (to give the count back)."""
    with transaction.atomic():
        invitations = list(
            Invitation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("contact", "survey", "department")
            .filter(reminders_due(now=now), pk__in=ids)
            .order_by("pk")
        )
        addresses = _addresses([i.contact_id for i in invitations])
        verdicts = _consent_verdicts(invitations, now=now)
        claimed, tokens = {}, []
        for invitation in invitations:
            address = addresses.get((invitation.contact_id, ADDRESS_KIND[invitation.channel]))
            if not verdicts[invitation.pk].allowed or address is None or _quiet_until(invitation, now=now):
                outcome.skipped += 1
                continue
            number = invitation.reminders_sent + 1
            Invitation.objects.filter(pk=invitation.pk).update(
                reminders_sent=number, last_reminder_at=now, updated_at=now
            )
            token, token_hash = token_new()
            tokens.append(InvitationToken(invitation_id=invitation.pk, token_hash=token_hash, created_at=now))
            message = _outgoing(invitation, address=address, token=token, kind=f"reminder-{number}", now=now)
            claimed[message] = invitation.last_reminder_at
        InvitationToken.objects.bulk_create(tokens)
    return claimed


def _reminder_give_back(message: Outgoing, *, previous: dt.datetime | None, now: dt.datetime) -> None:
    """Undo the count of a reminder the server did not take, so the next run sends it."""
    number = message.reminder_number
    Invitation.objects.filter(pk=message.invitation_id, reminders_sent=number, last_reminder_at=now).update(
        reminders_sent=number - 1, last_reminder_at=previous, updated_at=now
    )


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
