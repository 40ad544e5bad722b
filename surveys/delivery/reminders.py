"""Reminders (beat): at most once. The reminder count is raised before sending and lowered again only
if the server refused for now, so a crash mid-send loses a reminder rather than repeating one.
They never create invitations and so never count as touches."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from surveys.delivery.channels import NO_MARK, Outgoing, PermanentFailure, TransientFailure, sender_for
from surveys.delivery.dispatch import chunks
from surveys.delivery.invitation_status import AWAITING_ANSWER
from surveys.delivery.messages import (
    consent_verdicts,
    outgoing_message,
    quiet_until,
    recipients_of,
)
from surveys.delivery.tokens import token_new
from surveys.models import Invitation, InvitationToken

logger = logging.getLogger(__name__)


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
    for batch in chunks(list(due), settings.DELIVERY_BATCH_SIZE):
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
                    # Counted by _reminders_claim before sending (at most once): nothing to mark.
                    sender.send(unsent[0], mark_sent=NO_MARK)
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
        recipients = recipients_of(invitations)
        verdicts = consent_verdicts(invitations, now=now)
        claimed, tokens = {}, []
        for invitation in invitations:
            recipient = recipients[invitation.pk]
            if (
                not verdicts[invitation.pk].allowed
                or recipient.address is None
                or quiet_until(recipient, now=now)
            ):
                outcome.skipped += 1
                continue
            number = invitation.reminders_sent + 1
            Invitation.objects.filter(pk=invitation.pk).update(
                reminders_sent=number, last_reminder_at=now, updated_at=now
            )
            token, token_hash = token_new()
            tokens.append(InvitationToken(invitation_id=invitation.pk, token_hash=token_hash, created_at=now))
            message = outgoing_message(
                invitation, recipient=recipient, token=token, kind=f"reminder-{number}", now=now
            )
            claimed[message] = invitation.last_reminder_at
        InvitationToken.objects.bulk_create(tokens)
    return claimed


def _reminder_give_back(message: Outgoing, *, previous: dt.datetime | None, now: dt.datetime) -> None:
    """Undo the count of a reminder the server did not take, so the next run sends it."""
    number = message.reminder_number
    Invitation.objects.filter(pk=message.invitation_id, reminders_sent=number, last_reminder_at=now).update(
        reminders_sent=number - 1, last_reminder_at=previous, updated_at=now
    )
