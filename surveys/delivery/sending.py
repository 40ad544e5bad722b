"""Claim and send: a task's batch of invitations, claimed with a conditional UPDATE (queued →
sending), re-checked against the gatekeeper's contract, and sent over one connection per channel.
The life of an invitation, and why this is exactly once in effect, is told in
surveys/delivery/__init__.py."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.consent import ConsentVerdict
from surveys.delivery.channels import Outgoing, PermanentFailure, SendFailed, TransientFailure, sender_for
from surveys.delivery.invitation_status import (
    invitation_mark_failed,
    invitation_mark_sent,
    invitation_stop,
    invitation_unmark_sent,
    invitations_mark_sending,
    invitations_release,
)
from surveys.delivery.messages import (
    Recipient,
    consent_verdicts,
    outgoing_message,
    quiet_until,
    recipients_of,
)
from surveys.delivery.tokens import token_new
from surveys.models import Invitation, InvitationToken

logger = logging.getLogger(__name__)


Status = Invitation.Status


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


@dataclass(frozen=True)
class Stop:
    """An invitation that must not go out, and what it becomes: cancelled (the gatekeeper says no
    now) or failed (out of attempts). Neither counts as a touch."""

    status: str
    code: str  # short and safe to log: opted_out, no_address, attempts …
    detail: str

    @property
    def reason(self) -> str:
        """As stored in the invitation's failure_reason."""
        return f"{self.code}: {self.detail}"


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
        recipients = recipients_of(invitations)
        verdicts = consent_verdicts(invitations, now=now)
        claimed, cancelled, deferred, failed = [], 0, 0, []
        for invitation in invitations:
            recipient = recipients[invitation.pk]
            stop = _stop_before_sending(
                invitation, verdicts[invitation.pk], address=recipient.address, now=now
            )
            if stop is not None:
                _invitation_stop(invitation, stop=stop, now=now)
                if stop.status == Status.FAILED:
                    failed.append(invitation.pk)
                else:
                    cancelled += 1
                continue
            quiet_end = quiet_until(recipient, now=now)
            if quiet_end is not None:
                # Deferred, not blocked: queued again for the end of the night, to be dispatched then.
                Invitation.objects.filter(pk=invitation.pk).update(
                    send_after=quiet_end, dispatched_at=None, updated_at=now
                )
                deferred += 1
                continue
            claimed.append((invitation, recipient))
        outgoing = _claim_for_sending(claimed, now=now)
    return Claim(outgoing=outgoing, cancelled=cancelled, deferred=deferred, failed=failed)


def _stop_before_sending(
    invitation: Invitation, verdict: ConsentVerdict, *, address: str | None, now: dt.datetime
) -> Stop | None:
    """Why and how this invitation must not go out now (None if it may): the gatekeeper's contract
    re-checked, or out of attempts."""
    if not verdict.allowed:
        until = f" until {verdict.until.isoformat()}" if verdict.until else ""
        return Stop(Status.CANCELLED, verdict.reason, f"re-checked before sending{until}")
    if address is None:
        detail = "no address on this channel the department may use any more"
        return Stop(Status.CANCELLED, "no_address", detail)
    latest = invitation.send_request.latest_send_at
    if latest is not None and now > latest:
        detail = "the request's latest send time passed before it could be sent"
        return Stop(Status.CANCELLED, "send_window_closed", detail)
    if invitation.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        return Stop(Status.FAILED, "attempts", f"gave up after {invitation.attempts} attempts")
    return None


def _invitation_stop(invitation: Invitation, *, stop: Stop, now: dt.datetime) -> None:
    invitation_stop(invitation_id=invitation.pk, to=stop.status, reason=stop.reason, now=now)
    logger.info("invitation %s %s before sending: %s", invitation.pk, stop.status, stop.code)


def _claim_for_sending(claimed: list[tuple[Invitation, Recipient]], *, now: dt.datetime) -> list[Outgoing]:
    """Queued → sending, attempts + 1, and a fresh token per invitation; returns the messages."""
    if not claimed:
        return []
    invitations_mark_sending(invitation_ids=[i.pk for i, _ in claimed], now=now)
    tokens, outgoing = [], []
    for invitation, recipient in claimed:
        token, token_hash = token_new()
        tokens.append(InvitationToken(invitation_id=invitation.pk, token_hash=token_hash, created_at=now))
        outgoing.append(
            outgoing_message(invitation, recipient=recipient, token=token, kind="invite", now=now)
        )
    InvitationToken.objects.bulk_create(tokens)
    return outgoing
