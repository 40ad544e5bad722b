"""REST API v1: blackouts, opened and closed by the department's own external id (its ticket or
complaint number). Thin: parse, call one service, shape the answer.

POST /api/v1/blackouts opens one (201; the same external id again: 200 with the blackout as it is);
POST /api/v1/blackouts/{external_id}/close closes it (again: 200, unchanged). A department sees and
closes only its own blackouts; another department's external id is "not found".
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxfeedback.exceptions import NotFound, error_responses
from cxfeedback.parsers import JSONParser
from departments.actors import actor_for_request
from departments.api import acting_department
from surveys.api.inputs import DEPARTMENT_HELP, DURATION_HELP, valid_input
from surveys.api.triggers import ContactReferenceSerializer
from surveys.gatekeeper.blackouts import blackout_account_id, blackout_close, blackout_open
from surveys.gatekeeper.lookups import contact_known_id
from surveys.models import Blackout, BlackoutKind

MAX_EXTERNAL_ID = 200


class BlackoutOpenInputSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)
    external_id = serializers.CharField(
        max_length=MAX_EXTERNAL_ID, help_text="Your id of the event (a ticket number)."
    )
    kind = serializers.ChoiceField(choices=BlackoutKind.choices)
    contact = ContactReferenceSerializer(required=False, help_text="One of your contacts …")
    account = serializers.CharField(
        max_length=200,
        required=False,
        help_text="… or the external id of an account one of your contacts is in.",
    )
    summary = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Your own note; no one else sees it.",
    )
    tail = serializers.DurationField(
        required=False,
        help_text=f"How long surveys stay blocked after it closes; default 7 days. {DURATION_HELP}",
    )

    def validate(self, data: dict) -> dict:
        if ("contact" in data) == ("account" in data):
            raise ValidationError("Name the contact or the account (one of the two).")
        return data


class BlackoutCloseInputSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)
    tail = serializers.DurationField(
        required=False, help_text=f"Replaces the tail given when it was opened. {DURATION_HELP}"
    )


class BlackoutSerializer(serializers.ModelSerializer):
    tail = serializers.DurationField(format="iso-8601")
    ends_at = serializers.DateTimeField(
        allow_null=True, help_text="When surveys may go again; null while open."
    )
    contact = serializers.SerializerMethodField(help_text="The contact's id, for a contact's blackout.")
    account = serializers.CharField(source="account.external_id", allow_null=True, default=None)

    class Meta:
        model = Blackout
        fields = [
            "external_id",
            "kind",
            "contact",
            "account",
            "summary",
            "opened_at",
            "closed_at",
            "tail",
            "ends_at",
        ]

    def get_contact(self, blackout: Blackout) -> dict | None:
        return {"id": str(blackout.contact.public_id)} if blackout.contact_id else None


EXAMPLE = {
    "external_id": "TICKET-4711",
    "kind": "complaint",
    "contact": {"identities": [{"kind": "email", "value": "ana@example.com"}]},
    "summary": "Invoice charged twice",
    "tail": "P14D",
}


class BlackoutOpenApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="blackout_open",
        summary="Open a blackout",
        description="No department may survey the contact (or any contact of the account) while the "
        "blackout is open, nor for its tail after it closes. Other departments see only its kind, as "
        "the reason `blackout` of their decisions. Idempotent by `external_id`: opening it again "
        "answers 200 with the blackout as it is.",
        request=BlackoutOpenInputSerializer,
        responses={
            201: BlackoutSerializer,
            200: BlackoutSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        examples=[OpenApiExample("Complaint", request_only=True, value=EXAMPLE)],
    )
    def post(self, request: Request) -> Response:
        data = valid_input(BlackoutOpenInputSerializer, request.data)
        actor = actor_for_request(request)
        department = acting_department(request, actor, data.get("department"))
        contact_id = account_id = None
        if "contact" in data:
            reference = data["contact"]
            contact_id = contact_known_id(
                department=department,
                public_id=reference.get("id"),
                identities=[(i["kind"], i["source"], i["value"]) for i in reference.get("identities", [])],
            )
        else:
            account_id = blackout_account_id(department=department, external_id=data["account"])
        blackout, created = blackout_open(
            department=department,
            external_id=data["external_id"],
            kind=data["kind"],
            contact_id=contact_id,
            account_id=account_id,
            summary=data["summary"],
            tail=data.get("tail"),
        )
        return Response(
            BlackoutSerializer(blackout).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class BlackoutCloseApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="blackout_close",
        summary="Close a blackout",
        description="Surveys stay blocked until its tail has passed (`ends_at`). Idempotent: closing "
        "a closed blackout answers 200 and changes nothing. Only your own department's blackouts.",
        request=BlackoutCloseInputSerializer,
        responses={200: BlackoutSerializer, **error_responses(400, 401, 403, 404)},
        examples=[OpenApiExample("Close", request_only=True, value={"tail": "P7D"})],
    )
    def post(self, request: Request, external_id: str) -> Response:
        if len(external_id) > MAX_EXTERNAL_ID or "\x00" in external_id:  # no such id can be stored
            raise NotFound("Blackout not found.")
        data = valid_input(BlackoutCloseInputSerializer, request.data)
        actor = actor_for_request(request)
        department = acting_department(request, actor, data.get("department"))
        blackout = blackout_close(department=department, external_id=external_id, tail=data.get("tail"))
        return Response(BlackoutSerializer(blackout).data)
