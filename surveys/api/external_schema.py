"""The answers of the external touches API as OpenAPI shows them (surveys/api/external.py and
external_responses.py build the same shapes as plain data), with the examples the schema carries."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from contacts.models import Channel
from surveys.api.triggers import GatekeeperAnswerSerializer
from surveys.models import SurveyKind


class TouchContactSerializer(serializers.Serializer):
    id = serializers.UUIDField()


class TouchAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The touch's (or reservation's) id.")
    source_tool = serializers.CharField()
    external_id = serializers.CharField(help_text="Empty for a reservation not given one.")
    contact = TouchContactSerializer()
    survey_kind = serializers.ChoiceField(choices=SurveyKind.choices)
    channel = serializers.ChoiceField(choices=Channel.choices)
    at = serializers.DateTimeField(help_text="When it counts from: the send's (or reserved) time.")
    sent_at = serializers.DateTimeField(allow_null=True, help_text="Null while only reserved.")
    status = serializers.CharField(help_text="reserved, sent, answered or cancelled (released).")
    reserved_until = serializers.DateTimeField(allow_null=True, help_text="A reservation's release time.")
    created = serializers.BooleanField(help_text="False: a replay, the stored touch is returned.")


class TouchListAnswerSerializer(serializers.Serializer):
    touches = TouchAnswerSerializer(
        many=True, help_text="In the order given (the single form: one, unwrapped)."
    )


class ReservationAnswerSerializer(GatekeeperAnswerSerializer):
    reservation = TouchAnswerSerializer(allow_null=True, help_text="The slot held, if allowed.")


class ExternalResponseAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The stored response.")
    touch = TouchAnswerSerializer()
    created = serializers.BooleanField(help_text="False: a replay, the stored response is returned.")


CONTACT_EXAMPLE = {"identities": [{"kind": "email", "value": "ana@example.com"}]}

RESERVATION_ANSWER_EXAMPLE = {
    "decision": {
        "allowed": True,
        "reason": "",
        "rule": None,
        "next_eligible_at": None,
        "explanation": "Allowed.",
    },
    "invitation": None,
    "contact": {"id": "5b1f0c2e-8a7d-4a53-9d0e-1f2a3b4c5d6e"},
    "reservation": {
        "id": "9a7c2f4e-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
        "source_tool": "Typeform",
        "external_id": "",
        "contact": {"id": "5b1f0c2e-8a7d-4a53-9d0e-1f2a3b4c5d6e"},
        "survey_kind": "transactional",
        "channel": "email",
        "at": "2026-03-02T09:30:00Z",
        "sent_at": None,
        "status": "reserved",
        "reserved_until": "2026-03-02T10:30:00Z",
        "created": True,
    },
}


TOUCH_EXAMPLES = [
    OpenApiExample(
        "One touch",
        request_only=True,
        value={
            "contact": CONTACT_EXAMPLE,
            "survey_kind": "transactional",
            "channel": "email",
            "at": "2026-03-02T09:30:00Z",
            "source_tool": "Qualtrics",
            "external_id": "SV_4YQ-0001",
        },
    ),
    OpenApiExample(
        "Several touches",
        request_only=True,
        value={
            "touches": [
                {
                    "contact": {"id": "5b1f0c2e-8a7d-4a53-9d0e-1f2a3b4c5d6e"},
                    "survey_kind": "relationship",
                    "channel": "email",
                    "at": "2026-03-01T08:00:00Z",
                    "source_tool": "Medallia",
                    "external_id": "wave-7/1",
                },
                {
                    "contact": CONTACT_EXAMPLE,
                    "survey_kind": "relationship",
                    "channel": "sms",
                    "at": "2026-03-01T08:00:00Z",
                    "source_tool": "Medallia",
                    "external_id": "wave-7/2",
                },
            ]
        },
    ),
]


RESERVATION_EXAMPLES = [
    OpenApiExample(
        "Reserve",
        request_only=True,
        value={
            "contact": CONTACT_EXAMPLE,
            "survey_kind": "transactional",
            "channel": "email",
            "source_tool": "Typeform",
        },
    ),
    OpenApiExample("Reserved", response_only=True, status_codes=["201"], value=RESERVATION_ANSWER_EXAMPLE),
]
