"""The dashboard's daily rollups: each finished day's counts, so a year of results reads a few
thousand rows instead of millions.

Counting a year of responses, answers, invitations and decisions takes PostgreSQL seconds
(bench/bench_dashboard.py: 2.5 s for 1,000,000 responses, 3,000,000 invitations and 3,600,000
decisions); the same figures from these tables take milliseconds. They hold only sums, and sums
add: a week, a month or a department is the sum of its days.
`results.services.rollups.daily_rollups_refresh` writes them, a beat task calls it, and the selectors
read a period from the rollups up to the last day they hold and from the live tables after it, so the
figures are always up to date and the same either way (tests/results/test_rollups.py).

Registered by results/models.py, which imports these models.
"""

from __future__ import annotations

import datetime

from django.db import models

from departments.models import Department
from surveys.models import FrequencyRule


class DailyResults(models.Model):
    """One day's responses, invitations sent and scores of one survey (every version) on one channel."""

    day = models.DateField()
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="+", db_index=False)
    survey_family_id = models.BigIntegerField()
    survey_kind = models.CharField(max_length=20)
    channel = models.CharField(max_length=10)
    responses = models.PositiveIntegerField(default=0)
    invitations_sent = models.PositiveIntegerField(default=0)
    nps_answers = models.PositiveIntegerField(default=0)
    promoters = models.PositiveIntegerField(default=0)
    passives = models.PositiveIntegerField(default=0)
    detractors = models.PositiveIntegerField(default=0)
    csat_answers = models.PositiveIntegerField(default=0)
    csat_satisfied = models.PositiveIntegerField(default=0)
    csat_score_total = models.PositiveBigIntegerField(default=0)
    ces_answers = models.PositiveIntegerField(default=0)
    ces_score_total = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "daily results"
        indexes = [
            # The dashboard's period; the refresh's delete of the days it rewrites.
            models.Index(fields=["day"], name="daily_results_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: survey {self.survey_family_id} ({self.channel})"


class DailyDecisions(models.Model):
    """One day's decisions on one survey's send requests on one channel, by verdict and reason."""

    day = models.DateField()
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="+", db_index=False)
    survey_family_id = models.BigIntegerField()
    survey_kind = models.CharField(max_length=20)
    channel = models.CharField(max_length=10)
    allowed = models.BooleanField()
    reason = models.CharField(max_length=30, blank=True)
    rule = models.ForeignKey(
        FrequencyRule, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    contacts = models.PositiveIntegerField()

    class Meta:
        verbose_name_plural = "daily decisions"
        indexes = [models.Index(fields=["day"], name="daily_decisions_day")]

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else self.reason
        return f"{self.day}: survey {self.survey_family_id}, {self.contacts} {verdict}"


class DailyRollupState(models.Model):
    """One row: the last day the rollups hold. Days after it are read from the live tables."""

    rolled_through = models.DateField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rolled up through {self.rolled_through or 'nothing yet'}"

    @classmethod
    def rolled_through_day(cls) -> datetime.date | None:
        return cls.objects.filter(pk=1).values_list("rolled_through", flat=True).first()
