"""The consolidated figures of the dashboard and the summary API: NPS, CSAT, CES, responses,
invitations sent and response rate — as a headline, a trend, per department and per survey — and the
over-surveying the gatekeeper prevented.

Every figure is counted by PostgreSQL. One grouped query per source (scored answers, responses,
invitations sent, decisions) returns a row per bucket × department × survey, and this module only
adds those rows up: counts and sums add, so one query per source serves the headline, the trend and
both tables, and no response row is ever loaded into Python. The days the daily rollups hold
(results/rollups.py) are read from them, two queries over a few thousand rows; the days after, from
the live tables, which for the current period is today only.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace

from django.db.models import Count, DateField, F, Q, QuerySet, Sum
from django.db.models.functions import Trunc

from departments.actors import Actor
from departments.models import Department
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
from surveys.models import FIXED_SCALES, FrequencyRule, QuestionKind, Reason, Survey

# The standard cut-offs (PRODUCT.md §3): NPS 0–10 with promoters 9–10, passives 7–8, detractors 0–6;
# CSAT 1–5 with "satisfied" meaning 4 or 5. CES (1–7, 7 = easiest) is reported as its mean.
PROMOTER_MIN = 9
DETRACTOR_MAX = 6
CSAT_SATISFIED_MIN = 4
SCORED_KINDS = tuple(FIXED_SCALES)  # NPS, CSAT and CES
# A survey that could not reach this share of its requested audience or more is flagged: the people it
# reached are those surveyed least recently (or not opted out), and they may answer differently. A
# warning rather than a verdict, so the threshold is a round number.
BIAS_SHARE = 0.30
# Periods up to about half a year trend by week, longer ones by month: either way a few dozen points.
WEEKLY_UP_TO = datetime.timedelta(days=190)


@dataclass
class Figures:
    """The additive counts behind the figures. A figure is None when nothing was counted for it."""

    responses: int = 0
    invitations_sent: int = 0
    nps_answers: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    csat_answers: int = 0
    csat_satisfied: int = 0
    csat_score_total: int = 0
    ces_answers: int = 0
    ces_score_total: int = 0

    def add(self, counts: dict) -> None:
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + (value or 0))

    @property
    def nps(self) -> float | None:
        """% promoters − % detractors, from −100 to 100."""
        if not self.nps_answers:
            return None
        return 100 * (self.promoters - self.detractors) / self.nps_answers

    @property
    def csat_satisfied_percent(self) -> float | None:
        return 100 * self.csat_satisfied / self.csat_answers if self.csat_answers else None

    @property
    def csat_mean(self) -> float | None:
        return self.csat_score_total / self.csat_answers if self.csat_answers else None

    @property
    def ces_mean(self) -> float | None:
        return self.ces_score_total / self.ces_answers if self.ces_answers else None

    @property
    def response_rate(self) -> float | None:
        """Responses per invitation sent in the same period, in percent. Responses to invitations sent
        before the period count too, so a short period can exceed 100."""
        return 100 * self.responses / self.invitations_sent if self.invitations_sent else None

    def as_dict(self) -> dict:
        counts = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.endswith("_total")}
        return {
            **counts,
            "nps": _rounded(self.nps, 1),
            "csat_satisfied_percent": _rounded(self.csat_satisfied_percent, 1),
            "csat_mean": _rounded(self.csat_mean, 2),
            "ces_mean": _rounded(self.ces_mean, 2),
            "response_rate": _rounded(self.response_rate, 1),
        }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class TrendPoint:
    start: datetime.date
    figures: Figures = field(default_factory=Figures)


@dataclass
class DepartmentRow:
    department_id: int
    name: str
    figures: Figures = field(default_factory=Figures)
    # The department's send requests decided in the period: contacts asked for, and how many refused.
    requested: int = 0
    blocked: int = 0


@dataclass
class SurveyRow:
    """One survey, every version of it together."""

    survey_family_id: int
    name: str
    department_name: str
    figures: Figures = field(default_factory=Figures)
    requested: int = 0
    blocked: int = 0

    @property
    def blocked_share(self) -> float | None:
        return 100 * self.blocked / self.requested if self.requested else None

    @property
    def may_be_biased(self) -> bool:
        return self.requested > 0 and self.blocked >= BIAS_SHARE * self.requested


@dataclass
class BlockRow:
    """Contacts refused for one reason: one frequency rule, or a reason such as "opted out"."""

    reason: str
    rule_id: int | None
    label: str
    contacts: int = 0


@dataclass
class Summary:
    results_filter: ResultsFilter
    interval: str
    headline: Figures
    trend: list[TrendPoint]
    by_department: list[DepartmentRow]
    by_survey: list[SurveyRow]
    blocks: list[BlockRow]

    @property
    def requested(self) -> int:
        return sum(row.requested for row in self.by_department)

    @property
    def blocked(self) -> int:
        return sum(row.blocked for row in self.by_department)

    @property
    def blocked_by_rules(self) -> int:
        return sum(row.contacts for row in self.blocks if row.reason == Reason.RULE)

    @property
    def biased_surveys(self) -> list[SurveyRow]:
        return [row for row in self.by_survey if row.may_be_biased]


def trend_interval(results_filter: ResultsFilter) -> str:
    """ "week" or "month": weeks while the period is short enough for them to stay readable."""
    return "week" if results_filter.end - results_filter.start <= WEEKLY_UP_TO else "month"


def results_summary(*, actor: Actor, results_filter: ResultsFilter) -> Summary:
    """Every figure of the dashboard, over what the actor may see, narrowed by the filter."""
    interval = trend_interval(results_filter)
    tally = _Tally(actor, results_filter, interval)
    rolled_up, live = _split_at_rollups(results_filter)
    decisions: list[dict] = []
    if rolled_up:
        for row in _rolled_up_result_rows(actor, rolled_up, interval):
            tally.count(row, family_id=row.pop("survey_family_id"))
        decisions += _rolled_up_decision_rows(actor, rolled_up)
    if live:
        for row in _score_rows(actor, live, interval):
            tally.count(row, family_id=tally.family_of(row.pop("survey_id")))
        for row in _response_rows(actor, live, interval):
            tally.count(row, family_id=tally.family_of(row.pop("survey_id")))
        for row in _invitation_rows(actor, live, interval):
            tally.count(row, family_id=row.pop("survey_family_id"))
        decisions += _decision_rows(actor, live)
    blocks = tally.count_decisions(decisions)
    return Summary(
        results_filter=results_filter,
        interval=interval,
        headline=tally.headline,
        trend=[tally.trend[start] for start in sorted(tally.trend)],
        by_department=sorted(tally.by_department.values(), key=lambda row: row.name),
        by_survey=sorted(tally.by_survey.values(), key=lambda row: (row.name, row.survey_family_id)),
        blocks=blocks,
    )


def _split_at_rollups(results_filter: ResultsFilter) -> tuple[ResultsFilter | None, ResultsFilter | None]:
    """The part of the period the daily rollups hold, and the part to count from the live tables."""
    rolled_through = DailyRollupState.rolled_through_day()
    if rolled_through is None or rolled_through < results_filter.start:
        return None, results_filter
    if rolled_through >= results_filter.end:
        return results_filter, None
    after = rolled_through + datetime.timedelta(days=1)
    return replace(results_filter, end=rolled_through), replace(results_filter, start=after)


class _Tally:
    """Adds the grouped rows of the queries up into the headline, the trend and the two tables."""

    def __init__(self, actor: Actor, results_filter: ResultsFilter, interval: str):
        self.headline = Figures()
        self.trend = {start: TrendPoint(start) for start in _bucket_starts(results_filter, interval)}
        self.by_department: dict[int, DepartmentRow] = {}
        self.by_survey: dict[int, SurveyRow] = {}
        surveys = Survey.objects.order_by("family_id", "-is_current", "-version")
        departments = Department.objects.all()
        if not actor.is_cx_lead:
            surveys = surveys.filter(department_id__in=actor.department_ids)
            departments = departments.filter(pk__in=actor.department_ids)
        self.department_names = dict(departments.values_list("pk", "name"))
        # Every version's family, and each family's name and department as its current version has them.
        self.families: dict[int, int] = {}
        self.family_labels: dict[int, tuple[str, int]] = {}
        for pk, family_id, name, department_id in surveys.values_list(
            "pk", "family_id", "name", "department_id"
        ):
            self.families[pk] = family_id or pk
            self.family_labels.setdefault(family_id or pk, (name, department_id))

    def family_of(self, survey_id: int) -> int:
        return self.families.get(survey_id, survey_id)

    def count(self, row: dict, *, family_id: int) -> None:
        bucket, department_id = row.pop("bucket"), row.pop("department_id")
        self.headline.add(row)
        if bucket is not None:
            self.trend.setdefault(bucket, TrendPoint(bucket)).figures.add(row)
        self.department(department_id).figures.add(row)
        self.survey(family_id).figures.add(row)

    def department(self, department_id: int) -> DepartmentRow:
        if department_id not in self.by_department:
            name = self.department_names.get(department_id, "")
            self.by_department[department_id] = DepartmentRow(department_id, name)
        return self.by_department[department_id]

    def survey(self, family_id: int) -> SurveyRow:
        if family_id not in self.by_survey:
            name, department_id = self.family_labels.get(family_id, ("", None))
            department_name = self.department_names.get(department_id, "")
            self.by_survey[family_id] = SurveyRow(family_id, name, department_name)
        return self.by_survey[family_id]

    def count_decisions(self, rows: Iterable[dict]) -> list[BlockRow]:
        """Requested and blocked contacts per department and survey; the blocked ones by reason."""
        blocks: dict[tuple[str, int | None], BlockRow] = {}
        for row in rows:
            contacts = row["contacts"]
            department = self.department(row["department_id"])
            survey = self.survey(row["survey_family_id"])
            department.requested += contacts
            survey.requested += contacts
            if row["allowed"]:
                continue
            department.blocked += contacts
            survey.blocked += contacts
            key = (row["reason"], row["rule_id"])
            if key not in blocks:
                blocks[key] = BlockRow(row["reason"], row["rule_id"], "")
            blocks[key].contacts += contacts
        # Rules are the CX leads', shared by every department, so their names are no one's secret.
        names = dict(
            FrequencyRule.objects.filter(pk__in={key[1] for key in blocks}).values_list("pk", "name")
        )
        for block in blocks.values():
            if block.rule_id is not None:
                block.label = f"Rule “{names.get(block.rule_id, block.rule_id)}”"
            else:
                block.label = Reason(block.reason).label if block.reason in Reason.values else block.reason
        return sorted(blocks.values(), key=lambda block: (-block.contacts, block.label))


def _bucket(field_name: str, interval: str) -> Trunc:
    # Truncated in the project's time zone, as the filter's period is, and made a date.
    return Trunc(field_name, interval, output_field=DateField())


def _bucket_starts(results_filter: ResultsFilter, interval: str) -> list[datetime.date]:
    """The first day of every week (a Monday) or month the period touches, with data or not."""
    if interval == "week":
        start = results_filter.start - datetime.timedelta(days=results_filter.start.weekday())
    else:
        start = results_filter.start.replace(day=1)
    starts = []
    while start <= results_filter.end:
        starts.append(start)
        if interval == "week":
            start += datetime.timedelta(weeks=1)
        else:
            start = (start + datetime.timedelta(days=32)).replace(day=1)
    return starts


def _score_rows(actor: Actor, results_filter: ResultsFilter, interval: str) -> Iterable[dict]:
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


def _response_rows(actor: Actor, results_filter: ResultsFilter, interval: str) -> Iterable[dict]:
    return (
        responses_for(actor, results_filter)
        .values("department_id", "survey_id", bucket=_bucket("submitted_at", interval))
        .annotate(responses=Count("pk"))
        .order_by()
    )


def _invitation_rows(actor: Actor, results_filter: ResultsFilter, interval: str) -> Iterable[dict]:
    return (
        invitations_sent_for(actor, results_filter)
        .values("department_id", "survey_family_id", bucket=_bucket("sent_at", interval))
        .annotate(invitations_sent=Count("pk"))
        .order_by()
    )


def _decision_rows(actor: Actor, results_filter: ResultsFilter) -> Iterable[dict]:
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


def _rolled_up_result_rows(actor: Actor, results_filter: ResultsFilter, interval: str) -> Iterable[dict]:
    return (
        _rolled_up(DailyResults, actor, results_filter)
        .values("department_id", "survey_family_id", bucket=Trunc("day", interval, output_field=DateField()))
        .annotate(**{name: Sum(name) for name in _RESULT_COUNTERS})
        .order_by()
    )


def _rolled_up_decision_rows(actor: Actor, results_filter: ResultsFilter) -> Iterable[dict]:
    return (
        _rolled_up(DailyDecisions, actor, results_filter)
        .values("allowed", "reason", "rule_id", "department_id", "survey_family_id")
        .annotate(contacts=Sum("contacts"))
        .order_by()
    )
