"""REST API v1: answers collected by another survey tool, ingested so they land in the one results
dashboard (NPS 0–10, CSAT 1–5, CES 1–7 and free text, mapped onto our question kinds). Thin: parse,
find the contact in the department's own book, call surveys/external/responses.py."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxfeedback.exceptions import error_responses
from cxfeedback.parsers import JSONParser
from departments.actors import actor_for_request
from departments.api import acting_department
from surveys.api.external import TouchSingleInputSerializer, touch_answer, touch_input
from surveys.api.external_schema import CONTACT_EXAMPLE, ExternalResponseAnswerSerializer
from surveys.external.responses import external_response_ingest


class ExternalAnswersSerializer(serializers.Serializer):
    nps = serializers.IntegerField(min_value=0, max_value=10, required=False)
    csat = serializers.IntegerField(min_value=1, max_value=5, required=False)
    ces = serializers.IntegerField(min_value=1, max_value=7, required=False)
    free_text = serializers.CharField(max_length=5000, required=False, allow_blank=False)

    def validate(self, data: dict) -> dict:
        if not data:
            raise ValidationError("Give at least one answer: nps, csat, ces or free_text.")
        return data


class ResponseInputSerializer(TouchSingleInputSerializer):
    at = serializers.DateTimeField(
        required=False, help_text="When the survey was sent; default: when answered."
    )
    external_id = serializers.CharField(
        max_length=200, help_text="The tool's id of the send answered (recorded now if new)."
    )
    submitted_at = serializers.DateTimeField(help_text="When the customer answered.")
    locale = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    answers = ExternalAnswersSerializer()


class ResponseIngestApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="external_response_ingest",
        summary="Ingest answers another tool collected",
        description="Stores the answers as the response to the send `external_id` of `source_tool` "
        "(recorded as a touch now if it is new, at `at`, default the answer's time), so they count in "
        "the results dashboard and a detractor's answer opens a follow-up. Idempotent on "
        "(source_tool, external_id): a replay returns the stored response. 201 if stored, else 200.",
        request=ResponseInputSerializer,
        responses={
            200: ExternalResponseAnswerSerializer,
            201: ExternalResponseAnswerSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        examples=[
            OpenApiExample(
                "NPS with a comment",
                request_only=True,
                value={
                    "contact": CONTACT_EXAMPLE,
                    "survey_kind": "relationship",
                    "channel": "email",
                    "source_tool": "SurveyMonkey",
                    "external_id": "resp-118822",
                    "submitted_at": "2026-03-03T17:04:00Z",
                    "answers": {"nps": 9, "free_text": "Quick delivery, friendly driver."},
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = ResponseInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for_request(request)
        department = acting_department(request, actor, data.get("department"))
        ingested = external_response_ingest(
            department=department,
            touch=touch_input(department, data, at_default=data["submitted_at"]),
            answers=data["answers"],
            submitted_at=data["submitted_at"],
            locale=data["locale"],
        )
        body = {
            "id": ingested.response.pk,
            "touch": touch_answer(ingested.touch, created=ingested.created),
            "created": ingested.created,
        }
        return Response(body, status=201 if ingested.created else 200)
