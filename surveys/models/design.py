"""Surveys and their questions: what a department builds (surveys/design/). A sent survey is frozen;
an edit makes its next version in the same family."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

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
    # The language its own texts are written in; contacts whose locale has no translation
    # (surveys/models/translations.py) get these.
    language = models.CharField(
        max_length=10,
        default="en",
        help_text='The language of its texts, e.g. "en"; translations add others.',
    )
    link_valid_days = models.PositiveIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Days an invitation link stays valid.",
    )
    # Minutes it takes, as frequency rules counting weight count it; empty: estimated from the
    # number of questions (burden_estimate). The invitation says "takes about N minutes" from it.
    burden_weight = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Minutes; empty: estimated."
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

    @property
    def burden_minutes(self) -> int:
        """Minutes it takes: as set, or estimated from its questions (prefetch them for many)."""
        return self.burden_weight or burden_estimate(len(self.questions.all()))


def burden_estimate(questions: int) -> int:
    """Minutes a survey of this many questions takes: four questions a minute, rounded half up,
    at least one. surveys/gatekeeper/screening_sql.py BURDEN_SQL says the same in SQL."""
    return max(1, (questions + 2) // 4)


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
# Kinds answered with a number on a scale: the fixed ones and ratings.
SCALE_KINDS = (*FIXED_SCALES, QuestionKind.RATING)


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
