"""/send-requests/{id}/overrides: a CX lead asks to let a request (or named contacts in it) past a
frequency rule, and a second CX lead approves (surveys/gatekeeper/overrides.py checks both). The
request's department may read its request's overrides; another department gets 404, as for the
request itself."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxfeedback.exceptions import NotFound, error_responses
from cxfeedback.parsers import JSONParser
from departments.actors import actor_for_request
from surveys.api.inputs import PublicIdField, valid_input
from surveys.gatekeeper.overrides import (
    override_actor_check,
    override_approve,
    override_contacts_of,
    override_get,
    override_list,
    override_request,
)
from surveys.gatekeeper.send_requests import send_request_get
from surveys.models import OVERRIDE_REASON_MAX_LENGTH, FrequencyRule, Override


class OverrideOutputSerializer(serializers.ModelSerializer):
    rule = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The frequency rule's id; empty: every rule."
    )
    contacts = serializers.SlugRelatedField(
        slug_field="public_id", many=True, read_only=True, help_text="Empty: every contact of the request."
    )
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    approved_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Empty: not approved yet."
    )
    applied_contacts = serializers.IntegerField(
        read_only=True, help_text="Contacts its request's screening let past the rule."
    )

    class Meta:
        model = Override
        fields = [
            "id",
            "rule",
            "contacts",
            "reason",
            "requested_by",
            "approved_by",
            "created_at",
            "approved_at",
            "applied_at",
            "applied_contacts",
        ]
        read_only_fields = fields


class OverrideInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=OVERRIDE_REASON_MAX_LENGTH)
    rule = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="A frequency rule's id; empty: every rule."
    )
    contacts = serializers.ListField(
        child=PublicIdField(),
        required=False,
        default=list,
        max_length=10_000,
        help_text="Contacts' ids; empty: every contact of the request.",
    )


class OverrideCollectionApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="override_list",
        summary="The overrides of a send request",
        responses={200: OverrideOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, send_request_id: uuid.UUID) -> Response:
        send_request = send_request_get(actor=actor_for_request(request), public_id=send_request_id)
        return Response(OverrideOutputSerializer(override_list(send_request=send_request), many=True).data)

    @extend_schema(
        operation_id="override_request",
        summary="Ask to let a send request past a frequency rule (CX leads)",
        description="Applies when the request is screened, once a second CX lead approves it. Only "
        "before the screening: 400 for a request screened already.",
        request=OverrideInputSerializer,
        responses={201: OverrideOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, send_request_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, public_id=send_request_id)
        override_actor_check(actor, "request")  # before looking at the input: a department learns nothing
        data = valid_input(OverrideInputSerializer, request.data)
        rule = None
        if data["rule"] is not None:
            rule = FrequencyRule.objects.filter(pk=data["rule"]).first()
            if rule is None:
                raise NotFound(f"Frequency rule {data['rule']} not found.")
        override = override_request(
            actor=actor,
            send_request=send_request,
            reason=data["reason"],
            rule=rule,
            contacts=override_contacts_of(send_request, data["contacts"]),
        )
        return Response(OverrideOutputSerializer(override).data, status=status.HTTP_201_CREATED)


class OverrideApproveApi(APIView):
    @extend_schema(
        operation_id="override_approve",
        summary="Approve an override (a CX lead other than its requester and the request's creator)",
        request=None,
        responses={200: OverrideOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, send_request_id: uuid.UUID, override_id: int) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, public_id=send_request_id)
        override = override_approve(
            actor=actor, override=override_get(send_request=send_request, override_id=override_id)
        )
        return Response(OverrideOutputSerializer(override).data)
