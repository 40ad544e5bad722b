"""REST API v1: merging two records of one person, and undoing it (surveys/merges.py).

A CX lead previews, merges and unmerges; a department (owner or API key) proposes a merge of two of
its own contacts, and is answered only with what it already knows.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.models import ContactMerge, DuplicateSuggestion
from contacts.selectors import contact_get
from contacts.services import contact_merge_propose
from cxfeedback.exceptions import error_responses
from departments.actors import actor_for_request
from departments.api import acting_department
from surveys.merges import MergePreview, contact_merge, contact_merge_preview, contact_unmerge


class MergeInputSerializer(serializers.Serializer):
    survivor = serializers.UUIDField(help_text="The contact that stays: everything moves to it.")
    absorbed = serializers.UUIDField(
        help_text="The contact merged into the survivor; it stays as an empty record."
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="Why they are one person (to merge)."
    )


class RuleExceededSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField()
    name = serializers.CharField()
    touches = serializers.IntegerField(help_text="The most counted touches in one window, merged.")
    limit = serializers.IntegerField()
    window_days = serializers.FloatField()


class MergePreviewSerializer(serializers.Serializer):
    survivor = serializers.UUIDField(source="survivor.public_id")
    absorbed = serializers.UUIDField(source="absorbed.public_id")
    moves = serializers.DictField(
        child=serializers.IntegerField(), help_text="Rows that move, by table and field."
    )
    kept_apart = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Rows that stay with the absorbed record: the person was invited or decided twice by "
        "one request, once under each record.",
    )
    shared_departments = serializers.ListField(
        child=serializers.CharField(), help_text="Departments that knew both: their two views become one."
    )
    invitations_cancelled = serializers.IntegerField(
        help_text="Second open invitations to one survey, not yet sent, that the merge cancels."
    )
    over_rules = RuleExceededSerializer(
        many=True,
        help_text="Rules the person is over once the histories are one (nothing sent is cancelled).",
    )


class MergeSerializer(serializers.ModelSerializer):
    survivor = serializers.UUIDField(source="survivor.public_id")
    absorbed = serializers.UUIDField(source="absorbed.public_id")
    merged_by = serializers.CharField(source="merged_by.username", default=None)
    moved = serializers.SerializerMethodField(help_text="Rows moved, by table and field.")
    over_rules = RuleExceededSerializer(many=True)

    class Meta:
        model = ContactMerge
        fields = [
            "id",
            "survivor",
            "absorbed",
            "merged_by",
            "reason",
            "created_at",
            "moved",
            "over_rules",
            "unmerged_at",
        ]

    def get_moved(self, merge: ContactMerge) -> dict[str, int]:
        return {label: len(ids) for label, ids in merge.moved.items()}


class MergePreviewApi(APIView):
    @extend_schema(
        operation_id="contact_merge_preview",
        summary="Preview merging two contacts",
        description="What a merge would move, fold, cancel and which frequency rules the person would be "
        "over once their histories are one. Writes nothing. CX leads only.",
        request=MergeInputSerializer,
        responses={200: MergePreviewSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request) -> Response:
        actor = actor_for_request(request)
        survivor, absorbed = _pair(request, actor)
        preview: MergePreview = contact_merge_preview(
            actor=actor, survivor_id=survivor.pk, absorbed_id=absorbed.pk
        )
        return Response(MergePreviewSerializer(preview).data)


class MergeCollectionApi(APIView):
    @extend_schema(
        operation_id="contact_merge",
        summary="Merge two contacts",
        description="Moves the absorbed contact's identities, department views, consent, touches, decisions "
        "and answers to the survivor in one transaction under both contacts' locks, and records who, when "
        "and why. A second open invitation to one survey that was not sent yet is cancelled; nothing sent "
        "is. CX leads only.",
        request=MergeInputSerializer,
        responses={201: MergeSerializer, **error_responses(400, 401, 403, 404)},
        examples=[
            OpenApiExample(
                "Merge",
                request_only=True,
                value={
                    "survivor": "5b1f0c2e-8a7d-4a53-9d0e-1f2a3b4c5d6e",
                    "absorbed": "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f",
                    "reason": "Same person: maiden and married name, same date of birth and address.",
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        actor = actor_for_request(request)
        survivor, absorbed = _pair(request, actor)
        merge = contact_merge(
            actor=actor,
            survivor_id=survivor.pk,
            absorbed_id=absorbed.pk,
            reason=request.data.get("reason", "") or "",
        )
        return Response(MergeSerializer(merge).data, status=status.HTTP_201_CREATED)


class UnmergeApi(APIView):
    @extend_schema(
        operation_id="contact_unmerge",
        summary="Undo a merge",
        description="Gives each contact back exactly what it had before the merge; what the survivor gained "
        "since stays with it. CX leads only.",
        request=None,
        responses={200: MergeSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, merge_id: int) -> Response:
        merge = contact_unmerge(actor=actor_for_request(request), merge_id=merge_id)
        return Response(MergeSerializer(merge).data)


class MergeProposalInputSerializer(serializers.Serializer):
    contacts = serializers.ListField(
        child=serializers.UUIDField(),
        min_length=2,
        max_length=2,
        help_text="Two of your department's contacts.",
    )
    reason = serializers.CharField(max_length=2000, help_text="Why they are one person.")
    department = serializers.SlugField(
        required=False, allow_blank=True, help_text="For a user of several departments: which one proposes."
    )


class MergeProposalSerializer(serializers.Serializer):
    contacts = serializers.ListField(child=serializers.UUIDField())
    status = serializers.ChoiceField(
        choices=DuplicateSuggestion.Status.choices, help_text="open until a CX lead decides."
    )


class MergeProposalApi(APIView):
    @extend_schema(
        operation_id="contact_merge_propose",
        summary="Propose merging two of your contacts",
        description="Asks a CX lead to merge two contacts your department knows. The answer holds only "
        "what you sent and the proposal's status; a contact your department does not know is a 404, "
        "as for one that does not exist.",
        request=MergeProposalInputSerializer,
        responses={201: MergeProposalSerializer, **error_responses(400, 401, 404)},
    )
    def post(self, request: Request) -> Response:
        actor = actor_for_request(request)
        data = _valid(MergeProposalInputSerializer, request)
        department = acting_department(request, actor, data.get("department"))
        suggestion = contact_merge_propose(
            actor=actor, department=department, public_ids=data["contacts"], reason=data["reason"]
        )
        body = {"contacts": data["contacts"], "status": suggestion.status}
        return Response(MergeProposalSerializer(body).data, status=status.HTTP_201_CREATED)


def _pair(request: Request, actor):
    data = _valid(MergeInputSerializer, request)
    return contact_get(actor=actor, public_id=data["survivor"]), contact_get(
        actor=actor, public_id=data["absorbed"]
    )


def _valid(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
