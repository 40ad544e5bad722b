"""Surveys, frequency rules, send requests, decisions and invitations: the gatekeeper's data."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Channel, Contact
from cxfeedback.uuids import TimeOrderedUUID, uuid7
from departments.models import Department
from surveys.models.design import Survey, SurveyKind


class RuleClock(models.TextChoices):
    INVITATION = "invitation", "Invitation sent"
    RESPONSE = "response", "Response received"


class RuleCounts(models.TextChoices):
    TOUCHES = "touches", "Touches"
    WEIGHT = "weight", "Burden (minutes of surveys)"


class FrequencyRule(models.Model):
    """At most `max_touches` counted touches per contact in any rolling `window` (PRODUCT.md §3).

    Scope fields left empty mean "any": a rule with none set covers everyone. Every change is kept
    in FrequencyRuleVersion, and each decision names the version that made it.
    """

    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    max_touches = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    window = models.DurationField(help_text="Rolling window, e.g. 30 days or 12:00:00 for 12 hours.")
    scope_department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scope_survey_kind = models.CharField(max_length=20, choices=SurveyKind.choices, blank=True)
    scope_channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    clock = models.CharField(max_length=10, choices=RuleClock.choices, default=RuleClock.INVITATION)
    new_contact_grace = models.DurationField(
        null=True, blank=True, help_text="Contacts known for less than this are not surveyed yet."
    )
    # Per account: the touches of every contact of the contact's account count together.
    per_account = models.BooleanField(default=False, help_text="Count all contacts of one account together.")
    # Weight: max_touches is the most minutes of surveys (Invitation.weight) in a window.
    counts = models.CharField(max_length=10, choices=RuleCounts.choices, default=RuleCounts.TOUCHES)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # The messages are what a form shows when a value breaks one (plain words, not the name).
            models.CheckConstraint(
                condition=Q(window__gt="0 seconds"),
                name="rule_window_positive",
                violation_error_message="The window must be longer than zero.",
            ),
            models.CheckConstraint(
                condition=Q(max_touches__gte=1),
                name="rule_max_touches_positive",
                violation_error_message="Max touches must be at least 1.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


# What a CX lead may set on a rule, in the admin's and the API's order; the rest is kept by the service.
RULE_EDITABLE_FIELDS = (
    "name",
    "is_active",
    "max_touches",
    "window",
    "scope_department",
    "scope_survey_kind",
    "scope_channel",
    "clock",
    "new_contact_grace",
    "per_account",
    "counts",
)


class FrequencyRuleVersion(models.Model):
    rule = models.ForeignKey(FrequencyRule, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["rule", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "version"], name="rule_version_unique"),
        ]

    def __str__(self) -> str:
        # The name as this version had it: the rule's today may be another.
        return f"{self.snapshot.get('name', f'rule {self.rule_id}')} v{self.version}"


PURPOSE_MAX_LENGTH = 500  # characters of a send request's purpose, as the owner wrote it


class SendRequest(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        SCREENED = "screened", "Screened"
        # Screened, its invitations queued (reserved) but not sent until a CX lead approves
        # (surveys/gatekeeper/approvals.py): too large, or past its department's budget.
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        SENDING = "sending", "Sending"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    class AudienceKind(models.TextChoices):
        UPLOAD = "upload", "Uploaded list"
        FILTER = "filter", "Contacts filtered by attributes"
        ALL_KNOWN = "all_known", "All contacts the department knows"
        TRIGGER = "trigger", "One contact, triggered by an event"
        EXTERNAL = "external", "One contact, surveyed by another tool"

    # The id the API shows: unguessable, so it does not count other departments' requests; time-ordered,
    # as a trigger writes one per call (cxfeedback/uuids.py).
    public_id = models.UUIDField(default=uuid7, db_default=TimeOrderedUUID(), unique=True, editable=False)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="send_requests")
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="send_requests")
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    audience_kind = models.CharField(max_length=10, choices=AudienceKind.choices)
    audience_filter = models.JSONField(
        default=dict, blank=True, help_text='Attributes every contact must have, e.g. {"tier": "gold"}.'
    )
    earliest_send_at = models.DateTimeField(default=timezone.now)
    latest_send_at = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(default=5, validators=[MaxValueValidator(10)])
    purpose = models.CharField(max_length=PURPOSE_MAX_LENGTH, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    screening_summary = models.JSONField(default=dict, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    screened_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The screening's progress, written by each committed batch (surveys/gatekeeper/screening_batches.py):
    # the audience's contacts when it started, those decided so far, and the contact id up to which
    # every audience contact is decided, where a screening whose worker died carries on.
    screening_total = models.PositiveIntegerField(null=True, blank=True, editable=False)
    screening_done = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    screening_after = models.BigIntegerField(null=True, blank=True, editable=False)
    screening_progress_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(latest_send_at__isnull=True)
                | Q(latest_send_at__gte=models.F("earliest_send_at")),
                name="send_request_window_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["department", "status"], name="send_request_dept_status"),
            # Delivery's beat tasks visit the requests still being delivered, a few among very many.
            models.Index(
                fields=["status"],
                condition=Q(status__in=["screened", "sending"]),
                name="send_request_delivering",
            ),
            # Requests waiting for their screening, a few among millions (a trigger is a request too):
            # the sweeper's re-queue of lost screenings and /metrics' count and oldest age.
            models.Index(
                fields=["submitted_at"], condition=Q(status="submitted"), name="send_request_unscreened"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey} → {self.get_audience_kind_display().lower()} ({self.get_status_display()})"


class AudienceMember(models.Model):
    """One row of an uploaded audience. A contact named by two rows appears twice: the second
    is reported as a duplicate in the audience."""

    send_request = models.ForeignKey(SendRequest, on_delete=models.CASCADE, related_name="audience")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    row_number = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["send_request", "contact"], name="audience_request_contact")]

    def __str__(self) -> str:
        return f"row {self.row_number}"


class Reason(models.TextChoices):
    """Why the gatekeeper said no. Stored on every blocked decision."""

    OPTED_OUT = "opted_out", "Opted out"
    SNOOZED = "snoozed", "Snoozed"
    DUPLICATE_IN_AUDIENCE = "duplicate_in_audience", "Duplicate in audience"
    NO_ADDRESS = "no_address", "No address on this channel"
    ALREADY_INVITED = "already_invited", "Already has an open invitation for this survey"
    RULE = "rule", "Frequency rule"
    BLACKOUT = "blackout", "Blackout (a complaint, ticket, outage or cancellation)"


# Decisions and invitations are written by the hundred thousand in one INSERT … SELECT that joins the
# very rows they refer to (surveys/gatekeeper/screening.py), and contacts are never deleted outside the ORM,
# which cascades on its own. So their hot foreign keys carry no database constraint: PostgreSQL
# would check each one per row at commit, taking a KEY SHARE lock on every contact — the per-contact
# row locking that the striped advisory locks exist to avoid — and it tripled the screening time.
# Indexes that a unique constraint or a composite index already serves are left out for the same
# reason: every index is written once per row.
HOT_FOREIGN_KEY = {"db_constraint": False, "db_index": False}


def request_month_of(at: dt.datetime) -> dt.date:
    """The first day of `at`'s month in UTC: the partition of the decisions of a request made then."""
    return at.astimezone(dt.UTC).date().replace(day=1)


