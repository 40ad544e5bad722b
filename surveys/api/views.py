"""REST API v1 for surveys, frequency rules and send requests. Thin: parse, call one selector or
service, shape the answer.

A route that serves a read and a write combines two classes, one per operation, so every operation
with a side effect stays its own view (SendRequestSubmitApi, SendRequestCancelApi, …).
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from cxfeedback import idempotency
from cxfeedback.api import paginated
from cxfeedback.exceptions import error_responses
from cxfeedback.parsers import JSONParser
from departments.actors import Actor, actor_for_request
from departments.api import acting_department
from departments.selectors import department_get
from surveys.api import serializers as s
from surveys.selectors.rules import frequency_rule_get, frequency_rule_list
from surveys.selectors.send_requests import (
    decision_list,
    decisions_explained,
    preflight_summary,
    send_request_get,
    send_request_list,
)
from surveys.selectors.surveys import survey_get, survey_list
from surveys.services.rules import frequency_rule_create, frequency_rule_deactivate, frequency_rule_update
from surveys.services.send_requests import (
    send_request_cancel,
    send_request_create,
    send_request_preflight,
    send_request_set_audience_upload,
    send_request_submit,
)
from surveys.services.surveys import survey_create, survey_create_from_template, survey_update


def _valid(serializer_class: type[Serializer], data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _department_id(actor: Actor, slug: str | None) -> int | None:
    return department_get(actor=actor, slug=slug).pk if slug else None


# Surveys


class SurveyListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="survey_list",
        summary="List surveys",
        description="The caller's departments' surveys (a CX lead: all); only current versions unless "
        "all_versions is true.",
        parameters=[s.SurveyListFilterSerializer],
        responses={200: s.SurveyOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        actor = actor_for_request(request)
        filters = _valid(s.SurveyListFilterSerializer, request.query_params)
        surveys = survey_list(
            actor=actor,
            department_id=_department_id(actor, filters.get("department")),
            kind=filters.get("kind"),
            all_versions=filters["all_versions"],
        )
        return paginated(self, request, surveys, s.SurveyOutputSerializer)


class SurveyCreateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="survey_create",
        summary="Create a survey",
        request=s.SurveyCreateInputSerializer,
        parameters=[idempotency.HEADER_PARAMETER],
        responses={201: s.SurveyOutputSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @idempotency.idempotent
    def post(self, request: Request) -> Response:
        data = _valid(s.SurveyCreateInputSerializer, request.data)
        actor = actor_for_request(request)
        survey = survey_create(
            actor=actor,
            department=acting_department(request, actor, data.get("department")),
            name=data["name"],
            kind=data["kind"],
            intro=data["intro"],
            link_valid_days=data["link_valid_days"],
            questions=data["questions"],
        )
        survey = survey_get(actor=actor, survey_id=survey.pk)
        return Response(s.SurveyOutputSerializer(survey).data, status=status.HTTP_201_CREATED)


class SurveyCollectionApi(SurveyListApi, SurveyCreateApi):
    """/surveys: GET is SurveyListApi, POST is SurveyCreateApi."""


class SurveyFromTemplateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="survey_create_from_template",
        summary="Create a survey from a built-in template",
        description="nps, csat or ces: the standard question on its fixed scale and a comment question.",
        request=s.SurveyFromTemplateInputSerializer,
        parameters=[idempotency.HEADER_PARAMETER],
        responses={201: s.SurveyOutputSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @idempotency.idempotent
    def post(self, request: Request) -> Response:
        data = _valid(s.SurveyFromTemplateInputSerializer, request.data)
        actor = actor_for_request(request)
        survey = survey_create_from_template(
            actor=actor,
            department=acting_department(request, actor, data.get("department")),
            template=data["template"],
            name=data.get("name") or None,
        )
        survey = survey_get(actor=actor, survey_id=survey.pk)
        return Response(s.SurveyOutputSerializer(survey).data, status=status.HTTP_201_CREATED)


class SurveyDetailApi(APIView):
    @extend_schema(
        operation_id="survey_get",
        summary="Read a survey (any version)",
        responses={200: s.SurveyOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, survey_id: int) -> Response:
        survey = survey_get(actor=actor_for_request(request), survey_id=survey_id)
        return Response(s.SurveyOutputSerializer(survey).data)


class SurveyUpdateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="survey_update",
        summary="Edit a survey",
        description="Edits in place (200) while the survey was never sent. A sent survey is frozen: the "
        "edit creates its next version (201, a new id; questions copied unless given) and the old "
        "version stays for its invitations. Only the current version can be edited (409 otherwise).",
        request=s.SurveyUpdateInputSerializer,
        responses={
            200: s.SurveyOutputSerializer,
            201: s.SurveyOutputSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
    )
    def patch(self, request: Request, survey_id: int) -> Response:
        actor = actor_for_request(request)
        survey = survey_get(actor=actor, survey_id=survey_id)
        data = _valid(s.SurveyUpdateInputSerializer, request.data)
        edited = survey_update(actor=actor, survey=survey, **data)
        edited = survey_get(actor=actor, survey_id=edited.pk)
        created = edited.pk != survey.pk
        return Response(
            s.SurveyOutputSerializer(edited).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SurveyItemApi(SurveyDetailApi, SurveyUpdateApi):
    """/surveys/{id}: GET is SurveyDetailApi, PATCH is SurveyUpdateApi."""


# Frequency rules


class FrequencyRuleListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="frequency_rule_list",
        summary="List frequency rules",
        description="Every rule; readable by every department, written only by CX leads.",
        parameters=[
            OpenApiParameter("active", OpenApiTypes.BOOL, description="Only active (or inactive) rules.")
        ],
        responses={200: s.FrequencyRuleOutputSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        active = request.query_params.get("active")
        if active not in (None, "true", "false"):
            raise ValidationError({"active": ["Use true or false."]})
        rules = frequency_rule_list(active=None if active is None else active == "true")
        return paginated(self, request, rules, s.FrequencyRuleOutputSerializer)


def _rule_fields(actor: Actor, data: dict) -> dict:
    """The input with scope_department as a Department (slug resolved)."""
    fields = dict(data)
    if "scope_department" in fields:
        slug = fields["scope_department"]
        fields["scope_department"] = department_get(actor=actor, slug=slug) if slug else None
    return fields


class FrequencyRuleCreateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="frequency_rule_create",
        summary="Create a frequency rule (CX leads)",
        request=s.FrequencyRuleInputSerializer,
        parameters=[idempotency.HEADER_PARAMETER],
        responses={201: s.FrequencyRuleDetailSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @idempotency.idempotent
    def post(self, request: Request) -> Response:
        actor = actor_for_request(request)
        data = _valid(s.FrequencyRuleInputSerializer, request.data)
        rule = frequency_rule_create(actor=actor, **_rule_fields(actor, data))
        return Response(
            s.FrequencyRuleDetailSerializer(frequency_rule_get(rule_id=rule.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class FrequencyRuleCollectionApi(FrequencyRuleListApi, FrequencyRuleCreateApi):
    """/frequency-rules: GET is FrequencyRuleListApi, POST is FrequencyRuleCreateApi."""


class FrequencyRuleDetailApi(APIView):
    @extend_schema(
        operation_id="frequency_rule_get",
        summary="Read a frequency rule and its versions",
        responses={200: s.FrequencyRuleDetailSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(s.FrequencyRuleDetailSerializer(frequency_rule_get(rule_id=rule_id)).data)


class FrequencyRuleUpdateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="frequency_rule_update",
        summary="Change a frequency rule (CX leads)",
        description="Every real change raises the rule's version and keeps a snapshot of it.",
        request=s.FrequencyRuleInputSerializer(partial=True),
        responses={200: s.FrequencyRuleDetailSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, rule_id: int) -> Response:
        actor = actor_for_request(request)
        rule = frequency_rule_get(rule_id=rule_id)
        data = _valid(s.FrequencyRuleInputSerializer, request.data, partial=True)
        frequency_rule_update(actor=actor, rule=rule, **_rule_fields(actor, data))
        return Response(s.FrequencyRuleDetailSerializer(frequency_rule_get(rule_id=rule_id)).data)


class FrequencyRuleItemApi(FrequencyRuleDetailApi, FrequencyRuleUpdateApi):
    """/frequency-rules/{id}: GET is FrequencyRuleDetailApi, PATCH is FrequencyRuleUpdateApi."""


class FrequencyRuleDeactivateApi(APIView):
    @extend_schema(
        operation_id="frequency_rule_deactivate",
        summary="Stop applying a frequency rule (CX leads)",
        request=None,
        responses={200: s.FrequencyRuleDetailSerializer, **error_responses(401, 403, 404)},
    )
    def post(self, request: Request, rule_id: int) -> Response:
        rule = frequency_rule_get(rule_id=rule_id)
        frequency_rule_deactivate(actor=actor_for_request(request), rule=rule)
        return Response(s.FrequencyRuleDetailSerializer(frequency_rule_get(rule_id=rule_id)).data)


# Send requests


class SendRequestListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="send_request_list",
        summary="List send requests",
        description="The caller's departments' requests (a CX lead: all), newest first.",
        parameters=[s.SendRequestListFilterSerializer],
        responses={200: s.SendRequestOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        actor = actor_for_request(request)
        filters = _valid(s.SendRequestListFilterSerializer, request.query_params)
        requests = send_request_list(
            actor=actor,
            status=filters.get("status"),
            department_id=_department_id(actor, filters.get("department")),
            survey_id=filters.get("survey"),
        )
        return paginated(self, request, requests, s.SendRequestOutputSerializer)


class SendRequestCreateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="send_request_create",
        summary="Create a send request (a draft)",
        description="Nothing is reserved until it is submitted. See the pre-flight report first.",
        request=s.SendRequestCreateInputSerializer,
        parameters=[idempotency.HEADER_PARAMETER],
        responses={201: s.SendRequestOutputSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @idempotency.idempotent
    def post(self, request: Request) -> Response:
        data = _valid(s.SendRequestCreateInputSerializer, request.data)
        actor = actor_for_request(request)
        department = acting_department(request, actor, data.pop("department", None))
        survey = survey_get(actor=actor, survey_id=data.pop("survey"))
        send_request = send_request_create(actor=actor, department=department, survey=survey, **data)
        send_request = send_request_get(actor=actor, send_request_id=send_request.pk)
        return Response(s.SendRequestOutputSerializer(send_request).data, status=status.HTTP_201_CREATED)


class SendRequestCollectionApi(SendRequestListApi, SendRequestCreateApi):
    """/send-requests: GET is SendRequestListApi, POST is SendRequestCreateApi."""


class SendRequestDetailApi(APIView):
    @extend_schema(
        operation_id="send_request_get",
        summary="Read a send request",
        responses={200: s.SendRequestOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, send_request_id: int) -> Response:
        send_request = send_request_get(actor=actor_for_request(request), send_request_id=send_request_id)
        return Response(s.SendRequestOutputSerializer(send_request).data)


class SendRequestPreflightApi(APIView):
    @extend_schema(
        operation_id="send_request_preflight",
        summary="Pre-flight report: what submitting would do now",
        description="Free and changes nothing: audience size, eligible now, blocked per reason and per rule "
        "(by name), when time-based blocks end (by week), and the best send time in the window.",
        responses={200: s.PreflightOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, send_request_id: int) -> Response:
        send_request = send_request_get(actor=actor_for_request(request), send_request_id=send_request_id)
        report = send_request_preflight(send_request=send_request)
        return Response(s.PreflightOutputSerializer(preflight_summary(report)).data)


class SendRequestSubmitApi(APIView):
    @extend_schema(
        operation_id="send_request_submit",
        summary="Submit a draft send request",
        description="Freezes the survey and queues the screening, which reserves and records a decision "
        "for every contact. 409 unless the request is a draft.",
        request=None,
        responses={200: s.SendRequestOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, send_request_id: int) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, send_request_id=send_request_id)
        send_request_submit(send_request=send_request, actor=actor)
        return Response(s.SendRequestOutputSerializer(send_request).data)


class SendRequestCancelApi(APIView):
    @extend_schema(
        operation_id="send_request_cancel",
        summary="Cancel a send request",
        description="Invitations not yet sent are cancelled and stop counting as touches. 409 if the "
        "request is completed or cancelled already.",
        request=None,
        responses={200: s.SendRequestOutputSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, send_request_id: int) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, send_request_id=send_request_id)
        send_request_cancel(send_request=send_request, actor=actor)
        return Response(s.SendRequestOutputSerializer(send_request).data)


class SendRequestAudienceApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="send_request_audience_upload",
        summary="Upload the audience of a draft request (CSV)",
        description="Imports the contacts into the department (as the contact import does) and makes the "
        "file's rows the request's audience, replacing an earlier upload.",
        request={"multipart/form-data": s.AudienceUploadInputSerializer},
        parameters=[idempotency.HEADER_PARAMETER],
        responses={200: s.AudienceUploadOutputSerializer, **error_responses(400, 401, 403, 404, 409, 422)},
    )
    @idempotency.idempotent
    def post(self, request: Request, send_request_id: int) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, send_request_id=send_request_id)
        upload = _valid(s.AudienceUploadInputSerializer, request.data)["file"]
        result = send_request_set_audience_upload(
            actor=actor, send_request=send_request, file=upload, filename=upload.name or ""
        )
        return Response(s.AudienceUploadOutputSerializer(result).data)


class SendRequestDecisionsApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="send_request_decisions",
        summary="The gatekeeper's decisions for a request, explained",
        parameters=[s.DecisionFilterSerializer],
        responses={200: s.DecisionOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, send_request_id: int) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, send_request_id=send_request_id)
        filters = _valid(s.DecisionFilterSerializer, request.query_params)
        decisions: QuerySet = decision_list(
            actor=actor,
            send_request=send_request,
            allowed=filters["allowed"],
            reason=filters.get("reason"),
            rule_id=filters.get("rule"),
        )
        paginator = self.pagination_class()
        page = decisions_explained(paginator.paginate_queryset(decisions, request, view=self), viewer=actor)
        return paginator.get_paginated_response(s.DecisionOutputSerializer(page, many=True).data)
