"""Shapes of the surveys API: input serializers check types only, the services check the rules."""

from rest_framework import serializers

from contacts.models import Channel
from surveys.models import (
    Decision,
    FrequencyRule,
    FrequencyRuleVersion,
    Question,
    QuestionKind,
    Reason,
    RuleClock,
    SendRequest,
    Survey,
    SurveyKind,
)
from surveys.services.send_requests import REQUESTABLE_AUDIENCES
from surveys.services.surveys import SURVEY_TEMPLATES

DEPARTMENT_HELP = (
    "Slug of the department acting. Required for signed-in users; an API key always acts for its own "
    "department."
)
DURATION_HELP = "ISO 8601 duration, such as P30D (30 days) or PT12H (12 hours)."


# Surveys


class QuestionSerializer(serializers.ModelSerializer):
    """A question, in and out. Which fields a kind takes is checked by the service (400 naming it)."""

    kind = serializers.ChoiceField(choices=QuestionKind.choices)
    text = serializers.CharField(max_length=500)
    help_text = serializers.CharField(max_length=500, required=False, allow_blank=True)
    required = serializers.BooleanField(required=False, default=True)
    scale_min = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Rating questions only; NPS, CSAT and CES have fixed scales.",
    )
    scale_max = serializers.IntegerField(required=False, allow_null=True, help_text="Rating questions only.")
    choices = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        help_text="Single and multiple choice questions only: at least two distinct options.",
    )

    class Meta:
        model = Question
        fields = ["position", "kind", "text", "help_text", "required", "scale_min", "scale_max", "choices"]
        read_only_fields = ["position"]


class SurveyOutputSerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    kind = serializers.ChoiceField(choices=SurveyKind.choices, read_only=True)
    questions = QuestionSerializer(many=True, read_only=True)

    class Meta:
        model = Survey
        fields = [
            "id",
            "department",
            "name",
            "kind",
            "family_id",
            "version",
            "is_current",
            "frozen_at",
            "intro",
            "link_valid_days",
            "questions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SurveyCreateInputSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=SurveyKind.choices, default=SurveyKind.TRANSACTIONAL)
    intro = serializers.CharField(required=False, allow_blank=True, default="")
    link_valid_days = serializers.IntegerField(required=False, default=14)
    questions = QuestionSerializer(many=True, allow_empty=False, help_text="In the order they are asked.")


class SurveyUpdateInputSerializer(serializers.Serializer):
    """Every field optional; `questions`, if given, replaces the whole list."""

    name = serializers.CharField(max_length=200, required=False)
    kind = serializers.ChoiceField(choices=SurveyKind.choices, required=False)
    intro = serializers.CharField(required=False, allow_blank=True)
    link_valid_days = serializers.IntegerField(required=False)
    questions = QuestionSerializer(many=True, required=False, allow_empty=False)


class SurveyFromTemplateInputSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)
    template = serializers.ChoiceField(choices=list(SURVEY_TEMPLATES))
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SurveyListFilterSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False)
    kind = serializers.ChoiceField(choices=SurveyKind.choices, required=False)
    all_versions = serializers.BooleanField(required=False, default=False)


# Frequency rules


class FrequencyRuleVersionSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Empty: no user (since deleted, or a command).",
    )
    snapshot = serializers.DictField(
        read_only=True, help_text="The rule as this version read; durations in seconds."
    )

    class Meta:
        model = FrequencyRuleVersion
        fields = ["version", "snapshot", "changed_by", "created_at"]
        read_only_fields = fields


