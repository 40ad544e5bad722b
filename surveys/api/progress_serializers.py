"""A send request's screening and delivery progress in the API (surveys/delivery/progress.py): the
request's detail (SendRequestDetailOutputSerializer, surveys/api/send_requests.py) carries the first as
`screening` (surveys/gatekeeper/screening_batches.py), the second as `progress`,
counts by state with the reasons of failed, cancelled and waiting invitations. Only the
department's own invitations are counted."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from surveys.delivery.progress import STATE_LABELS


class ProgressReasonSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=[state for state in STATE_LABELS if state != "sent"])
    reason = serializers.CharField()
    count = serializers.IntegerField()


class SendRequestProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="The request's invitations (allowed and planned contacts).")
    sent = serializers.IntegerField(help_text="Handed to the channel (answered, opened, expired included).")
    sending = serializers.IntegerField(help_text="Being sent right now.")
    queued = serializers.IntegerField(help_text="Due now, waiting for a sender (or retrying).")
    held = serializers.IntegerField(help_text="Held for the contact's local quiet hours.")
    planned = serializers.IntegerField(help_text="Planned for later in the send window.")
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    answered = serializers.IntegerField(help_text="Of the sent, answered.")
    finished = serializers.IntegerField(help_text="sent + failed + cancelled.")
    percent = serializers.IntegerField(
        help_text="finished of total, rounded down: 100 once nothing is pending."
    )
    held_until = serializers.DateTimeField(
        allow_null=True, help_text="When the last quiet-hour hold ends (null: none held)."
    )
    reasons = ProgressReasonSerializer(
        many=True, help_text="Why, for failed, cancelled, held and queued ones."
    )


class ScreeningProgressSerializer(serializers.Serializer):
    rows_done = serializers.IntegerField(help_text="Audience contacts decided so far (committed).")
    rows_total = serializers.IntegerField(
        allow_null=True, help_text="The audience's contacts when its screening began; null until then."
    )
    percent = serializers.IntegerField(
        help_text="rows_done of rows_total, rounded down; 100 only once the request is screened."
    )
    running = serializers.BooleanField(help_text="The request is still being screened (it is submitted).")
    updated_at = serializers.DateTimeField(
        allow_null=True, help_text="When the last batch of contacts was committed."
    )


PROGRESS_EXAMPLE = OpenApiExample(
    "Being sent",
    response_only=True,
    value={
        "id": "5b0f4c9e-2f6a-4a53-9d3e-1c1f1b9d2a70",
        "department": "support",
        "survey": 12,
        "survey_name": "After your support call",
        "survey_version": 2,
        "channel": "email",
        "audience_kind": "filter",
        "audience_filter": {"tier": "gold"},
        "earliest_send_at": "2026-03-02T09:00:00Z",
        "latest_send_at": None,
        "priority": 5,
        "purpose": "Q1 support follow-up",
        "status": "sending",
        "screening_summary": {"audience_rows": 120, "contacts": 118, "allowed": 100, "planned": 2},
        "approval": None,
        "created_at": "2026-03-01T15:12:00Z",
        "submitted_at": "2026-03-01T15:13:00Z",
        "screened_at": "2026-03-01T15:13:02Z",
        "cancelled_at": None,
        "screening": {
            "rows_done": 118,
            "rows_total": 118,
            "percent": 100,
            "running": False,
            "updated_at": "2026-03-01T15:13:02Z",
        },
        "progress": {
            "total": 102,
            "sent": 80,
            "sending": 5,
            "queued": 3,
            "held": 10,
            "planned": 2,
            "failed": 1,
            "cancelled": 1,
            "answered": 12,
            "finished": 82,
            "percent": 80,
            "held_until": "2026-03-02T07:00:00Z",
            "reasons": [
                {"state": "failed", "reason": "smtp: 550 mailbox unavailable", "count": 1},
                {"state": "cancelled", "reason": "opted_out: re-checked before sending", "count": 1},
                {"state": "held", "reason": "Sent from 08:00 in the contact's own time zone.", "count": 10},
                {
                    "state": "queued",
                    "reason": "Due now: waiting for a sender (it goes out within a minute or so).",
                    "count": 3,
                },
            ],
        },
    },
)
