"""The consolidated figures of the dashboard and the summary API: NPS, CSAT, CES, responses,
invitations sent and response rate — as a headline, a trend, per department and per survey — and the
over-surveying the gatekeeper prevented.

Every figure is counted by PostgreSQL. One grouped query per source (scored answers, responses,
invitations sent, decisions: results/selectors/summary_counts.py) returns a row per bucket ×
department × survey, and this module only adds those rows up: counts and sums add, so one query per
source serves the headline, the trend and both tables, and no response row is ever loaded into
Python. The days the daily rollups hold (results/rollups.py) are read from them, two queries over a
few thousand rows; the days after, from the live tables, which for the current period is today only.
The figures themselves (NPS from promoters and detractors, …) are worked out in
results/selectors/figures.py.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field

from departments.actors import Actor
from departments.models import Department
from results.filters import ResultsFilter
from results.selectors.figures import Figures
from results.selectors.summary_counts import (
    decision_rows,
    invitation_rows,
    overridden_contacts,
    response_rows,
    rolled_up_decision_rows,
    rolled_up_result_rows,
    score_rows,
    split_at_rollups,
)
from surveys.models import FrequencyRule, Reason, Survey

# A survey that could not reach this share of its requested audience or more is flagged: the people it
# reached are those surveyed least recently (or not opted out), and they may answer differently. A
# warning rather than a verdict, so the threshold is a round number.
BIAS_SHARE = 0.30
# Periods up to about half a year trend by week, longer ones by month: either way a few dozen points.
WEEKLY_UP_TO = datetime.timedelta(days=190)


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
    # Contacts let past a frequency rule by a CX lead's override: over-surveying allowed on purpose.
    overridden: int = 0

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
    rolled_up, live = split_at_rollups(results_filter)
    decisions: list[dict] = []
    if rolled_up:
        for row in rolled_up_result_rows(actor, rolled_up, interval):
            tally.count(row, family_id=row.pop("survey_family_id"))
        decisions += rolled_up_decision_rows(actor, rolled_up)
    if live:
        for row in score_rows(actor, live, interval):
            tally.count(row, family_id=tally.family_of(row.pop("survey_id")))
        for row in response_rows(actor, live, interval):
            tally.count(row, family_id=tally.family_of(row.pop("survey_id")))
        for row in invitation_rows(actor, live, interval):
            tally.count(row, family_id=row.pop("survey_family_id"))
        decisions += decision_rows(actor, live)
    blocks = tally.count_decisions(decisions)
    return Summary(
        results_filter=results_filter,
        interval=interval,
        headline=tally.headline,
        trend=[tally.trend[start] for start in sorted(tally.trend)],
        by_department=sorted(tally.by_department.values(), key=lambda row: row.name),
        by_survey=sorted(tally.by_survey.values(), key=lambda row: (row.name, row.survey_family_id)),
        blocks=blocks,
        overridden=overridden_contacts(actor, results_filter),
    )


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
