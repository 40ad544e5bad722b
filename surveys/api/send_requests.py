"""REST API v1 for surveys, frequency rules and send requests. Thin: parse, call one selector or
service, shape the answer.

A route that serves a read and a write combines two classes, one per operation, so every operation
with a side effect stays its own view (SendRequestSubmitApi, SendRequestCancelApi, …).
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from contacts.models import Channel
from cxfeedback.api import paginated
from cxfeedback.exceptions import error_responses
from cxfeedback.idempotency import HEADER_PARAMETER, idempotent
from cxfeedback.parsers import JSONParser
from departments.actors import actor_for_request
from departments.api import acting_department
from surveys.api.approval_serializers import ApprovalOutputSerializer
from surveys.api.inputs import DEPARTMENT_HELP, department_id_of, valid_input
from surveys.api.preflight_serializers import PreflightOutputSerializer
from surveys.api.progress_serializers import (
    PROGRESS_EXAMPLE,
    ScreeningProgressSerializer,
    SendRequestProgressSerializer,
)
from surveys.delivery.progress import send_request_progress_shown
from surveys.design.selectors import survey_get
from surveys.gatekeeper.audiences import REQUESTABLE_AUDIENCES
from surveys.gatekeeper.decisions import decision_list, decisions_explained
from surveys.gatekeeper.preflight import preflight_summary, send_request_preflight
from surveys.gatekeeper.screening_batches import screening_progress
from surveys.gatekeeper.send_requests import (
    send_request_cancel,
    send_request_create,
    send_request_get,
    send_request_list,
    send_request_submit,
)
from surveys.models import (
    PURPOSE_MAX_LENGTH,
    Decision,
    Reason,
    SendRequest,
)


class SendRequestOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    survey_name = serializers.CharField(source="survey.name", read_only=True)
    survey_version = serializers.IntegerField(source="survey.version", read_only=True)
    audience_filter = serializers.DictField(read_only=True)
    screening_summary = serializers.DictField(
        read_only=True,
        help_text="After screening: audience rows, contacts, allowed, blocked per reason and rule.",
    )
    approval = ApprovalOutputSerializer(
        read_only=True, allow_null=True, help_text="A request held for a CX lead: why, and the decision."
    )

    class Meta:
        model = SendRequest
        fields = [
            "id",
            "department",
            "survey",
            "survey_name",
            "survey_version",
            "channel",
            "audience_kind",
            "audience_filter",
            "earliest_send_at",
            "latest_send_at",
            "priority",
            "purpose",
            "status",
            "screening_summary",
            "approval",
            "created_at",
            "submitted_at",
            "screened_at",
            "cancelled_at",
        ]
        read_only_fields = fields


class SendRequestDetailOutputSerializer(SendRequestOutputSerializer):
    screening = ScreeningProgressSerializer(
        source="screening_shown",
        read_only=True,
        allow_null=True,
        help_text="Contacts decided of the audience, batch by batch. Null for a draft and a trigger.",
    )
    progress = SendRequestProgressSerializer(read_only=True, allow_null=True, help_text="Null for a draft.")

    class Meta(SendRequestOutputSerializer.Meta):
        fields = [*SendRequestOutputSerializer.Meta.fields, "screening", "progress"]
        read_only_fields = fields


class SendRequestCreateInputSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)
    survey = serializers.IntegerField(
        help_text="Id of the current version of one of the department's surveys."
    )
    channel = serializers.ChoiceField(choices=Channel.choices)
    audience_kind = serializers.ChoiceField(
        choices=[(kind, SendRequest.AudienceKind(kind).label) for kind in REQUESTABLE_AUDIENCES],
        help_text="upload: POST a CSV to /send-requests/{id}/audience; filter: contacts the department "
        "knows whose attributes contain audience_filter; all_known: every contact the department knows.",
    )
    audience_filter = serializers.JSONField(
        required=False, default=None, help_text='A flat object of attributes, e.g. {"tier": "gold"}.'
    )
    earliest_send_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    latest_send_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    priority = serializers.IntegerField(required=False, default=5, help_text="0 to 10.")
    purpose = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=PURPOSE_MAX_LENGTH
    )


class SendRequestListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SendRequest.Status.choices, required=False)
    department = serializers.SlugField(required=False)
    survey = serializers.IntegerField(required=False)


class DecisionOutputSerializer(serializers.ModelSerializer):
    contact = serializers.UUIDField(source="contact.public_id", read_only=True)
    # Declared, as FrequencyRuleOutputSerializer's scopes are: an allowed decision has no reason ("").
    reason = serializers.ChoiceField(
        choices=Reason.choices, allow_blank=True, read_only=True, help_text="Empty if allowed."
    )
    rule = serializers.IntegerField(source="rule_id", read_only=True, allow_null=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True, allow_null=True, default=None)
    next_eligible_at = serializers.DateTimeField(
        source="next_eligible_shown",
        read_only=True,
        allow_null=True,
        help_text="To the full hour (rounded up) unless you are a CX lead.",
    )
    explanation = serializers.CharField(
        read_only=True, help_text="For people; never names another department."
    )

    class Meta:
        model = Decision
        fields = [
            "contact",
            "allowed",
            "reason",
            "rule",
            "rule_name",
            "rule_version",
            "next_eligible_at",
            "decided_at",
            "explanation",
        ]
        read_only_fields = fields


class DecisionFilterSerializer(serializers.Serializer):
    allowed = serializers.BooleanField(required=False, allow_null=True, default=None)
    reason = serializers.ChoiceField(choices=Reason.choices, required=False)
    rule = serializers.IntegerField(required=False)


class SendRequestListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="send_request_list",
        summary="List send requests",
        description="The caller's departments' requests (a CX lead: all), newest first.",
        parameters=[SendRequestListFilterSerializer],
        responses={200: SendRequestOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        actor = actor_for_request(request)
        filters = valid_input(SendRequestListFilterSerializer, request.query_params)
        requests = send_request_list(
            actor=actor,
            status=filters.get("status"),
            department_id=department_id_of(actor, filters.get("department")),
            survey_id=filters.get("survey"),
        )
        return paginated(self, request, requests, SendRequestOutputSerializer)


class SendRequestCreateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="send_request_create",
        summary="Create a send request (a draft)",
        description="Nothing is reserved until it is submitted. See the pre-flight report first.",
        request=SendRequestCreateInputSerializer,
        parameters=[HEADER_PARAMETER],
        responses={201: SendRequestOutputSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = valid_input(SendRequestCreateInputSerializer, request.data)
        actor = actor_for_request(request)
        department = acting_department(request, actor, data.pop("department", None))
        survey = survey_get(actor=actor, survey_id=data.pop("survey"))
        send_request = send_request_create(actor=actor, department=department, survey=survey, **data)
        send_request = send_request_get(actor=actor, public_id=send_request.public_id)
        return Response(SendRequestOutputSerializer(send_request).data, status=status.HTTP_201_CREATED)


class SendRequestCollectionApi(SendRequestListApi, SendRequestCreateApi):
    """/send-requests: GET is SendRequestListApi, POST is SendRequestCreateApi."""


class SendRequestDetailApi(APIView):
    @extend_schema(
        operation_id="send_request_get",
        summary="Read a send request, with its screening and delivery progress",
        responses={200: SendRequestDetailOutputSerializer, **error_responses(401, 403, 404)},
        examples=[PROGRESS_EXAMPLE],
    )
    def get(self, request: Request, send_request_id: uuid.UUID) -> Response:
        send_request = send_request_get(actor=actor_for_request(request), public_id=send_request_id)
        send_request.progress = send_request_progress_shown(send_request=send_request)
        send_request.screening_shown = screening_progress(send_request)
        return Response(SendRequestDetailOutputSerializer(send_request).data)


class SendRequestPreflightApi(APIView):
    @extend_schema(
        operation_id="send_request_preflight",
        summary="Pre-flight report: what submitting would do now",
        description="Free and changes nothing: audience size, eligible now, blocked per reason and per rule "
        "(by name), when time-based blocks end (by week), and the best send time in the window.",
        responses={200: PreflightOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, send_request_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, public_id=send_request_id)
        report = send_request_preflight(send_request=send_request)
        return Response(PreflightOutputSerializer(preflight_summary(report, viewer=actor)).data)


class SendRequestSubmitApi(APIView):
    @extend_schema(
        operation_id="send_request_submit",
        summary="Submit a draft send request",
        description="Freezes the survey and queues the screening, which reserves and records a decision "
        "for every contact. 409 unless the request is a draft.",
        request=None,
        responses={200: SendRequestOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, send_request_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, public_id=send_request_id)
        send_request_submit(send_request=send_request, actor=actor)
        return Response(SendRequestOutputSerializer(send_request).data)


class SendRequestCancelApi(APIView):
    @extend_schema(
        operation_id="send_request_cancel",
        summary="Cancel a send request",
        description="Invitations not yet sent are cancelled and stop counting as touches. 409 if the "
        "request is completed or cancelled already.",
        request=None,
        responses={200: SendRequestOutputSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, send_request_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, public_id=send_request_id)
        send_request_cancel(send_request=send_request, actor=actor)
        return Response(SendRequestOutputSerializer(send_request).data)


class SendRequestDecisionsApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="send_request_decisions",
        summary="The gatekeeper's decisions for a request, explained",
        parameters=[DecisionFilterSerializer],
        responses={200: DecisionOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, send_request_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, public_id=send_request_id)
        filters = valid_input(DecisionFilterSerializer, request.query_params)
        decisions: QuerySet = decision_list(
            actor=actor,
            send_request=send_request,
            allowed=filters["allowed"],
            reason=filters.get("reason"),
            rule_id=filters.get("rule"),
        )
        paginator = self.pagination_class()
        page = decisions_explained(paginator.paginate_queryset(decisions, request, view=self), viewer=actor)
        return paginator.get_paginated_response(DecisionOutputSerializer(page, many=True).data)
