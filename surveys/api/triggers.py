"""REST API v1: "may I survey this person now?" and "survey this person now". Thin: parse, call one
selector or service, shape the answer.

Both answer with the gatekeeper's decision in the same body:
{"decision": {allowed, reason, rule, next_eligible_at, explanation},
 "invitation": {id, status, planned_at} | null, "contact": {id}}.
A blocked trigger is a normal answer (200), not an error: the decision says why and until when.
Contacts and invitations are named by their public ids (UUIDs); a department is shown the next
eligible time to the full hour (surveys/gatekeeper/decisions.py `next_eligible_shown`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.api.serializers import IdentityInputSerializer
from contacts.models import Channel
from cxfeedback.exceptions import error_responses
from cxfeedback.idempotency import HEADER_PARAMETER, idempotent
from cxfeedback.parsers import JSONParser
from departments.actors import actor_for_request
from departments.api import acting_department
from surveys.api.external_examples import ELIGIBILITY_EXAMPLES
from surveys.api.inputs import PublicIdField
from surveys.api.trigger_input import MAX_ID, trigger_input_read
from surveys.delivery.planned_times import quiet_end
from surveys.external.homes import external_survey_get
from surveys.gatekeeper.eligibility import eligibility_check
from surveys.gatekeeper.lookups import contact_known_id, survey_for_sending
from surveys.gatekeeper.triggers import contact_public_id, trigger_create
from surveys.models import Reason, SurveyKind

# Input


class _SendInputSerializer(serializers.Serializer):
    department = serializers.SlugField(
        required=False,
        help_text="Slug of the department asking. Required for signed-in users; an API key always acts "
        "for its own department.",
    )
    survey = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="Id of one of the department's current surveys."
    )
    channel = serializers.ChoiceField(choices=Channel.choices)


class ContactReferenceSerializer(serializers.Serializer):
    id = PublicIdField(required=False, help_text="The contact's id (a UUID) …")
    identities = IdentityInputSerializer(
        many=True, required=False, allow_empty=False, help_text="… or any of its identities."
    )

    def validate(self, data: dict) -> dict:
        if ("id" in data) == ("identities" in data):
            raise ValidationError("Name the contact by id or by identities (one of the two).")
        return data


class EligibilityInputSerializer(_SendInputSerializer):
    survey = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        help_text="Id of one of the department's current surveys …",
    )
    survey_kind = serializers.ChoiceField(
        choices=SurveyKind.choices,
        required=False,
        help_text="… or, for a survey your own tool sends, its kind.",
    )
    contact = ContactReferenceSerializer(help_text="One of the department's contacts.")
    at = serializers.DateTimeField(required=False, help_text="When the send would happen; default now.")

    def validate(self, data: dict) -> dict:
        if ("survey" in data) == ("survey_kind" in data):
            raise ValidationError("Name the survey, or the survey kind your own tool sends (one of the two).")
        return data


class TriggerContactSerializer(serializers.Serializer):
    identities = IdentityInputSerializer(
        many=True, allow_empty=False, help_text="The contact is matched by any of these, normalised."
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    locale = serializers.CharField(max_length=16, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False, allow_blank=True)
    attributes = serializers.DictField(required=False, help_text="Merged into the stored attributes.")


class TriggerInputSerializer(_SendInputSerializer):
    contact = TriggerContactSerializer(help_text="Created if no contact has any of the identities.")
    purpose = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", help_text="The business event."
    )


# Output (the schema; views build the same shape as plain data)


class DecisionAnswerSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=Reason.choices, allow_blank=True, help_text="Empty if allowed.")
    rule = serializers.IntegerField(allow_null=True, help_text="The blocking frequency rule, if any.")
    next_eligible_at = serializers.DateTimeField(
        allow_null=True, help_text="To the full hour (rounded up) unless you are a CX lead."
    )
    explanation = serializers.CharField(help_text="For people; never names another department's survey.")


class InvitationAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    planned_at = serializers.DateTimeField(
        help_text="When it goes out: now (or as planned), or when the contact's quiet hours end in their "
        "own time zone if it falls into them."
    )


class ContactAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField()


class GatekeeperAnswerSerializer(serializers.Serializer):
    decision = DecisionAnswerSerializer()
    invitation = InvitationAnswerSerializer(allow_null=True, help_text="The queued invitation, if allowed.")
    contact = ContactAnswerSerializer()


def _answer(
    *,
    verdict: Any,
    next_eligible_at: dt.datetime | None,
    explanation: str,
    invitation: Any,
    contact_id: uuid.UUID,
    contact_time_zone: str = "",
) -> dict[str, Any]:
    """The body both views return; `verdict` is a Decision or a surveys.gatekeeper.rules.Verdict,
    `next_eligible_at` its time as the asker is shown it, `contact_id` the contact's public id and
    `contact_time_zone` the zone an invitation's planned time is read in."""
    return {
        "decision": {
            "allowed": verdict.allowed,
            "reason": verdict.reason,
            "rule": verdict.rule_id,
            "next_eligible_at": next_eligible_at,
            "explanation": explanation,
        },
        "invitation": None
        if invitation is None
        else {
            "id": invitation.public_id,
            "status": invitation.status,
            "planned_at": _planned_at(invitation, contact_time_zone),
        },
        "contact": {"id": contact_id},
    }


