"""Closing the loop (issue 5): a detractor's answer becomes a follow-up item for the department that
asked, and CX leads add follow-up rules of their own on top of the built-in thresholds."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact
from departments.models import ApiKey, Department
from surveys.models import SCALE_KINDS, Answer, QuestionKind, Response, Survey

# Answers that always ask for a follow-up, whatever the rules say: an NPS detractor (0–6) and a
# dissatisfied CSAT (1–2). The values are the highest that still counts.
BUILT_IN_DETRACTOR_MAX = {QuestionKind.NPS: 6, QuestionKind.CSAT: 2}

SCALE_KIND_CHOICES = [(kind.value, kind.label) for kind in SCALE_KINDS]


class FollowUpRule(models.Model):
    """A CX lead's rule: an answer to a question of `question_kind` at or below `max_value` asks for a
    follow-up — in every survey, or only in one survey (any of its versions). Rules add to the
    built-in thresholds (BUILT_IN_DETRACTOR_MAX); they never silence them.

    `waits_for_frequency_rules`: the CX lead's cap on this rule's follow-ups: the department may
    start one only when the frequency rules would allow a survey to the customer now. Off by
    default: a follow-up is a personal reply, not a survey (see results/services/followups.py)."""

    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    question_kind = models.CharField(max_length=20, choices=SCALE_KIND_CHOICES)
    max_value = models.IntegerField(help_text="Answers at or below this value ask for a follow-up.")
    survey = models.ForeignKey(
        Survey,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only this survey (any version of it); empty: every survey.",
    )
    waits_for_frequency_rules = models.BooleanField(
        "follow-ups wait for the survey frequency rules",
        default=False,
        help_text="On: a department may start (in progress) a follow-up this rule opened only when the "
        "frequency rules would allow a survey to that customer now; it shows the date that becomes "
        "possible. Off (the default): a follow-up is a personal reply, not a survey, and starts at once. "
        "An answer the built-in thresholds (NPS 0–6, CSAT 1–2) also catch never waits because of a rule; "
        "Company settings can make every follow-up wait.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class FollowUp(models.Model):
    """A detractor's response waiting for someone of the owning department to get back to them."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        CLOSED = "closed", "Closed"

    # One follow-up per response: a retried or duplicate submission can never make a second one.
    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="follow_up")
    # The detractor answer that asked for it (the first one, by question position).
    answer = models.ForeignKey(Answer, on_delete=models.CASCADE, related_name="+")
    # Copied from the response, so the admin and the open count read one table.
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who gets back to the customer.",
    )
    note = models.TextField(blank=True)
    # Whether the rules that asked for it opened it waiting (results/detractors.py); kept, so a rule
    # changed later does not change the items it already opened.
    waits_for_frequency_rules = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The admin's list of a department's follow-ups by status, and the dashboard's open count.
            models.Index(
                fields=["department", "created_at"],
                condition=~Q(status="closed"),
                name="follow_up_not_closed",
            ),
            models.Index(fields=["department", "status"], name="follow_up_department_status"),
        ]

    def __str__(self) -> str:
        return f"Follow-up #{self.pk} ({self.get_status_display()})"


class ExportJob(models.Model):
    """A results export too large for a web request (more than RESULTS_EXPORT_JOB_ROWS responses),
    written to a CSV file by a worker chunk by chunk (results/export_jobs.py). Known outside by its
    random `public_id`: an integer id would count every department's exports."""

    class Kind(models.TextChoices):
        RESPONSES = "responses", "Responses"
        SUMMARY = "summary", "Summary"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    # Who asked (a person or a department's API key) and the scope the export reads with: the
    # departments.actors.Actor of the request, kept so the worker sees exactly what the asker saw.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    department_ids = models.JSONField(default=list)
    is_cx_lead = models.BooleanField(default=False)
    # The results filter as results/export_jobs.py writes it: days as ISO dates, ids, kind, channel.
    results_filter = models.JSONField(default=dict)
    # The newest response the export takes, fixed when it first runs, so responses stored meanwhile
    # change neither its columns nor its rows between chunks.
    last_response_id = models.BigIntegerField(null=True, blank=True)
    rows_total = models.IntegerField(null=True, blank=True)
    rows_done = models.IntegerField(default=0)
    # The last committed chunk: the file is fsync'd to `committed_bytes` and ends with the row of
    # response `committed_response_id`; a resumed run truncates the file there and carries on.
    committed_response_id = models.BigIntegerField(default=0)
    committed_bytes = models.BigIntegerField(default=0)
    file_path = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Runs started, resumes included.")
    error = models.TextField(blank=True)
    progress_at = models.DateTimeField(default=timezone.now, help_text="The job's last sign of life.")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The sweeper's query: queued or running jobs silent since a cutoff.
            models.Index(
                fields=["progress_at"],
                condition=Q(state__in=["queued", "running"]),
                name="export_job_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} export ({self.get_state_display()})"

    @property
    def is_active(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.RUNNING)

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, self.rows_done * 100 // self.rows_total)


# The dashboard's daily rollups have a module of their own; imported so Django registers them.
from results.rollups import DailyDecisions, DailyResults, DailyRollupState  # noqa: E402, F401
