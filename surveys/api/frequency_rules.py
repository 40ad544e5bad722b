"""/frequency-rules: every one may read the rules; only CX leads create, change or deactivate them
(surveys/gatekeeper/frequency_rules.py checks that, and keeps every version)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from contacts.models import Channel
from cxfeedback.api import paginated
from cxfeedback.exceptions import error_responses
from cxfeedback.idempotency import HEADER_PARAMETER, idempotent
from cxfeedback.parsers import JSONParser
from departments.actors import Actor, actor_for_request
from departments.selectors import department_get
from surveys.api.inputs import DURATION_HELP, valid_input
from surveys.gatekeeper.frequency_rules import (
    frequency_rule_create,
    frequency_rule_deactivate,
    frequency_rule_get,
    frequency_rule_list,
    frequency_rule_update,
)
from surveys.gatekeeper.rule_history import versions_described
from surveys.models import (
    RULE_EDITABLE_FIELDS,
    FrequencyRule,
    FrequencyRuleVersion,
    RuleClock,
    RuleCounts,
    SurveyKind,
)


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
    name = serializers.CharField(
        source="name_then", read_only=True, help_text="The rule's name as this version had it."
    )
    changes = serializers.ListField(
        source="changes_in_words",
        child=serializers.CharField(),
        read_only=True,
        help_text="What changed from the version before, in words, such as “window 30 → 45 days”; "
        "the first version's: what was created.",
    )

    class Meta:
        model = FrequencyRuleVersion
        fields = ["version", "name", "changes", "snapshot", "changed_by", "created_at"]
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
            *RULE_EDITABLE_FIELDS,
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class FrequencyRuleDetailSerializer(FrequencyRuleOutputSerializer):
    versions = serializers.SerializerMethodField(help_text="Newest first.")

    @extend_schema_field(FrequencyRuleVersionSerializer(many=True))
    def get_versions(self, rule: FrequencyRule) -> list:
        described = versions_described(rule.versions.all())
        for row in described:
            row.version.name_then, row.version.changes_in_words = row.name, row.changes
        return FrequencyRuleVersionSerializer([row.version for row in described], many=True).data

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
    per_account = serializers.BooleanField(
        default=False,
        help_text="Count the touches of every contact of one account (company, household) together.",
    )
    counts = serializers.ChoiceField(
        choices=RuleCounts.choices,
        default=RuleCounts.TOUCHES,
        help_text="weight: max_touches is the most minutes of surveys in the window (each survey's burden).",
    )


class FrequencyRuleListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="frequency_rule_list",
        summary="List frequency rules",
        description="Every rule; readable by every department, written only by CX leads.",
        parameters=[
            OpenApiParameter("active", OpenApiTypes.BOOL, description="Only active (or inactive) rules.")
        ],
        responses={200: FrequencyRuleOutputSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request: Request) -> Response:
        active = request.query_params.get("active")
        if active not in (None, "true", "false"):
            raise ValidationError({"active": ["Use true or false."]})
        rules = frequency_rule_list(active=None if active is None else active == "true")
        return paginated(self, request, rules, FrequencyRuleOutputSerializer)


def _rule_fields(actor: Actor, data: dict) -> dict:
    """The input with scope_department as a Department (slug resolved)."""
    fields = dict(data)
    if "scope_department" in fields:
        slug = fields["scope_department"]
        fields["scope_department"] = department_get(actor=actor, slug=slug) if slug else None
    return fields


class FrequencyRuleCreateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="frequency_rule_create",
        summary="Create a frequency rule (CX leads)",
        request=FrequencyRuleInputSerializer,
        parameters=[HEADER_PARAMETER],
        responses={201: FrequencyRuleDetailSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @idempotent
    def post(self, request: Request) -> Response:
        actor = actor_for_request(request)
        data = valid_input(FrequencyRuleInputSerializer, request.data)
        rule = frequency_rule_create(actor=actor, **_rule_fields(actor, data))
        return Response(
            FrequencyRuleDetailSerializer(frequency_rule_get(rule_id=rule.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class FrequencyRuleCollectionApi(FrequencyRuleListApi, FrequencyRuleCreateApi):
    """/frequency-rules: GET is FrequencyRuleListApi, POST is FrequencyRuleCreateApi."""


class FrequencyRuleDetailApi(APIView):
    @extend_schema(
        operation_id="frequency_rule_get",
        summary="Read a frequency rule and its versions",
        responses={200: FrequencyRuleDetailSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, rule_id: int) -> Response:
        return Response(FrequencyRuleDetailSerializer(frequency_rule_get(rule_id=rule_id)).data)


class FrequencyRuleUpdateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="frequency_rule_update",
        summary="Change a frequency rule (CX leads)",
        description="Every real change raises the rule's version and keeps a snapshot of it.",
        request=FrequencyRuleInputSerializer(partial=True),
        responses={200: FrequencyRuleDetailSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, rule_id: int) -> Response:
        actor = actor_for_request(request)
        rule = frequency_rule_get(rule_id=rule_id)
        data = valid_input(FrequencyRuleInputSerializer, request.data, partial=True)
        frequency_rule_update(actor=actor, rule=rule, **_rule_fields(actor, data))
        return Response(FrequencyRuleDetailSerializer(frequency_rule_get(rule_id=rule_id)).data)


class FrequencyRuleItemApi(FrequencyRuleDetailApi, FrequencyRuleUpdateApi):
    """/frequency-rules/{id}: GET is FrequencyRuleDetailApi, PATCH is FrequencyRuleUpdateApi."""


class FrequencyRuleDeactivateApi(APIView):
    @extend_schema(
        operation_id="frequency_rule_deactivate",
        summary="Stop applying a frequency rule (CX leads)",
        request=None,
        responses={200: FrequencyRuleDetailSerializer, **error_responses(401, 403, 404)},
    )
    def post(self, request: Request, rule_id: int) -> Response:
        rule = frequency_rule_get(rule_id=rule_id)
        frequency_rule_deactivate(actor=actor_for_request(request), rule=rule)
        return Response(FrequencyRuleDetailSerializer(frequency_rule_get(rule_id=rule_id)).data)