class FrequencyRuleOutputSerializer(serializers.ModelSerializer):
    window = serializers.DurationField(format="iso-8601", read_only=True, help_text=DURATION_HELP)
    new_contact_grace = serializers.DurationField(format="iso-8601", read_only=True, allow_null=True)
    scope_department = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="Empty: every department."
    )
    # Declared: DRF drops allow_blank from a read-only model field, and the schema then said "" (any
    # kind, any channel) could not be answered.
    scope_survey_kind = serializers.ChoiceField(
        choices=SurveyKind.choices, allow_blank=True, read_only=True, help_text="Empty: any kind."
    )
    scope_channel = serializers.ChoiceField(
        choices=Channel.choices, allow_blank=True, read_only=True, help_text="Empty: any channel."
    )

    class Meta:
        model = FrequencyRule
        fields = [
            "id",
            "name",
            "is_active",
            "max_touches",
            "window",
            "scope_department",
            "scope_survey_kind",
            "scope_channel",
            "clock",
            "new_contact_grace",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class FrequencyRuleDetailSerializer(FrequencyRuleOutputSerializer):
    versions = FrequencyRuleVersionSerializer(many=True, read_only=True)

    class Meta(FrequencyRuleOutputSerializer.Meta):
        fields = [*FrequencyRuleOutputSerializer.Meta.fields, "versions"]
        read_only_fields = fields


class FrequencyRuleInputSerializer(serializers.Serializer):
    """For create every field without a default is required; for update (PATCH) all are optional."""

    name = serializers.CharField(max_length=200)
    is_active = serializers.BooleanField(default=True)
    max_touches = serializers.IntegerField(help_text="Counted touches allowed per contact in the window.")
    window = serializers.DurationField(help_text=DURATION_HELP)
    scope_department = serializers.SlugField(
        required=False, allow_null=True, default=None, help_text="Slug; empty: every department."
    )
    scope_survey_kind = serializers.ChoiceField(
        choices=SurveyKind.choices, required=False, allow_blank=True, default="", help_text="Empty: any kind."
    )
    scope_channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, allow_blank=True, default="", help_text="Empty: any channel."
    )
    clock = serializers.ChoiceField(choices=RuleClock.choices, default=RuleClock.INVITATION)
    new_contact_grace = serializers.DurationField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Contacts known for less are not surveyed yet.",
    )


# Send requests


class SendRequestOutputSerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    survey_name = serializers.CharField(source="survey.name", read_only=True)
    survey_version = serializers.IntegerField(source="survey.version", read_only=True)
    audience_filter = serializers.DictField(read_only=True)
    screening_summary = serializers.DictField(
        read_only=True,
        help_text="After screening: audience rows, contacts, allowed, blocked per reason and rule.",
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
            "created_at",
            "submitted_at",
            "screened_at",
            "cancelled_at",
        ]
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
    purpose = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class SendRequestListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SendRequest.Status.choices, required=False)
    department = serializers.SlugField(required=False)
    survey = serializers.IntegerField(required=False)


class AudienceUploadInputSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A contacts CSV, as the contact import takes it.")


class ImportIssueSerializer(serializers.Serializer):
    row_number = serializers.IntegerField()
    kind = serializers.CharField()
    column = serializers.CharField()
    reason = serializers.CharField()


class ImportSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="contact_import.pk")
    counts = serializers.DictField(child=serializers.IntegerField())
    issue_count = serializers.IntegerField()
    issues = ImportIssueSerializer(many=True, help_text="The first issues, in row order.")


class AudienceUploadOutputSerializer(serializers.Serializer):
    send_request = SendRequestOutputSerializer()
    members = serializers.IntegerField(help_text="Audience rows: imported rows that name a contact.")
    contact_import = ImportSummarySerializer(help_text="Rows left out (invalid, conflicts) are listed here.")


class WeekCountSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="Monday of the week (UTC).")
    count = serializers.IntegerField()


class PreflightBlockSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Reason.choices)
    label = serializers.CharField()
    rule_id = serializers.IntegerField(allow_null=True)
    rule_name = serializers.CharField(allow_null=True)
    count = serializers.IntegerField(help_text="Contacts (audience rows for duplicate_in_audience).")
    eligible_again = WeekCountSerializer(many=True, help_text="Time-based blocks: when they end, by week.")


class PreflightOutputSerializer(serializers.Serializer):
    planned_send_at = serializers.DateTimeField()
    best_send_at = serializers.DateTimeField(
        help_text="Earliest time inside the send window that reaches the most eligible contacts."
    )
    audience_rows = serializers.IntegerField()
    contacts = serializers.IntegerField(help_text="Distinct contacts in the audience.")
    eligible_now = serializers.IntegerField()
    blocked_total = serializers.IntegerField()
    blocks = PreflightBlockSerializer(many=True)


class DecisionOutputSerializer(serializers.ModelSerializer):
    contact = serializers.IntegerField(source="contact_id", read_only=True)
    # Declared, as FrequencyRuleOutputSerializer's scopes are: an allowed decision has no reason ("").
    reason = serializers.ChoiceField(
        choices=Reason.choices, allow_blank=True, read_only=True, help_text="Empty if allowed."
    )
    rule = serializers.IntegerField(source="rule_id", read_only=True, allow_null=True)
    rule_name = serializers.CharField(source="rule.name", read_only=True, allow_null=True, default=None)
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