class DecisionQuerySet(models.QuerySet):
    def of_request(self, send_request: SendRequest) -> DecisionQuerySet:
        """`send_request`'s decisions, read from its month's partition alone."""
        return self.filter(send_request=send_request, request_month=request_month_of(send_request.created_at))


class Decision(models.Model):
    """The gatekeeper's verdict for one contact in one send request."""

    send_request = models.ForeignKey(
        SendRequest, on_delete=models.CASCADE, related_name="decisions", **HOT_FOREIGN_KEY
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", **HOT_FOREIGN_KEY)
    allowed = models.BooleanField()
    reason = models.CharField(max_length=30, choices=Reason.choices, blank=True)
    # No database constraint, like the hot foreign keys above: PostgreSQL checked it for every decision
    # at commit, a tenth of a 100,000-contact screening. Rules are never deleted (they are
    # deactivated), and PROTECT still stops a delete through the ORM.
    rule = models.ForeignKey(
        FrequencyRule,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    rule_version = models.PositiveIntegerField(null=True, blank=True)
    next_eligible_at = models.DateTimeField(null=True, blank=True)
    # The latest counted touch under the blocking rule, to explain it without naming its survey.
    last_touch_at = models.DateTimeField(null=True, blank=True)
    last_touch_same_department = models.BooleanField(null=True, blank=True)
    # The kind of the blackout that blocked it (Reason.BLACKOUT), never its content.
    blackout_kind = models.CharField(max_length=20, blank=True, default="", db_default="")
    decided_at = models.DateTimeField()
    # Set when a CX lead's override let the contact past a frequency rule (surveys/gatekeeper/
    # overrides.py): the decision then reads as allowed, and this says why. Null for every other
    # decision, so screening's bulk INSERT leaves it out; no constraint or index, as for the hot keys.
    # DO_NOTHING: an override goes only with its request, whose decisions go too, and SET_NULL would
    # look for its decisions by this unindexed column.
    override = models.ForeignKey(
        "surveys.Override",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="decisions",
        db_index=False,
        db_constraint=False,
    )
    # The partition: the first day of the send request's month, in UTC (surveys/gatekeeper/
    # decision_partitions.py). The same for all of a request's decisions, so the constraint below
    # keeps one decision per contact of a request.
    request_month = models.DateField(editable=False)

    objects = DecisionQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["send_request", "contact", "request_month"], name="decision_one_per_contact"
            ),
        ]
        indexes = [
            # A contact's timeline, newest first.
            models.Index(fields=["contact", "decided_at"], name="decision_contact_time"),
            # The results dashboard's decisions of a period (today's, after the daily rollups). BRIN:
            # decisions are written in time order, so a few bytes per thousand pages find a period,
            # at next to no cost to screening's bulk inserts.
            BrinIndex(fields=["decided_at"], name="decision_decided_brin"),
        ]

    def __str__(self) -> str:
        return "allowed" if self.allowed else f"blocked: {self.get_reason_display()}"

    def save(self, *args, **kwargs) -> None:
        if self.request_month is None:
            self.request_month = request_month_of(self.send_request.created_at)
        super().save(*args, **kwargs)
