"""Overrides: a CX lead lets one send request, or named contacts in it, past a frequency rule (one rule,
or every rule) for a stated reason, approved by a second CX lead (issue 15). Consent, snoozes and
missing addresses are never overridden: only blocks by a frequency rule."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from contacts.models import Contact
from surveys.models.gatekeeper import FrequencyRule, SendRequest

OVERRIDE_REASON_MAX_LENGTH = 500  # characters of the reason a CX lead gives


class Override(models.Model):
    """Let `send_request`'s contacts (all, or `contacts`) past `rule` (empty: every frequency rule).

    Applied when the request is screened, and only once approved by someone other than the requester
    and the request's creator. The touches it lets through are ordinary invitations: they count for
    everyone else's rules.
    """

    send_request = models.ForeignKey(SendRequest, on_delete=models.CASCADE, related_name="overrides")
    contacts = models.ManyToManyField(
        Contact, blank=True, related_name="+", help_text="Empty: every contact of the request."
    )
    rule = models.ForeignKey(
        FrequencyRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: every frequency rule.",
    )
    reason = models.CharField(max_length=OVERRIDE_REASON_MAX_LENGTH)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    # Set by the screening that applied it: when, and how many contacts it let through. The results'
    # over-surveying figures add these up, without reading the decisions.
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_contacts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # The four-eyes promise, kept even by a write that bypasses the service.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("requested_by")),
                name="override_approver_not_requester",
            ),
        ]
        indexes = [
            # The results' over-surveying figures: overrides applied in a period.
            models.Index(
                fields=["applied_at"], name="override_applied", condition=Q(applied_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"override #{self.pk} of {self.rule or 'every rule'}"

    @property
    def is_approved(self) -> bool:
        return self.approved_by_id is not None
