"""The filters every results view and API shares: period, department, survey, survey kind, channel.

A filter is parsed once from query parameters (`ResultsFilterForm`) into a `ResultsFilter`, and the
scoped querysets below are the only way results code reads responses and invitations, so a
department owner's view is narrowed in one place.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import Channel
from departments.actors import Actor
from departments.models import Department
from surveys.models import Answer, Decision, Invitation, Response, Survey, SurveyKind

DEFAULT_PERIOD = datetime.timedelta(days=365)
EARLIEST_DAY = datetime.date(1970, 1, 1)
LATEST_DAY = datetime.date(2999, 12, 31)


@dataclass(frozen=True)
class ResultsFilter:
    """Start and end are dates in the project's time zone; both days are included."""

    start: datetime.date
    end: datetime.date
    department_id: int | None = None
    survey_family_id: int | None = None
    survey_kind: str = ""
    channel: str = ""

    @property
    def start_at(self) -> datetime.datetime:
        return timezone.make_aware(datetime.datetime.combine(self.start, datetime.time.min))

    @property
    def end_before(self) -> datetime.datetime:
        """The first moment after the period."""
        next_day = self.end + datetime.timedelta(days=1)
        return timezone.make_aware(datetime.datetime.combine(next_day, datetime.time.min))


class ResultsFilterForm(forms.Form):
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)
    department = forms.ModelChoiceField(queryset=Department.objects.none(), required=False)
    survey = forms.ModelChoiceField(queryset=Survey.objects.none(), required=False)
    survey_kind = forms.ChoiceField(choices=[("", "Any kind"), *SurveyKind.choices], required=False)
    channel = forms.ChoiceField(choices=[("", "Any channel"), *Channel.choices], required=False)

    def __init__(self, *args, actor: Actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["department"].queryset = departments_visible_to(actor)
        # One entry per survey family: its current version stands for every version.
        self.fields["survey"].queryset = surveys_visible_to(actor).filter(is_current=True)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        for name, day in (("start", start), ("end", end)):
            # Far-off days are typing errors, and near the ends of the calendar the period's
            # moments (start_at, end_before) would not even exist.
            if day and not EARLIEST_DAY <= day <= LATEST_DAY:
                self.add_error(name, f"Give a day between {EARLIEST_DAY.year} and {LATEST_DAY.year}.")
                start = end = None
        if start and end and start > end:
            self.add_error("end", "The end of the period is before its start.")
        return cleaned

    def results_filter(self) -> ResultsFilter:
        """The filter of a valid form, with the last 365 days when no period is given."""
        data = self.cleaned_data
        end = data.get("end") or timezone.localdate()
        start = data.get("start") or end - DEFAULT_PERIOD
        survey = data.get("survey")
        return ResultsFilter(
            start=start,
            end=end,
            department_id=data["department"].pk if data.get("department") else None,
            survey_family_id=survey.family_id if survey else None,
            survey_kind=data.get("survey_kind", ""),
            channel=data.get("channel", ""),
        )


def departments_visible_to(actor: Actor) -> QuerySet[Department]:
    departments = Department.objects.order_by("name")
    if actor.is_cx_lead:
        return departments
    return departments.filter(pk__in=actor.department_ids)


def surveys_visible_to(actor: Actor) -> QuerySet[Survey]:
    surveys = Survey.objects.order_by("name", "-version")
    if actor.is_cx_lead:
        return surveys
    return surveys.filter(department_id__in=actor.department_ids)


@dataclass(frozen=True)
class Columns:
    """Where a table keeps what a filter narrows by (ORM paths)."""

    department: str
    survey_family: str
    survey_kind: str
    channel: str


def narrowed(rows: QuerySet, actor: Actor, results_filter: ResultsFilter, columns: Columns) -> QuerySet:
    """`rows` the actor may see, narrowed by the filter's department, survey, kind and channel."""
    if not actor.is_cx_lead:
        rows = rows.filter(**{f"{columns.department}__in": actor.department_ids})
    wanted = {
        columns.department: results_filter.department_id,
        columns.survey_family: results_filter.survey_family_id,
        columns.survey_kind: results_filter.survey_kind,
        columns.channel: results_filter.channel,
    }
    return rows.filter(**{column: value for column, value in wanted.items() if value})


RESPONSE_COLUMNS = Columns("department_id", "survey__family_id", "survey__kind", "channel")


def responses_for(actor: Actor, results_filter: ResultsFilter) -> QuerySet[Response]:
    """Responses submitted in the period that the actor may see, narrowed by the filter."""
    responses = Response.objects.filter(
        submitted_at__gte=results_filter.start_at, submitted_at__lt=results_filter.end_before
    )
    return narrowed(responses, actor, results_filter, RESPONSE_COLUMNS)


def invitations_sent_for(actor: Actor, results_filter: ResultsFilter) -> QuerySet[Invitation]:
    """Invitations sent in the period that the actor may see, narrowed by the filter."""
    invitations = Invitation.objects.filter(
        sent_at__gte=results_filter.start_at, sent_at__lt=results_filter.end_before
    )
    columns = Columns("department_id", "survey_family_id", "survey_kind", "channel")
    return narrowed(invitations, actor, results_filter, columns)


def answers_for(actor: Actor, results_filter: ResultsFilter) -> QuerySet[Answer]:
    """Answers of the responses `responses_for` returns, as one join rather than a subquery, so
    aggregates over answers can group by their response's columns."""
    answers = Answer.objects.filter(
        response__submitted_at__gte=results_filter.start_at,
        response__submitted_at__lt=results_filter.end_before,
    )
    columns = Columns(*(f"response__{column}" for column in vars(RESPONSE_COLUMNS).values()))
    return narrowed(answers, actor, results_filter, columns)


def decisions_for(actor: Actor, results_filter: ResultsFilter) -> QuerySet[Decision]:
    """The gatekeeper's decisions made in the period on the actor's send requests, narrowed by the
    filter. A department owner gets only their own requests' decisions: what other departments
    asked for, and whom they were refused, is theirs alone (PRODUCT.md §4.4)."""
    decisions = Decision.objects.filter(
        decided_at__gte=results_filter.start_at, decided_at__lt=results_filter.end_before
    )
    columns = Columns(
        "send_request__department_id",
        "send_request__survey__family_id",
        "send_request__survey__kind",
        "send_request__channel",
    )
    return narrowed(decisions, actor, results_filter, columns)
