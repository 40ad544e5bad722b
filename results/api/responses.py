"""GET /api/v1/results/responses: single responses with their answers, for integrations, with the
dashboard's filters and scoping (an API key reads its own department's responses only)."""

from __future__ import annotations

from django.db.models import F
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from contacts.models import Channel
from cxfeedback.api import paginated
from cxfeedback.exceptions import error_responses
from results.api.summary import FILTER_PARAMETERS, results_filter_of
from results.models import FollowUp
from results.selectors.responses import response_list
from surveys.models import Answer, QuestionKind
from surveys.models import Response as SurveyResponse


class AnswerOutputSerializer(serializers.ModelSerializer):
    question = serializers.IntegerField(source="question_id", read_only=True)
    position = serializers.IntegerField(source="question.position", read_only=True)
    kind = serializers.ChoiceField(source="question.kind", choices=QuestionKind.choices, read_only=True)
    text = serializers.CharField(source="question.text", read_only=True, help_text="The question asked.")
    value_number = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="NPS, CSAT, CES and rating answers."
    )
    value_text = serializers.CharField(read_only=True, help_text="Free-text answers (comments).")
    value_choices = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Single and multiple choice answers."
    )

    class Meta:
        model = Answer
        fields = ["question", "position", "kind", "text", "value_number", "value_text", "value_choices"]
        read_only_fields = fields


class ResponseOutputSerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    survey = serializers.IntegerField(
        source="survey_id", read_only=True, help_text="The survey version's id."
    )
    survey_name = serializers.CharField(source="survey.name", read_only=True)
    survey_version = serializers.IntegerField(source="survey.version", read_only=True)
    contact = serializers.UUIDField(
        source="contact_public_id",
        read_only=True,
        help_text="The contact's id, as the contacts API shows it.",
    )
    channel = serializers.ChoiceField(choices=Channel.choices, read_only=True)
    follow_up = serializers.ChoiceField(
        source="follow_up.status",
        choices=FollowUp.Status.choices,
        read_only=True,
        allow_null=True,
        help_text="The status of the follow-up a detractor's answer opened; null if none.",
    )
    answers = AnswerOutputSerializer(many=True, read_only=True)

    class Meta:
        model = SurveyResponse
        fields = [
            "id",
            "submitted_at",
            "department",
            "survey",
            "survey_name",
            "survey_version",
            "contact",
            "channel",
            "locale",
            "follow_up",
            "answers",
        ]
        read_only_fields = fields


class ResponseListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="results_response_list",
        summary="List responses",
        description="Responses submitted in the period with their answers and comments, newest first. "
        "An API key sees its own department's responses; a filter outside what the caller may see is a "
        "400.",
        parameters=FILTER_PARAMETERS,
        responses={200: ResponseOutputSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        actor, results_filter = results_filter_of(request)
        # The contact's public id, never its primary key; a join, not the whole contact row per response.
        responses = response_list(actor=actor, results_filter=results_filter).annotate(
            contact_public_id=F("contact__public_id")
        )
        return paginated(self, request, responses, ResponseOutputSerializer)
