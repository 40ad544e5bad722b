"""The grouped counts behind the results summary, one query per source — scored answers, responses,
invitations sent, decisions — each returning a row per bucket × department × survey, from the live
tables or, for the days they hold, from the daily rollups (results/rollups.py). PostgreSQL does the
counting; results.selectors.summary only adds the rows up."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import fields, replace

from django.db.models import Count, DateField, F, Q, QuerySet, Sum
from django.db.models.functions import Trunc

from departments.actors import Actor
from results.filters import (
    Columns,
    ResultsFilter,
    answers_for,
    decisions_for,
    invitations_sent_for,
    narrowed,
    responses_for,
)
from results.rollups import DailyDecisions, DailyResults, DailyRollupState
from results.selectors.figures import CSAT_SATISFIED_MIN, DETRACTOR_MAX, PROMOTER_MIN, SCORED_KINDS, Figures
from surveys.models import Override, QuestionKind


def overridden_contacts(actor: Actor, results_filter: ResultsFilter) -> int:
    """Contacts let past a frequency rule by a CX lead's override (surveys/gatekeeper/overrides.py) in
    the period: each override keeps its own count, so this reads overrides, not decisions."""
    overrides = Override.objects.filter(
        applied_at__gte=results_filter.start_at, applied_at__lt=results_filter.end_before
    )
    columns = Columns(
        "send_request__department_id",
        "send_request__survey__family_id",
        "send_request__survey__kind",
        "send_request__channel",
    )
    total = narrowed(overrides, actor, results_filter, columns).aggregate(total=Sum("applied_contacts"))
    return total["total"] or 0


def split_at_rollups(results_filter: ResultsFilter) -> tuple[ResultsFilter | None, ResultsFilter | None]:
    """The part of the period the daily rollups hold, and the part to count from the live tables."""
    rolled_through = DailyRollupState.rolled_through_day()
    if rolled_through is None or rolled_through < results_filter.start:
        return None, results_filter
    if rolled_through >= results_filter.end:
        return results_filter, None
    after = rolled_through + datetime.timedelta(days=1)
    return replace(results_filter, end=rolled_through), replace(results_filter, start=after)


def _bucket(field_name: str, interval: str) -> Trunc:
    # Truncated in the project's time zone, as the filter's period is, and made a date.
    return Trunc(field_name, interval, output_field=DateField())


def score_rows(actor: Actor, results_filter: ResultsFilter, interval: str) -> Iterable[dict]:
    """NPS, CSAT and CES counts and score sums of the scored answers, per bucket, department and survey."""
    nps = Q(question__kind=QuestionKind.NPS)
    csat = Q(question__kind=QuestionKind.CSAT)
    ces = Q(question__kind=QuestionKind.CES)
    return (
        answers_for(actor, results_filter)
        .filter(question__kind__in=SCORED_KINDS, value_number__isnull=False)
        .values(
            bucket=_bucket("response__submitted_at", interval),
            department_id=F("response__department_id"),
            survey_id=F("response__survey_id"),
        )
        .annotate(
            nps_answers=Count("pk", filter=nps),
            promoters=Count("pk", filter=nps & Q(value_number__gte=PROMOTER_MIN)),
            passives=Count(
                "pk", filter=nps & Q(value_number__gt=DETRACTOR_MAX, value_number__lt=PROMOTER_MIN)
            ),
            detractors=Count("pk", filter=nps & Q(value_number__lte=DETRACTOR_MAX)),
            csat_answers=Count("pk", filter=csat),
            csat_satisfied=Count("pk", filter=csat & Q(value_number__gte=CSAT_SATISFIED_MIN)),
            csat_score_total=Sum("value_number", filter=csat),
            ces_answers=Count("pk", filter=ces),
            ces_score_total=Sum("value_number", filter=ces),
        )
        .order_by()
    )


def response_rows(actor: Actor, results_filter: ResultsFilter, interval: str) -> Iterable[dict]:
    """Responses submitted, per bucket, department and survey."""
    return (
        responses_for(actor, results_filter)
        .values("department_id", "survey_id", bucket=_bucket("submitted_at", interval))
        .annotate(responses=Count("pk"))
        .order_by()
    )


def invitation_rows(actor: Actor, results_filter: ResultsFilter, interval: str) -> Iterable[dict]:
    """Invitations sent, per bucket, department and survey family."""
    return (
        invitations_sent_for(actor, results_filter)
        .values("department_id", "survey_family_id", bucket=_bucket("sent_at", interval))
        .annotate(invitations_sent=Count("pk"))
        .order_by()
    )


def decision_rows(actor: Actor, results_filter: ResultsFilter) -> Iterable[dict]:
    """Contacts decided on, per department, survey family and verdict (allowed, reason, rule)."""
    return (
        decisions_for(actor, results_filter)
        .values(
            "allowed",
            "reason",
            "rule_id",
            department_id=F("send_request__department_id"),
            survey_family_id=F("send_request__survey__family_id"),
        )
        .annotate(contacts=Count("pk"))
        .order_by()
    )


# The same counts from the daily rollups (results/rollups.py), narrowed as results.filters narrows
# the live tables.

_RESULT_COUNTERS = [f.name for f in fields(Figures)]


def _rolled_up(
    model: type[DailyResults | DailyDecisions], actor: Actor, results_filter: ResultsFilter
) -> QuerySet:
    rows = model.objects.filter(day__gte=results_filter.start, day__lte=results_filter.end)
    return narrowed(rows, actor, results_filter, ROLLUP_COLUMNS)


ROLLUP_COLUMNS = Columns("department_id", "survey_family_id", "survey_kind", "channel")


def rolled_up_result_rows(actor: Actor, results_filter: ResultsFilter, interval: str) -> Iterable[dict]:
    """The counts of the three rows above from the daily rollups, per bucket, department and survey family."""
    return (
        _rolled_up(DailyResults, actor, results_filter)
        .values("department_id", "survey_family_id", bucket=Trunc("day", interval, output_field=DateField()))
        .annotate(**{name: Sum(name) for name in _RESULT_COUNTERS})
        .order_by()
    )


def rolled_up_decision_rows(actor: Actor, results_filter: ResultsFilter) -> Iterable[dict]:
    """decision_rows from the daily rollups."""
    return (
        _rolled_up(DailyDecisions, actor, results_filter)
        .values("allowed", "reason", "rule_id", "department_id", "survey_family_id")
        .annotate(contacts=Sum("contacts"))
        .order_by()
    )
