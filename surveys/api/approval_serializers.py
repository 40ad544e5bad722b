"""The API's shapes for a CX lead's controls (issue 15): a held request's approval, and the approval
and budget figures of a pre-flight report. Used by surveys/api/send_requests.py and approvals.py."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from surveys.models import APPROVAL_COMMENT_MAX_LENGTH, Approval


class ApprovalReasonSerializer(serializers.Serializer):
    # Not a ChoiceField: its enum would take the name of the decisions' "reason" enum in the schema.
    reason = serializers.CharField(
        help_text="; ".join(f"{value}: {label}" for value, label in Approval.Reason.choices)
    )
    label = serializers.CharField()


class ApprovalOutputSerializer(serializers.ModelSerializer):
    reasons = serializers.SerializerMethodField()
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, default=None)

    class Meta:
        model = Approval
        fields = [
            "state",
            "reasons",
            "audience",
            "threshold",
            "budget",
            "budget_used",
            "budget_month",
            "requested_at",
            "decided_by",
            "decided_at",
            "comment",
        ]
        read_only_fields = fields

    @extend_schema_field(ApprovalReasonSerializer(many=True))
    def get_reasons(self, approval: Approval) -> list[dict]:
        return ApprovalReasonSerializer(
            [{"reason": reason, "label": Approval.Reason(reason).label} for reason in approval.reasons],
            many=True,
        ).data


class BudgetSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="First day of the month the request starts in.")
    monthly = serializers.IntegerField(allow_null=True, help_text="Counted touches a month; null: no budget.")
    used = serializers.IntegerField(allow_null=True, help_text="The department's counted touches that month.")
    left = serializers.IntegerField(allow_null=True)
    left_after = serializers.IntegerField(
        allow_null=True, help_text="Left once this request's touches count."
    )


class ApprovalDecisionInputSerializer(serializers.Serializer):
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=APPROVAL_COMMENT_MAX_LENGTH,
        help_text="For the request's owner, who is emailed it. Required to reject.",
    )
