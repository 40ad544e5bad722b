"""Draft rule sets and their simulations: a CX lead tries a rule change on the last days' decisions
before it goes live (issue 15, item 4). A draft changes nothing the gatekeeper reads; publishing it
goes through surveys.gatekeeper.frequency_rules, which makes the rule versions."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from contacts.models import Channel
from departments.models import Department
from surveys.models.design import SurveyKind
from surveys.models.gatekeeper import FrequencyRule, RuleClock


class RuleDraft(models.Model):
    """A set of rule changes saved together, not live: new rules, changed rules, rules switched off."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PUBLISHED = "published", "Published"
        DISCARDED = "discarded", "Discarded"

    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class DraftRule(models.Model):
    """One rule as the draft would have it: a copy of a live rule (`rule`, as of `base_version`) with
    changes, or a new rule (`rule` empty). `is_active` off switches the live rule off."""

    draft = models.ForeignKey(RuleDraft, on_delete=models.CASCADE, related_name="rules")
    rule = models.ForeignKey(FrequencyRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # The live rule's version the copy was made from: publishing refuses a rule changed since.
    base_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
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
    new_contact_grace = models.DurationField(null=True, blank=True)

    class Meta:
        ordering = ["draft", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["draft", "rule"], condition=Q(rule__isnull=False), name="draft_rule_once"
            ),
            models.CheckConstraint(condition=Q(window__gt="0 seconds"), name="draft_rule_window_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class RuleSimulation(models.Model):
    """A background replay of a period's decisions under a draft (surveys/gatekeeper/simulations.py).

    Worked in batches of contacts; each batch adds to `report` and `done` in its own transaction,
    so a simulation whose worker died resumes after `batches_done`."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    draft = models.ForeignKey(RuleDraft, on_delete=models.CASCADE, related_name="simulations")
    days = models.PositiveIntegerField(default=90, validators=[MinValueValidator(1)])
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    done = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    # Contact id bounds of the batches ((lo, hi] pairs), fixed when the run starts, so a resumed run
    # works the same batches.
    batch_bounds = models.JSONField(default=list, blank=True)
    batches_done = models.PositiveIntegerField(default=0)
    # The draft's rules as simulated (pure Rule fields), so a report still reads right after edits.
    rules = models.JSONField(default=list, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"simulation of {self.draft} ({self.get_state_display()})"

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.state == self.State.DONE else 0
        return min(100, round(100 * self.done / self.total))