def _planned_at(invitation: Any, time_zone: str) -> dt.datetime:
    """When the invitation goes out: as planned, or when the quiet hours of the contact (in
    `time_zone`, as surveys/delivery/planned_times.py `contact_time_zone` reads it) end."""
    planned = invitation.send_after or invitation.touched_at
    if settings.QUIET_HOURS_START == settings.QUIET_HOURS_END:
        return planned
    return quiet_end(planned, time_zone) or planned


class EligibilityApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="eligibility_check",
        summary="May this contact be surveyed now?",
        description="The gatekeeper's answer for one contact (by id or by any identity), survey and "
        "channel, at `at` (default now): allowed or not, the reason and the next eligible time. "
        "Reserves nothing: a trigger sent afterwards decides again. For a survey your own tool sends, "
        "give `survey_kind` instead of `survey` (and reserve with POST /api/v1/touches/reservations).",
        request=EligibilityInputSerializer,
        responses={200: GatekeeperAnswerSerializer, **error_responses(400, 401, 403, 404, 409)},
        examples=ELIGIBILITY_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        serializer = EligibilityInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        actor = actor_for_request(request)
        department = acting_department(request, actor, data.get("department"))
        if "survey_kind" in data:  # a survey another tool sends: the department's placeholder of that kind
            survey = external_survey_get(department=department, kind=data["survey_kind"])
        else:
            survey = survey_for_sending(
                actor=actor, department=department, survey_id=data["survey"], channel=data["channel"]
            )
        reference = data["contact"]
        contact_id = contact_known_id(
            department=department,
            public_id=reference.get("id"),
            identities=[(i["kind"], i["source"], i["value"]) for i in reference.get("identities", [])],
        )
        eligibility = eligibility_check(
            actor=actor,
            department=department,
            survey=survey,
            channel=data["channel"],
            contact_id=contact_id,
            at=data.get("at"),
        )
        return Response(
            _answer(
                verdict=eligibility.verdict,
                next_eligible_at=eligibility.next_eligible_at,
                explanation=eligibility.explanation,
                invitation=None,
                contact_id=reference.get("id") or contact_public_id(contact_id),
            )
        )


class TriggerApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="trigger_create",
        summary="Survey a contact now, after a business event",
        description="Upserts the contact by identity and asks the gatekeeper to send the survey to them "
        "now, as a single-contact send request. 201 with the queued invitation if allowed; 200 with the "
        "decision (reason, next eligible time) if blocked. Send an Idempotency-Key: a repeat returns "
        "the first answer and never creates a second invitation.",
        request=TriggerInputSerializer,
        parameters=[HEADER_PARAMETER],
        responses={
            200: GatekeeperAnswerSerializer,
            201: GatekeeperAnswerSerializer,
            **error_responses(400, 401, 403, 404, 409, 422, 429),
        },
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = trigger_input_read(request.data)
        if data is None:  # not plainly well formed: the serializer reads it and names what is wrong
            serializer = TriggerInputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
        actor = actor_for_request(request)
        department = acting_department(request, actor, data.get("department"))
        contact = data["contact"]
        trigger = trigger_create(
            actor=actor,
            department=department,
            survey_id=data["survey"],
            channel=data["channel"],
            identities=[(i["kind"], i["source"], i["value"]) for i in contact["identities"]],
            name=contact.get("name"),
            locale=contact.get("locale"),
            time_zone=contact.get("time_zone"),
            attributes=contact.get("attributes"),
            purpose=data["purpose"],
        )
        body = _answer(
            verdict=trigger.decision,
            next_eligible_at=trigger.next_eligible_at,
            explanation=trigger.explanation,
            invitation=trigger.invitation,
            contact_id=trigger.contact_public_id,
            contact_time_zone=trigger.contact_time_zone,
        )
        queued = trigger.invitation is not None
        return Response(body, status=status.HTTP_201_CREATED if queued else status.HTTP_200_OK)
