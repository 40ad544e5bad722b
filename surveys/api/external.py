"""REST API v1 for survey tools a department keeps besides ours (issue 16): touches they sent, slots
reserved before they send (ask-then-record), and the answers they collected. Thin: parse, find the
department's contacts (surveys/gatekeeper/lookups.py: its own book only), call one service.

Touches and reservations are named by their public ids (UUIDs); a replay of the same source tool and
external id returns the stored touch (200) instead of recording a second one (201).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.models import Channel, Contact
from cxfeedback.exceptions import ApplicationError, error_responses
from cxfeedback.idempotency import HEADER_PARAMETER, idempotent
from cxfeedback.parsers import JSONParser
from departments.actors import actor_for_request
from departments.api import acting_department
from departments.models import ApiKey, Department
from surveys.api.external_schema import (
    RESERVATION_EXAMPLES,
    TOUCH_EXAMPLES,
    ReservationAnswerSerializer,
    TouchAnswerSerializer,
    TouchListAnswerSerializer,
)
from surveys.api.inputs import DEPARTMENT_HELP
from surveys.api.triggers import ContactReferenceSerializer, _answer
from surveys.external.reservations import (
    external_reservation_cancel,
    external_reservation_confirm,
    external_reservation_create,
    external_reservation_get,
)
from surveys.external.touches import MAX_TOUCHES_PER_CALL, TouchInput, external_touches_record
from surveys.gatekeeper.lookups import contact_known_id
from surveys.models import ExternalTouch, Invitation, SurveyKind

# Input


class TouchInputSerializer(serializers.Serializer):
    contact = ContactReferenceSerializer(help_text="One of the department's contacts, by id or identities.")
    survey_kind = serializers.ChoiceField(choices=SurveyKind.choices)
    channel = serializers.ChoiceField(choices=Channel.choices)
    at = serializers.DateTimeField(help_text="When the other tool sent the survey.")
    source_tool = serializers.CharField(max_length=100, help_text="The tool that sent it, e.g. “Qualtrics”.")
    external_id = serializers.CharField(
        max_length=200, help_text="The tool's id of the send: a replay with the same one is the same touch."
    )


class TouchBulkInputSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)
    touches = TouchInputSerializer(many=True, allow_empty=False, help_text=f"At most {MAX_TOUCHES_PER_CALL}.")

    def validate_touches(self, touches: list[dict]) -> list[dict]:
        if len(touches) > MAX_TOUCHES_PER_CALL:
            raise ValidationError(
                f"At most {MAX_TOUCHES_PER_CALL} touches per call; send the rest in another."
            )
        return touches


class TouchSingleInputSerializer(TouchInputSerializer):
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)


class ReservationInputSerializer(TouchSingleInputSerializer):
    at = serializers.DateTimeField(required=False, help_text="When the tool will send it; default now.")
    external_id = serializers.CharField(
        max_length=200, required=False, default="", help_text="The tool's id, if known; a replay returns it."
    )


class DepartmentInputSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)


class ConfirmInputSerializer(DepartmentInputSerializer):
    sent_at = serializers.DateTimeField(required=False, help_text="When the tool sent it; default now.")
    external_id = serializers.CharField(
        max_length=200, required=False, default="", help_text="The tool's id."
    )


def touch_input(department: Department, data: dict[str, Any], *, at_default: Any = None) -> TouchInput:
    reference = data["contact"]
    contact_id = contact_known_id(
        department=department,
        public_id=reference.get("id"),
        identities=[(i["kind"], i["source"], i["value"]) for i in reference.get("identities", [])],
    )
    return TouchInput(
        contact_id=contact_id,
        survey_kind=data["survey_kind"],
        channel=data["channel"],
        at=data.get("at") or at_default,
        source_tool=data["source_tool"],
        external_id=data["external_id"],
    )


def touch_inputs(department: Department, rows: list[dict[str, Any]]) -> list[TouchInput]:
    """The touches of a call, each contact found in the department's book; an error names the touch
    (its index in `touches`) and nothing is recorded."""
    inputs = []
    for index, row in enumerate(rows):
        try:
            inputs.append(touch_input(department, row))
        except ApplicationError as error:
            error.extra = {**(error.extra or {}), "touch": index}
            raise
    return inputs


# Output


def touch_body(touch: ExternalTouch, *, contact_public_ids: dict[int, Any], created: bool) -> dict[str, Any]:
    invitation: Invitation = touch.invitation
    return {
        "id": touch.public_id,
        "source_tool": touch.source_tool,
        "external_id": touch.external_id,
        "contact": {"id": contact_public_ids[invitation.contact_id]},
        "survey_kind": invitation.survey_kind,
        "channel": invitation.channel,
        "at": invitation.touched_at,
        "sent_at": invitation.sent_at,
        "status": TOUCH_STATUS.get(invitation.status, "sent"),
        "reserved_until": touch.reserved_until,
        "created": created,
    }


# What a caller reads of the touch's invitation: our delivery statuses mean nothing for their send.
TOUCH_STATUS = {
    Invitation.Status.QUEUED: "reserved",
    Invitation.Status.CANCELLED: "cancelled",
    Invitation.Status.ANSWERED: "answered",
}


def contact_public_ids(contact_ids: set[int]) -> dict[int, Any]:
    return dict(Contact.objects.filter(pk__in=contact_ids).values_list("pk", "public_id"))


def touch_answer(touch: ExternalTouch, *, created: bool) -> dict[str, Any]:
    ids = contact_public_ids({touch.invitation.contact_id})
    return touch_body(touch, contact_public_ids=ids, created=created)


def _status(created: bool) -> int:
    return status.HTTP_201_CREATED if created else status.HTTP_200_OK


class TouchCollectionApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="external_touch_record",
        summary="Record surveys another tool sent",
        description="One touch (the fields at the top level) or up to 1,000 (`touches`). Each counts for "
        "every frequency rule from its time exactly like one of our invitations, appears in the contact's "
        "timeline and in the results' invitations sent, and is seen by other departments only as "
        "“contacted by another department”. Idempotent on (source_tool, external_id): a replay returns "
        "the stored touch with `created: false`. 201 if any touch was new, else 200.",
        request=TouchBulkInputSerializer,
        responses={
            200: TouchListAnswerSerializer,
            201: TouchListAnswerSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
        examples=TOUCH_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        single = isinstance(request.data, dict) and "touches" not in request.data
        if single:
            data = TouchSingleInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            rows, slug = [data.validated_data], data.validated_data.get("department")
        else:
            data = TouchBulkInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            rows, slug = data.validated_data["touches"], data.validated_data.get("department")
        actor = actor_for_request(request)
        department = acting_department(request, actor, slug)
        recorded = external_touches_record(department=department, touches=touch_inputs(department, rows))
        ids = contact_public_ids({r.touch.invitation.contact_id for r in recorded})
        bodies = [touch_body(r.touch, contact_public_ids=ids, created=r.created) for r in recorded]
        created = any(r.created for r in recorded)
        return Response(bodies[0] if single else {"touches": bodies}, status=_status(created))


class ReservationCollectionApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="external_reservation_create",
        summary="Ask before another tool sends, and hold the slot",
        description="The gatekeeper's answer for a survey of `survey_kind` sent by your own tool (no "
        "survey of ours needed). If allowed, the slot is reserved at once (it counts as a touch) and "
        "`reservation` names it: confirm it once your tool has sent, or cancel it. One not confirmed "
        "within an hour of its time is released. 201 if reserved, 200 if blocked (the decision says "
        "why and until when).",
        request=ReservationInputSerializer,
        parameters=[HEADER_PARAMETER],
        responses={
            200: ReservationAnswerSerializer,
            201: ReservationAnswerSerializer,
            **error_responses(400, 401, 403, 404, 409, 422),
        },
        examples=RESERVATION_EXAMPLES,
    )
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = ReservationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for_request(request)
        department = acting_department(request, actor, data.get("department"))
        touch = touch_input(department, data, at_default=timezone.now())
        reservation = external_reservation_create(actor=actor, department=department, touch=touch)
        eligibility = reservation.eligibility
        body = _answer(
            verdict=eligibility.verdict,
            next_eligible_at=eligibility.next_eligible_at,
            explanation=eligibility.explanation,
            invitation=None,
            contact_id=contact_public_ids({touch.contact_id})[touch.contact_id],
        )
        reserved = reservation.touch
        body["reservation"] = (
            None if reserved is None else touch_answer(reserved, created=reservation.created)
        )
        return Response(body, status=_status(reservation.created))


def _reservation_of(request: Request, reservation_id: Any) -> ExternalTouch:
    """The reservation, looked up before the body is read: another department's id answers 404,
    like a missing one, whatever the body. A signed-in user may name the department; the
    reservation's own is used otherwise."""
    actor = actor_for_request(request)
    slug = request.data.get("department") if isinstance(request.data, dict) else None
    department = acting_department(request, actor, slug) if slug or isinstance(request.auth, ApiKey) else None
    return external_reservation_get(actor=actor, department=department, public_id=reservation_id)


class ReservationConfirmApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="external_reservation_confirm",
        summary="Record that your tool sent the reserved survey",
        description="The reservation becomes a sent touch at `sent_at` (default now). Confirming twice "
        "changes nothing. 409 if it was cancelled or released first (ask again).",
        request=ConfirmInputSerializer,
        responses={200: TouchAnswerSerializer, **error_responses(400, 401, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "Confirm",
                request_only=True,
                value={"sent_at": "2026-03-02T09:31:12Z", "external_id": "tf-resp-81723"},
            )
        ],
    )
    def post(self, request: Request, reservation_id: Any) -> Response:
        touch = _reservation_of(request, reservation_id)
        serializer = ConfirmInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        touch = external_reservation_confirm(
            touch=touch, sent_at=data.get("sent_at"), external_id=data["external_id"]
        )
        return Response(touch_answer(touch, created=False))


class ReservationCancelApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="external_reservation_cancel",
        summary="Give the reserved slot back",
        description="Your tool did not send it: the reservation no longer counts as a touch. Cancelling "
        "twice changes nothing. 409 if it was confirmed already.",
        request=DepartmentInputSerializer,
        responses={200: TouchAnswerSerializer, **error_responses(400, 401, 403, 404, 409)},
        examples=[OpenApiExample("Cancel", request_only=True, value={})],
    )
    def post(self, request: Request, reservation_id: Any) -> Response:
        touch = _reservation_of(request, reservation_id)
        DepartmentInputSerializer(data=request.data).is_valid(raise_exception=True)
        return Response(touch_answer(external_reservation_cancel(touch=touch), created=False))
