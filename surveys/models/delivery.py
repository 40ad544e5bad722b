"""Invitations, the personal links the gatekeeper's allowed decisions become, and their tokens
(stored hashed). The invitation is also the touch every frequency rule counts."""

from __future__ import annotations

from django.contrib.postgres.indexes import BTreeIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Channel, Contact
from cxfeedback.uuids import TimeOrderedUUID, uuid7
from departments.models import Department
from surveys.models.design import Survey, SurveyKind
from surveys.models.gatekeeper import HOT_FOREIGN_KEY, SendRequest


class Invitation(models.Model):
    """One allowed decision turned into a personal invitation; it counts as a touch from the moment
    it is queued. Department, survey kind and family are copied from the request so the
    gatekeeper's rule query reads one table."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        OPENED = "opened", "Opened"
        ANSWERED = "answered", "Answered"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    # The moves an invitation's status may make. surveys/delivery/invitation_status.py makes every
    # one, each a conditional UPDATE from statuses read here, so no other move can happen.
    # Nothing moves an invitation to delivered or bounced yet: the provider's delivery and bounce
    # events are recorded as consent, not on the invitation (surveys/public/webhooks.py). Their
    # edges come with the code that makes them.
    TRANSITIONS: dict[str, set[str]] = {
        # Claimed by a task (sending); stopped when re-checked before sending (cancelled, or failed
        # out of attempts) or cancelled with its send request; answered through the link of a
        # message that went out before its worker died and the sweeper put it back.
        Status.QUEUED: {Status.SENDING, Status.CANCELLED, Status.FAILED, Status.ANSWERED},
        # Back to queued: a transient failure or a batch out of time (for a retry), or the sweeper
        # (its worker died). Answered: the message went out before the sent mark was stored (an
        # SMS, a worker that died), and the customer was quicker.
        Status.SENDING: {Status.SENT, Status.QUEUED, Status.FAILED, Status.ANSWERED},
        # Back to sending: the server refused the message after the point of no return, which
        # undoes the mark; then failed or queued again from there.
        Status.SENT: {Status.SENDING, Status.OPENED, Status.ANSWERED, Status.EXPIRED},
        Status.DELIVERED: {Status.OPENED, Status.ANSWERED, Status.EXPIRED},
        Status.OPENED: {Status.ANSWERED, Status.EXPIRED},
        Status.ANSWERED: set(),
        Status.FAILED: set(),
        Status.BOUNCED: set(),
        Status.EXPIRED: set(),
        Status.CANCELLED: set(),
    }

    # The id the API shows: unguessable, so it does not count other departments' invitations; time-ordered,
    # so a screening's invitations go to the end of its index, not all over it (cxfeedback/uuids.py).
    public_id = models.UUIDField(default=uuid7, db_default=TimeOrderedUUID(), unique=True, editable=False)
    send_request = models.ForeignKey(
        SendRequest, on_delete=models.CASCADE, related_name="invitations", **HOT_FOREIGN_KEY
    )
    survey = models.ForeignKey(
        Survey, on_delete=models.PROTECT, related_name="invitations", **HOT_FOREIGN_KEY
    )
    survey_family_id = models.BigIntegerField()
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+", **HOT_FOREIGN_KEY)
    survey_kind = models.CharField(max_length=20, choices=SurveyKind.choices)
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="invitations", **HOT_FOREIGN_KEY
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # When the touch happens, as the gatekeeper reserved it: the planned send time. It never moves
    # afterwards, so every window the gatekeeper checked stays as decided; quiet hours defer the
    # actual send with `send_after`, and `sent_at` records when it went out.
    touched_at = models.DateTimeField()
    send_after = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # When dispatch last handed the invitation to the broker (surveys/delivery/); a queued
    # invitation handed over long ago was lost on the way and the sweeper hands it over again.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    # The survey's burden when it was reserved (minutes, Survey.burden_weight): what a rule counting
    # weight counts of this touch.
    weight = models.PositiveSmallIntegerField(default=1, db_default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # Statuses that do not count as a touch: the person was never reached.
    NOT_COUNTED = ("cancelled", "failed")
    # Statuses of an invitation the customer may still answer.
    OPEN = ("queued", "sending", "sent", "delivered", "opened")

    class Meta:
        constraints = [
            # Exactly one invitation per contact per request (PRODUCT.md §4.3).
            models.UniqueConstraint(fields=["send_request", "contact"], name="invitation_one_per_request"),
            # Never a second open invitation for the same survey, any version (PRODUCT.md §4.3).
            models.UniqueConstraint(
                fields=["survey_family_id", "contact"],
                condition=Q(status__in=["queued", "sending", "sent", "delivered", "opened"]),
                name="invitation_one_open_per_survey",
            ),
        ]
        indexes = [
            # The gatekeeper's rule query for a few contacts (triggers, eligibility) and a contact's
            # timeline. The contact alone, so B-tree deduplication keeps a contact's touches in one
            # posting list: a screening adds an entry to almost every leaf page of a contact-keyed
            # index, and each leaf page first written after a checkpoint is copied whole into the
            # WAL. With (contact, touched_at) that was 5 times as many pages (about 160 MB of WAL
            # per 100,000-contact screening against 5 million touches, instead of 45 MB). Room left
            # in each page (fillfactor) takes the new entries without splitting it.
            BTreeIndex(fields=["contact"], fillfactor=70, name="invitation_contact"),
            # A screening batch's rule query: each contact's counted touches since the widest window
            # began, found here and only those read from the table (touches_sql.RANGE_SCAN_IDS),
            # however long the history. It costs the WAL the index above avoids, for a batch time
            # that no longer grows with the touches a contact has had (README "Screening in
            # committed batches").
            models.Index(
                fields=["contact", "touched_at"],
                condition=~Q(status__in=["cancelled", "failed"]),
                name="invitation_counted_by_contact",
            ),
            # The same query for a large audience: every counted touch since the widest window began,
            # read from the index alone (it carries every column the rules' scopes and clocks use).
            models.Index(
                fields=["touched_at"],
                include=["contact", "department", "survey_kind", "channel", "responded_at"],
                condition=~Q(status__in=["cancelled", "failed"]),
                name="invitation_counted_by_time",
            ),
            # The results dashboard's invitations sent in a period (today's, after the daily rollups).
            # Screening writes queued rows, which it leaves out; sending changes the status, which
            # other indexes' conditions read, so that update writes every index anyway.
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="invitation_sent_time"),
            # Delivery's expiry and reminder runs: the invitations sent and not yet answered or
            # expired, by expiry. Queued rows (all that screening writes) are not in it.
            models.Index(
                fields=["expires_at"],
                condition=Q(status__in=["sent", "delivered", "opened"]),
                name="invitation_awaiting_answer",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation #{self.pk} ({self.get_status_display()})"


class InvitationToken(models.Model):
    """A personal link's token, stored as its SHA-256 only (surveys/delivery/tokens.py).

    Each message sent for an invitation (the invitation itself, a resend after a crash, a
    reminder) carries a token of its own, so no plain token ever needs to be kept to send again.
    """

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"token of invitation #{self.invitation_id}"
