"""GET /api/v1/calendar: the send calendar (surveys/gatekeeper/calendar.py) for integrations, with the
admin page's range and scoping: an API key or a department owner sees its own departments' requests
and the other departments as two numbers a day; a CX lead sees every department."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxfeedback.exceptions import error_responses
from departments.actors import actor_for_request
from surveys.gatekeeper.calendar import (
    DAYS_BACK,
    DEFAULT_DAYS,
    MAX_DAYS,
    CalendarRangeForm,
    send_calendar,
)

CALENDAR_PARAMETERS = [
    OpenApiParameter(
        "start", OpenApiTypes.DATE, description=f"The first day (default: {DAYS_BACK} days before today)."
    ),
    OpenApiParameter(
        "days", OpenApiTypes.INT, description=f"How many days, 1 to {MAX_DAYS} (default: {DEFAULT_DAYS})."
    ),
]


class CalendarRequestSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    department = serializers.CharField(source="department_slug", help_text="The department's slug.")
    survey_name = serializers.CharField()
    # Plain text in the schema: another "status" enum would need a naming override in settings.
    status = serializers.CharField(help_text="submitted, screened, sending or completed.")
    earliest_send_at = serializers.DateTimeField()
    latest_send_at = serializers.DateTimeField(allow_null=True, help_text="Null: no deadline.")


class DepartmentDaySerializer(serializers.Serializer):
    department = serializers.CharField(source="slug", help_text="The department's slug.")
    name = serializers.CharField()
    sent = serializers.IntegerField(help_text="Invitations that went out that day.")
    planned = serializers.IntegerField(help_text="Invitations reserved for that day, not sent yet.")
    send_requests = CalendarRequestSerializer(many=True, help_text="Requests whose window includes the day.")


class OtherDepartmentsDaySerializer(serializers.Serializer):
    sent = serializers.IntegerField()
    planned = serializers.IntegerField()


class CalendarDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    departments = DepartmentDaySerializer(
        many=True, help_text="A CX lead: every department with something that day; anyone else: their own."
    )
    other_departments = OtherDepartmentsDaySerializer(
        allow_null=True, help_text="Every other department together, as two numbers. Null for a CX lead."
    )


class RequestOverlapSerializer(serializers.Serializer):
    send_request = CalendarRequestSerializer()
    audience = serializers.IntegerField(help_text="Contacts it decided (allowed or blocked) or invited.")
    other_departments = serializers.IntegerField(
        help_text="Of them, contacts a request of another department in these days targets too."
    )


class RequestPairSerializer(serializers.Serializer):
    first = CalendarRequestSerializer()
    second = CalendarRequestSerializer()
    contacts = serializers.IntegerField(help_text="Contacts both requests target.")


class SendCalendarSerializer(serializers.Serializer):
    start = serializers.DateField(source="calendar_range.start")
    end = serializers.DateField(source="calendar_range.end", help_text="The last day, included.")
    days = CalendarDaySerializer(many=True)
    audiences = RequestOverlapSerializer(
        many=True, source="overlaps", help_text="Each request you may see that is open in these days."
    )
    pairs = RequestPairSerializer(
        many=True,
        help_text="Two requests you may see (both of your departments, unless a CX lead) "
        "that target the same contacts, most shared first.",
    )


class SendCalendarApi(APIView):
    @extend_schema(
        operation_id="send_calendar",
        summary="Send calendar: sends per day and department, and contacts requests compete for",
        description=f"Per day: invitations sent and planned and the send requests whose window is open, "
        f"per department; at most {MAX_DAYS} days. Days are the server's time zone's. Triggers count in "
        "the numbers but are not listed as requests. Other departments' requests, surveys and names are "
        "never shown to a department: they are one anonymous row a day.",
        parameters=CALENDAR_PARAMETERS,
        responses={200: SendCalendarSerializer, **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        actor = actor_for_request(request)
        form = CalendarRangeForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({name: list(errors) for name, errors in form.errors.items()})
        calendar = send_calendar(actor=actor, calendar_range=form.calendar_range(today=timezone.localdate()))
        return Response(SendCalendarSerializer(calendar).data)
