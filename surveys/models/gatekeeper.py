"""Surveys, frequency rules, send requests, decisions and invitations: the gatekeeper's data."""

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex, BTreeIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Channel, Contact
from departments.models import Department


class SurveyKind(models.TextChoices):
    RELATIONSHIP = "relationship", "Relationship"
    TRANSACTIONAL = "transactional", "Transactional"


class Survey(models.Model):
    """One version of a survey. Sending freezes it; editing a frozen survey makes the next version,
    which shares `family_id` so "the same survey" means every version of it."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="surveys")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=SurveyKind.choices, default=SurveyKind.TRANSACTIONAL)
    family_id = models.BigIntegerField(null=True, blank=True, editable=False, db_index=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    is_current = models.BooleanField(default=True, editable=False)
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)
    intro = models.TextField(blank=True, help_text="Shown above the questions.")
    link_valid_days = models.PositiveIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Days an invitation link stays valid.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["family_id", "version"], name="survey_family_version_unique"),
            models.UniqueConstraint(
                fields=["family_id"], condition=Q(is_current=True), name="survey_one_current_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})" if self.version > 1 else self.name

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class QuestionKind(models.TextChoices):
    NPS = "nps", "NPS (0–10)"
    CSAT = "csat", "CSAT (1–5)"
    CES = "ces", "CES (1–7)"
    RATING = "rating", "Rating"
    SINGLE_CHOICE = "single_choice", "Single choice"
    MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
    FREE_TEXT = "free_text", "Free text"


# The fixed scales of the standard question kinds (PRODUCT.md §3).
FIXED_SCALES = {QuestionKind.NPS: (0, 10), QuestionKind.CSAT: (1, 5), QuestionKind.CES: (1, 7)}


class Question(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=QuestionKind.choices)
    text = models.CharField(max_length=500)
    help_text = models.CharField(max_length=500, blank=True)
    required = models.BooleanField(default=True)
    # Rating questions choose their scale; NPS, CSAT and CES have fixed ones (FIXED_SCALES).
    scale_min = models.IntegerField(null=True, blank=True)
    scale_max = models.IntegerField(null=True, blank=True)
    choices = models.JSONField(default=list, blank=True, help_text="Options of a choice question.")

    class Meta:
        ordering = ["survey", "position"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "position"], name="question_position_unique"),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def scale(self) -> tuple[int, int] | None:
        if self.kind in FIXED_SCALES:
            return FIXED_SCALES[self.kind]
        if self.kind == QuestionKind.RATING:
            return (self.scale_min, self.scale_max)
        return None


class RuleClock(models.TextChoices):
    INVITATION = "invitation", "Invitation sent"
    RESPONSE = "response", "Response received"


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
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(window__gt="0 seconds"), name="rule_window_positive"),
            models.CheckConstraint(condition=Q(max_touches__gte=1), name="rule_max_touches_positive"),
        ]

    def __str__(self) -> str:
        return self.name


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
        return f"{self.rule} v{self.version}"


class SendRequest(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"
        SCREENED = "screened", "Screened"
        SENDING = "sending", "Sending"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    class AudienceKind(models.TextChoices):
        UPLOAD = "upload", "Uploaded list"
        FILTER = "filter", "Contacts filtered by attributes"
        ALL_KNOWN = "all_known", "All contacts the department knows"
        TRIGGER = "trigger", "One contact, triggered by an event"

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
    purpose = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    screening_summary = models.JSONField(default=dict, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    screened_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

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


# Decisions and invitations are written by the hundred thousand in one INSERT … SELECT that joins the
# very rows they refer to (surveys/screening.py), and contacts are never deleted outside the ORM,
# which cascades on its own. So their hot foreign keys carry no database constraint: PostgreSQL
# would check each one per row at commit, taking a KEY SHARE lock on every contact — the per-contact
# row locking that the striped advisory locks exist to avoid — and it tripled the screening time.
# Indexes that a unique constraint or a composite index already serves are left out for the same
# reason: every index is written once per row.
HOT_FOREIGN_KEY = {"db_constraint": False, "db_index": False}


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
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["send_request", "contact"], name="decision_one_per_contact"),
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
    # When dispatch last handed the invitation to the broker (surveys/services/delivery.py); a queued
    # invitation handed over long ago was lost on the way and the sweeper hands it over again.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
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
    """A personal link's token, stored as its SHA-256 only (surveys/tokens.py).

    Each message sent for an invitation (the invitation itself, a resend after a crash, a
    reminder) carries a token of its own, so no plain token ever needs to be kept to send again.
    """

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"token of invitation #{self.invitation_id}"
