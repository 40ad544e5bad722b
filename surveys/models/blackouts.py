"""Blackouts: events during which no survey may go to a contact or an account (an open complaint or
support ticket, an outage, a cancellation in progress), and for a tail after they close."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Account, Contact
from departments.models import Department


class BlackoutKind(models.TextChoices):
    COMPLAINT = "complaint", "an open complaint"
    TICKET = "ticket", "an open support ticket"
    OUTAGE = "outage", "an outage"
    CANCELLATION = "cancellation", "a cancellation in progress"


# How long a closed blackout keeps blocking unless the opener says otherwise.
DEFAULT_BLACKOUT_TAIL = dt.timedelta(days=7)


class Blackout(models.Model):
    """One event of one department blocking every department's surveys to a contact (or every
    contact of an account) from `opened_at` while open, and until `closed_at + tail` once closed.

    Other departments learn only its kind, from a decision (Reason.BLACKOUT, Decision.blackout_kind):
    never its external id, its summary or which department opened it.
    """

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    # The event's id in the opener's system (its ticket number): opening and closing are idempotent by it.
    external_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=BlackoutKind.choices)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    summary = models.CharField(
        max_length=500, blank=True, help_text="The opener's own note; no one else sees it."
    )
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    tail = models.DurationField(
        default=DEFAULT_BLACKOUT_TAIL, help_text="Surveys stay blocked this long after it closes."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["department", "external_id"], name="blackout_external_id_unique"),
            models.CheckConstraint(
                condition=Q(contact__isnull=True) ^ Q(account__isnull=True),
                name="blackout_contact_or_account",
            ),
            models.CheckConstraint(condition=Q(tail__gte=dt.timedelta(0)), name="blackout_tail_not_negative"),
        ]
        # The screening's look-up of a contact's blackouts and of an account's (the FKs' indexes).

    def __str__(self) -> str:
        return f"Blackout {self.external_id} ({self.kind})"

    @property
    def ends_at(self) -> dt.datetime | None:
        """When it stops blocking; None while open."""
        return self.closed_at + self.tail if self.closed_at is not None else None
