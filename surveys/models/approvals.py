"""A CX lead's controls over sending (issue 15): approval of send requests held after screening, and
the daily count behind a department's trigger cap."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from departments.models import Department
from surveys.models.gatekeeper import SendRequest

APPROVAL_COMMENT_MAX_LENGTH = 1000  # characters of a CX lead's comment


class Approval(models.Model):
    """Why a screened send request waits for a CX lead, and what the lead decided.

    Made by the screening that held the request (surveys/gatekeeper/holds.py) with the figures it
    saw; the request's invitations stay queued (reserved) meanwhile. Decided once, by
    surveys/gatekeeper/approvals.py: approved (the request is screened and delivered) or rejected
    (it is cancelled and its invitations released).
    """

    class Reason(models.TextChoices):
        SIZE = "size", "Audience above the approval threshold"
        BUDGET = "budget", "Past the department's monthly touch budget"

    class State(models.TextChoices):
        PENDING = "pending", "Awaiting approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    send_request = models.OneToOneField(SendRequest, on_delete=models.CASCADE, related_name="approval")
    reasons = models.JSONField(default=list, help_text='Reason values, e.g. ["size", "budget"].')
    # The figures the screening saw, so the lead decides on what held the request.
    audience = models.PositiveIntegerField(
        help_text="Contacts the request reserved: eligible now and planned."
    )
    threshold = models.PositiveIntegerField(null=True, blank=True)
    budget = models.PositiveIntegerField(null=True, blank=True)
    budget_used = models.PositiveIntegerField(
        null=True, blank=True, help_text="The department's counted touches that month, before this request."
    )
    budget_month = models.DateField(null=True, blank=True, help_text="First day of the budget's month.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.CharField(max_length=APPROVAL_COMMENT_MAX_LENGTH, blank=True)

    class Meta:
        indexes = [
            # The CX lead's queue: the requests awaiting a decision, a few among many.
            models.Index(
                fields=["requested_at"], condition=models.Q(state="pending"), name="approval_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_state_display()}: {self.send_request}"

    def reason_labels(self) -> list[str]:
        return [self.Reason(reason).label for reason in self.reasons]


class TriggerDay(models.Model):
    """How many triggers a department with a daily trigger cap made on one day.

    Counted by one upsert per trigger (surveys/gatekeeper/trigger_caps.py) whose row lock makes the
    department's triggers of the day take turns at the cap, so two cannot both take the last one.
    Departments without a cap write nothing here.
    """

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    triggers = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["department", "day"], name="trigger_day_unique")]

    def __str__(self) -> str:
        return f"{self.department_id} {self.day}: {self.triggers}"
