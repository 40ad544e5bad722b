"""/rule-drafts and /rule-simulations: CX leads save rule changes as drafts, simulate them on the last
days' decisions, then publish or discard them (surveys/gatekeeper/rule_drafts.py, simulations.py).
Departments get 403 on the lists and 404 on every draft or simulation (they name departments and
surveys of all of them)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from cxfeedback.api import paginated
from cxfeedback.exceptions import NotFound, error_responses
from cxfeedback.parsers import JSONParser
from departments.actors import Actor, actor_for_request
from surveys.api.frequency_rules import FrequencyRuleInputSerializer, _rule_fields
from surveys.api.inputs import DURATION_HELP, valid_input
from surveys.errors import InvalidFrequencyRule
from surveys.gatekeeper.frequency_rules import frequency_rule_get
from surveys.gatekeeper.rule_drafts import (
    DRAFT_RULE_FIELDS,
    draft_compare,
    draft_rule_add,
    draft_rule_copy,
    draft_rule_update,
    require_cx_lead,
    rule_draft_create,
    rule_draft_discard,
    rule_draft_get,
    rule_draft_list,
    rule_draft_publish,
    value_in_words,
)
from surveys.gatekeeper.simulations import DEFAULT_DAYS, rule_simulation_get, rule_simulation_start
from surveys.models import DraftRule, RuleDraft, RuleSimulation


class DraftRuleSerializer(serializers.ModelSerializer):
    window = serializers.DurationField(format="iso-8601", read_only=True, help_text=DURATION_HELP)
    new_contact_grace = serializers.DurationField(format="iso-8601", read_only=True, allow_null=True)
    scope_department = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    rule = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="The live rule it changes; empty: a new rule."
    )

    class Meta:
        model = DraftRule
        fields = ["id", "rule", "base_version", *DRAFT_RULE_FIELDS]
        read_only_fields = fields


class RuleSimulationSerializer(serializers.ModelSerializer):
    draft = serializers.PrimaryKeyRelatedField(read_only=True)
    percent = serializers.IntegerField(read_only=True)
    report = serializers.DictField(
        read_only=True, help_text="Once done: per department and survey, what the draft would change."
    )

    class Meta:
        model = RuleSimulation
        fields = [
            *("id", "draft", "days", "period_start", "period_end", "state", "done", "total", "percent"),
            *("error", "report", "created_at", "started_at", "finished_at"),
        ]
        read_only_fields = fields


class RuleDraftSerializer(serializers.ModelSerializer):
    class Meta:
        model = RuleDraft
        fields = ["id", "name", "status", "created_at", "closed_at"]
        read_only_fields = fields


class RuleDraftDetailSerializer(RuleDraftSerializer):
    rules = DraftRuleSerializer(many=True, read_only=True)
    changes = serializers.SerializerMethodField(help_text="Per rule of the draft, what it changes, in words.")
    simulations = RuleSimulationSerializer(many=True, read_only=True)

    class Meta(RuleDraftSerializer.Meta):
        fields = [*RuleDraftSerializer.Meta.fields, "rules", "changes", "simulations"]
        read_only_fields = fields

    def get_changes(self, draft: RuleDraft) -> list[dict]:
        return [
            {
                "draft_rule": draft_rule.pk,
                "rule": draft_rule.rule_id,
                "changes": [
                    {
                        "field": change.field,
                        "live": value_in_words(change.live) if draft_rule.rule_id else None,
                        "draft": value_in_words(change.draft),
                    }
                    for change in changes
                ],
            }
            for draft_rule, changes in draft_compare(draft)
        ]


class RuleDraftInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, allow_blank=True)
    copy_of = serializers.IntegerField(required=False, help_text="Id of a live rule to start from.")


class DraftRuleCopySerializer(serializers.Serializer):
    copy_of = serializers.IntegerField(help_text="Id of a live rule to change or switch off in the draft.")


class SimulationInputSerializer(serializers.Serializer):
    days = serializers.IntegerField(default=DEFAULT_DAYS, help_text="Days of decisions to replay.")


def _draft_fields(actor: Actor, request: Request, data: dict) -> dict:
    """The rule's fields a draft carries. A rule field it does not carry yet (one counting minutes
    or per account) is refused if the caller set it, rather than dropped without a word."""
    carried = {name: value for name, value in data.items() if name in DRAFT_RULE_FIELDS}
    for name in sorted(set(data) - set(carried)):
        if name in request.data:
            raise InvalidFrequencyRule(
                f"{name}: a draft does not carry it yet; change it on the rule itself.", extra={"field": name}
            )
    return _rule_fields(actor, carried)


def _detail(actor: Actor, draft_id: int) -> dict:
    return RuleDraftDetailSerializer(rule_draft_get(actor=actor, draft_id=draft_id)).data


class RuleDraftCollectionApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="rule_draft_list",
        summary="List rule drafts (CX leads)",
        responses={200: RuleDraftSerializer(many=True), **error_responses(401, 403)},
    )
    def get(self, request: Request) -> Response:
        drafts = rule_draft_list(actor=actor_for_request(request))
        return paginated(self, request, drafts, RuleDraftSerializer)

    @extend_schema(
        operation_id="rule_draft_create",
        summary="Start a rule draft (CX leads)",
        description="Nothing live changes until the draft is published.",
        request=RuleDraftInputSerializer,
        responses={201: RuleDraftDetailSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request) -> Response:
        actor = actor_for_request(request)
        data = valid_input(RuleDraftInputSerializer, request.data)
        require_cx_lead(actor)  # before the rule is looked up
        copy_of = frequency_rule_get(rule_id=data["copy_of"]) if "copy_of" in data else None
        draft = rule_draft_create(actor=actor, name=data["name"], copy_of=copy_of)
        return Response(_detail(actor, draft.pk), status=status.HTTP_201_CREATED)


class RuleDraftDetailApi(APIView):
    @extend_schema(
        operation_id="rule_draft_get",
        summary="Read a rule draft: its rules, what they change, its simulations (CX leads)",
        responses={200: RuleDraftDetailSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, draft_id: int) -> Response:
        return Response(_detail(actor_for_request(request), draft_id))


class DraftRuleCollectionApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="draft_rule_add",
        summary="Add a rule to a draft: a copy of a live rule, or a new one (CX leads)",
        request=FrequencyRuleInputSerializer,
        responses={201: DraftRuleSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, draft_id: int) -> Response:
        actor = actor_for_request(request)
        draft = rule_draft_get(actor=actor, draft_id=draft_id)
        if "copy_of" in request.data:
            data = valid_input(DraftRuleCopySerializer, request.data)
            rule = frequency_rule_get(rule_id=data["copy_of"])
            draft_rule = draft_rule_copy(actor=actor, draft=draft, rule=rule)
        else:
            data = valid_input(FrequencyRuleInputSerializer, request.data)
            draft_rule = draft_rule_add(actor=actor, draft=draft, **_draft_fields(actor, request, data))
        return Response(DraftRuleSerializer(draft_rule).data, status=status.HTTP_201_CREATED)


class DraftRuleItemApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="draft_rule_update",
        summary="Change a rule of a draft (CX leads; nothing live changes)",
        request=FrequencyRuleInputSerializer(partial=True),
        responses={200: DraftRuleSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def patch(self, request: Request, draft_id: int, draft_rule_id: int) -> Response:
        actor = actor_for_request(request)
        draft = rule_draft_get(actor=actor, draft_id=draft_id)
        draft_rule = draft.rules.filter(pk=draft_rule_id).first()
        if draft_rule is None:
            raise NotFound(f"Rule {draft_rule_id} of draft {draft_id} not found.")
        data = valid_input(FrequencyRuleInputSerializer, request.data, partial=True)
        changes = _draft_fields(actor, request, data)
        draft_rule = draft_rule_update(actor=actor, draft_rule=draft_rule, **changes)
        return Response(DraftRuleSerializer(draft_rule).data)


class RuleDraftPublishApi(APIView):
    @extend_schema(
        operation_id="rule_draft_publish",
        summary="Publish a rule draft: each rule's next version goes live (CX leads)",
        request=None,
        responses={200: RuleDraftDetailSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, draft_id: int) -> Response:
        actor = actor_for_request(request)
        rule_draft_publish(actor=actor, draft=rule_draft_get(actor=actor, draft_id=draft_id))
        return Response(_detail(actor, draft_id))


class RuleDraftDiscardApi(APIView):
    @extend_schema(
        operation_id="rule_draft_discard",
        summary="Throw a rule draft away (CX leads)",
        request=None,
        responses={200: RuleDraftDetailSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, draft_id: int) -> Response:
        actor = actor_for_request(request)
        rule_draft_discard(actor=actor, draft=rule_draft_get(actor=actor, draft_id=draft_id))
        return Response(_detail(actor, draft_id))


class RuleSimulationStartApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="rule_simulation_start",
        summary="Simulate a draft on the last days' decisions, in the background (CX leads)",
        description="Poll GET /rule-simulations/{id} for its progress and, once done, its report.",
        request=SimulationInputSerializer,
        responses={202: RuleSimulationSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, draft_id: int) -> Response:
        actor = actor_for_request(request)
        draft = rule_draft_get(actor=actor, draft_id=draft_id)
        data = valid_input(SimulationInputSerializer, request.data)
        simulation = rule_simulation_start(actor=actor, draft=draft, days=data["days"])
        return Response(RuleSimulationSerializer(simulation).data, status=status.HTTP_202_ACCEPTED)


class RuleSimulationDetailApi(APIView):
    @extend_schema(
        operation_id="rule_simulation_get",
        summary="A simulation's state, progress and report (CX leads)",
        responses={200: RuleSimulationSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, simulation_id: int) -> Response:
        simulation = rule_simulation_get(actor=actor_for_request(request), simulation_id=simulation_id)
        return Response(RuleSimulationSerializer(simulation).data)
