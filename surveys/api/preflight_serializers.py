"""The pre-flight report in the API (surveys/gatekeeper/preflight.py's preflight_summary): totals that
add up (audience_rows = duplicates + contacts; contacts = eligible_now + planned_later + blocked_total;
the blocks sum to blocked_total), quiet-hour holds, approval and budget."""

from __future__ import annotations

from rest_framework import serializers

from surveys.api.approval_serializers import ApprovalReasonSerializer, BudgetSerializer
from surveys.models import Reason


class WeekCountSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="Monday of the week (UTC).")
    count = serializers.IntegerField()


class DayCountSerializer(serializers.Serializer):
    day = serializers.DateField(help_text="The day (UTC).")
    count = serializers.IntegerField()


class PreflightBlockSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Reason.choices)
    label = serializers.CharField()
    rule_id = serializers.IntegerField(allow_null=True)
    rule_name = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(help_text="Contacts; the blocks add up to blocked_total.")
    eligible_again = WeekCountSerializer(many=True, help_text="Time-based blocks: when they end, by week.")


class PreflightOutputSerializer(serializers.Serializer):
    planned_send_at = serializers.DateTimeField()
    best_send_at = serializers.DateTimeField(
        help_text="Earliest time inside the send window that reaches the most eligible contacts; "
        "to the full hour (rounded up) unless you are a CX lead."
    )
    audience_rows = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Audience rows naming a contact already named.")
    contacts = serializers.IntegerField(help_text="Distinct contacts: audience_rows - duplicates.")
    eligible_now = serializers.IntegerField()
    quiet_hours_held = serializers.IntegerField(
        help_text="Of eligible_now, in their quiet hours at planned_send_at: their invitation goes out when "
        "those end (quiet_hours_end_local in their own time zone), not at planned_send_at."
    )
    quiet_hours_until = serializers.DateTimeField(
        allow_null=True, help_text="When the last of those quiet hours ends; null: none held."
    )
    quiet_hours_end_local = serializers.CharField(help_text='The local time quiet hours end, e.g. "08:00".')
    planned_later = serializers.IntegerField(
        help_text="Blocked now by a frequency rule or a snooze that ends inside the send window: "
        "their invitation is planned for when it ends."
    )
    planned_by_day = DayCountSerializer(many=True, help_text="planned_later by day.")
    blocked_total = serializers.IntegerField(
        help_text="Not sent within the send window: contacts - eligible_now - planned_later."
    )
    blocks = PreflightBlockSerializer(many=True)
    needs_approval = serializers.BooleanField(
        help_text="Submitted now, the request would wait for a CX lead's approval after screening."
    )
    approval_reasons = ApprovalReasonSerializer(many=True)
    approval_threshold = serializers.IntegerField(allow_null=True, help_text="Contacts; null: none.")
    budget = BudgetSerializer(help_text="The department's monthly touch budget.")
