"""GET /api/v1/results/summary: the dashboard's figures for integrations, with the same filters and
the same scoping (an API key sees its own department's results only)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.models import Channel
from cxfeedback.exceptions import error_responses
from departments.actors import Actor, actor_for_request
from results.filters import ResultsFilter, ResultsFilterForm
from results.selectors.figures import FEW_ANSWERS, Figures
from results.selectors.summary import BIAS_SHARE, Summary, results_summary
from surveys.models import SurveyKind


class ResultsFilterQuery(ResultsFilterForm):
    """The dashboard's filter as query parameters; a department is named by its slug, as everywhere
    else in the API."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].to_field_name = "slug"


def results_filter_of(request: Request) -> tuple[Actor, ResultsFilter]:
    """Who asks and the filter their query parameters give; a 400 naming each bad parameter."""
    actor = actor_for_request(request)
    form = ResultsFilterQuery(request.query_params, actor=actor)
    if not form.is_valid():
        raise ValidationError(
            {
                "non_field_errors" if name == "__all__" else name: list(errors)
                for name, errors in form.errors.items()
            }
        )
    return actor, form.results_filter()


FILTER_PARAMETERS = [
    OpenApiParameter(
        "start", OpenApiTypes.DATE, description="First day of the period (default: end − 365 days)."
    ),
    OpenApiParameter(
        "end", OpenApiTypes.DATE, description="Last day of the period, included (default: today)."
    ),
    OpenApiParameter(
        "department", OpenApiTypes.STR, description="A department's slug (an API key: its own)."
    ),
    OpenApiParameter("survey", OpenApiTypes.INT, description="A survey's id: every version of it counts."),
    OpenApiParameter("survey_kind", OpenApiTypes.STR, enum=SurveyKind.values),
    OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values),
]


FEW_HELP = (
    f"A small sample: {{score}} comes from 1 to {FEW_ANSWERS - 1} answers, so one more answer can move "
    "it a lot (one detractor alone is an NPS of −100)."
)


class FiguresSerializer(serializers.Serializer):
    responses = serializers.IntegerField()
    invitations_sent = serializers.IntegerField()
    response_rate = serializers.FloatField(
        allow_null=True, help_text="Responses per invitation sent, in percent; null without invitations."
    )
    nps = serializers.FloatField(
        allow_null=True, help_text="% promoters − % detractors; null without answers."
    )
    nps_answers = serializers.IntegerField()
    promoters = serializers.IntegerField(help_text="NPS answers 9–10.")
    passives = serializers.IntegerField(help_text="NPS answers 7–8.")
    detractors = serializers.IntegerField(help_text="NPS answers 0–6.")
    csat_satisfied_percent = serializers.FloatField(
        allow_null=True, help_text="CSAT answers 4–5, in percent."
    )
    csat_mean = serializers.FloatField(allow_null=True)
    csat_answers = serializers.IntegerField()
    csat_satisfied = serializers.IntegerField()
    ces_mean = serializers.FloatField(allow_null=True, help_text="CES 1–7, 7 = easiest.")
    ces_answers = serializers.IntegerField()
    nps_few_answers = serializers.BooleanField(help_text=FEW_HELP.format(score="nps"))
    csat_few_answers = serializers.BooleanField(help_text=FEW_HELP.format(score="csat_satisfied_percent"))
    ces_few_answers = serializers.BooleanField(help_text=FEW_HELP.format(score="ces_mean"))


class TrendPointSerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day of the week (a Monday) or month.")
    figures = FiguresSerializer()


class DepartmentRowSerializer(serializers.Serializer):
    department = serializers.CharField(help_text="The department's name.")
    figures = FiguresSerializer()
    requested = serializers.IntegerField(help_text="Contacts its send requests asked for in the period.")
    blocked = serializers.IntegerField(help_text="Of those, refused by the gatekeeper.")


class SurveyRowSerializer(serializers.Serializer):
    survey = serializers.IntegerField(help_text="The survey's family id: the id of its first version.")
    name = serializers.CharField()
    department = serializers.CharField()
    figures = FiguresSerializer()
    requested = serializers.IntegerField()
    blocked = serializers.IntegerField()
    blocked_percent = serializers.FloatField(allow_null=True)
    may_be_biased = serializers.BooleanField(
        help_text="At least bias_threshold_percent of its audience refused."
    )


class BlockRowSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="A decision's reason, such as rule or opted_out.")
    rule = serializers.IntegerField(allow_null=True, help_text="The frequency rule's id, for reason rule.")
    label = serializers.CharField()
    contacts = serializers.IntegerField()


class SummarySerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    interval = serializers.ChoiceField(choices=["week", "month"], help_text="The trend's buckets.")
    headline = FiguresSerializer()
    trend = TrendPointSerializer(many=True)
    by_department = DepartmentRowSerializer(many=True)
    by_survey = SurveyRowSerializer(many=True)
    blocked = BlockRowSerializer(many=True, help_text="Contacts refused in the period, by reason and rule.")
    bias_threshold_percent = serializers.IntegerField()
    overridden = serializers.IntegerField(
        help_text="Contacts a CX lead's override let past a frequency rule in the period."
    )


class ResultsSummaryApi(APIView):
    @extend_schema(
        operation_id="results_summary",
        summary="Results summary",
        description="NPS, CSAT, CES, responses and response rate over the period — overall, by week or "
        "month, by department and by survey — and the contacts the gatekeeper refused. An API key sees "
        "its own department's results; a filter outside what the caller may see is a 400.",
        parameters=FILTER_PARAMETERS,
        responses={200: SummarySerializer, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        actor, results_filter = results_filter_of(request)
        summary = results_summary(actor=actor, results_filter=results_filter)
        return Response(SummarySerializer(_summary_data(summary)).data)


def _figures(figures: Figures) -> dict:
    """The figures with their small-sample flags (the dashboard's "few answers")."""
    return {
        **figures.as_dict(),
        "nps_few_answers": figures.nps_few_answers,
        "csat_few_answers": figures.csat_few_answers,
        "ces_few_answers": figures.ces_few_answers,
    }


def _summary_data(summary: Summary) -> dict:
    return {
        "start": summary.results_filter.start,
        "end": summary.results_filter.end,
        "interval": summary.interval,
        "headline": _figures(summary.headline),
        "trend": [{"start": point.start, "figures": _figures(point.figures)} for point in summary.trend],
        "by_department": [
            {
                "department": row.name,
                "figures": _figures(row.figures),
                "requested": row.requested,
                "blocked": row.blocked,
            }
            for row in summary.by_department
        ],
        "by_survey": [
            {
                "survey": row.survey_family_id,
                "name": row.name,
                "department": row.department_name,
                "figures": _figures(row.figures),
                "requested": row.requested,
                "blocked": row.blocked,
                "blocked_percent": None if row.blocked_share is None else round(row.blocked_share, 1),
                "may_be_biased": row.may_be_biased,
            }
            for row in summary.by_survey
        ],
        "blocked": [
            {"reason": block.reason, "rule": block.rule_id, "label": block.label, "contacts": block.contacts}
            for block in summary.blocks
        ],
        "bias_threshold_percent": round(BIAS_SHARE * 100),
        "overridden": summary.overridden,
    }
