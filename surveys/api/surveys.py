"""/surveys: list, create, read and edit surveys (a sent survey's edit makes its next version), and
create one from a built-in template. Thin: serializers check shapes, surveys/design/surveys.py the rules."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from cxfeedback.api import paginated
from cxfeedback.exceptions import error_responses
from cxfeedback.idempotency import HEADER_PARAMETER, idempotent
from cxfeedback.parsers import JSONParser
from departments.actors import actor_for_request
from departments.api import acting_department
from surveys.api.inputs import DEPARTMENT_HELP, department_id_of, valid_input
from surveys.design.selectors import survey_get, survey_list
from surveys.design.surveys import SURVEY_TEMPLATES, survey_create, survey_create_from_template, survey_update
from surveys.models import (
    Question,
    QuestionKind,
    Survey,
    SurveyKind,
    SurveyTranslation,
)


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


class QuestionTranslationSerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="Empty: the survey's own."
    )
    help_text = serializers.CharField(max_length=500, required=False, allow_blank=True)
    choices = serializers.ListField(
        child=serializers.CharField(max_length=200, allow_blank=True),
        required=False,
        help_text="Labels of the question's choices, in their order; answers keep the survey's own choice.",
    )


class SurveyTranslationSerializer(serializers.ModelSerializer):
    """The survey in one more language; any text left empty is the survey's own (or, for the e-mail,
    the standard one in that language). Contacts whose locale is the language, or a regional form
    of it (de-AT for de), get it."""

    questions = QuestionTranslationSerializer(
        many=True, required=False, help_text="One entry per question, in the questions' order; fewer is fine."
    )

    class Meta:
        model = SurveyTranslation
        fields = ["language", "name", "intro", "email_subject", "email_body", "questions"]


TRANSLATIONS_HELP = "Replaces every translation of the survey; each language at most once, not `language`."
TRANSLATION_EXAMPLE = {
    "language": "de",
    "name": "Nach Ihrem Anruf",
    "intro": "Zwei kurze Fragen.",
    "email_subject": "Wie war Ihr Anruf bei uns?",
    "email_body": "",
    "questions": [
        {"text": "Wie wahrscheinlich ist es, dass Sie uns weiterempfehlen?", "help_text": "", "choices": []}
    ],
}
SURVEY_EXAMPLE = {
    "department": "support",
    "name": "After your call",
    "language": "en",
    "intro": "Two short questions.",
    "questions": [{"kind": "nps", "text": "How likely are you to recommend us to a friend or colleague?"}],
    "translations": [TRANSLATION_EXAMPLE],
}


BURDEN_HELP = (
    "Minutes the survey takes, as frequency rules counting burden count it; empty: estimated from "
    "its questions (four a minute), shown as burden_minutes."
)


class SurveyOutputSerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    burden_minutes = serializers.IntegerField(read_only=True, help_text="burden_weight, or the estimate.")
    kind = serializers.ChoiceField(choices=SurveyKind.choices, read_only=True)
    questions = QuestionSerializer(many=True, read_only=True)
    translations = SurveyTranslationSerializer(many=True, read_only=True)

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
            "language",
            "intro",
            "link_valid_days",
            "burden_weight",
            "burden_minutes",
            "questions",
            "translations",
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
    burden_weight = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text=BURDEN_HELP
    )
    questions = QuestionSerializer(many=True, allow_empty=False, help_text="In the order they are asked.")
    language = serializers.CharField(
        max_length=10, default="en", help_text='The language of its texts, e.g. "en".'
    )
    translations = SurveyTranslationSerializer(
        many=True, required=False, default=list, help_text=TRANSLATIONS_HELP
    )


class SurveyUpdateInputSerializer(serializers.Serializer):
    """Every field optional; `questions`, if given, replaces the whole list."""

    name = serializers.CharField(max_length=200, required=False)
    kind = serializers.ChoiceField(choices=SurveyKind.choices, required=False)
    intro = serializers.CharField(required=False, allow_blank=True)
    link_valid_days = serializers.IntegerField(required=False)
    burden_weight = serializers.IntegerField(required=False, help_text=BURDEN_HELP)
    questions = QuestionSerializer(many=True, required=False, allow_empty=False)
    language = serializers.CharField(max_length=10, required=False)
    translations = SurveyTranslationSerializer(many=True, required=False, help_text=TRANSLATIONS_HELP)


class SurveyFromTemplateInputSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False, help_text=DEPARTMENT_HELP)
    template = serializers.ChoiceField(choices=list(SURVEY_TEMPLATES))
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class SurveyListFilterSerializer(serializers.Serializer):
    department = serializers.SlugField(required=False)
    kind = serializers.ChoiceField(choices=SurveyKind.choices, required=False)
    all_versions = serializers.BooleanField(required=False, default=False)


class SurveyListApi(APIView):
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(
        operation_id="survey_list",
        summary="List surveys",
        description="The caller's departments' surveys (a CX lead: all); only current versions unless "
        "all_versions is true.",
        parameters=[SurveyListFilterSerializer],
        responses={200: SurveyOutputSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        actor = actor_for_request(request)
        filters = valid_input(SurveyListFilterSerializer, request.query_params)
        surveys = survey_list(
            actor=actor,
            department_id=department_id_of(actor, filters.get("department")),
            kind=filters.get("kind"),
            all_versions=filters["all_versions"],
        )
        return paginated(self, request, surveys, SurveyOutputSerializer)


class SurveyCreateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="survey_create",
        summary="Create a survey",
        request=SurveyCreateInputSerializer,
        parameters=[HEADER_PARAMETER],
        responses={201: SurveyOutputSerializer, **error_responses(400, 401, 403, 404, 422)},
        examples=[OpenApiExample("With a German translation", request_only=True, value=SURVEY_EXAMPLE)],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = valid_input(SurveyCreateInputSerializer, request.data)
        actor = actor_for_request(request)
        survey = survey_create(
            actor=actor,
            department=acting_department(request, actor, data.get("department")),
            name=data["name"],
            kind=data["kind"],
            intro=data["intro"],
            link_valid_days=data["link_valid_days"],
            burden_weight=data["burden_weight"],
            questions=data["questions"],
            language=data["language"],
            translations=data["translations"],
        )
        survey = survey_get(actor=actor, survey_id=survey.pk)
        return Response(SurveyOutputSerializer(survey).data, status=status.HTTP_201_CREATED)


class SurveyCollectionApi(SurveyListApi, SurveyCreateApi):
    """/surveys: GET is SurveyListApi, POST is SurveyCreateApi."""


class SurveyFromTemplateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="survey_create_from_template",
        summary="Create a survey from a built-in template",
        description="nps, csat or ces: the standard question on its fixed scale and a comment question.",
        request=SurveyFromTemplateInputSerializer,
        parameters=[HEADER_PARAMETER],
        responses={201: SurveyOutputSerializer, **error_responses(400, 401, 403, 404, 422)},
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = valid_input(SurveyFromTemplateInputSerializer, request.data)
        actor = actor_for_request(request)
        survey = survey_create_from_template(
            actor=actor,
            department=acting_department(request, actor, data.get("department")),
            template=data["template"],
            name=data.get("name") or None,
        )
        survey = survey_get(actor=actor, survey_id=survey.pk)
        return Response(SurveyOutputSerializer(survey).data, status=status.HTTP_201_CREATED)


class SurveyDetailApi(APIView):
    @extend_schema(
        operation_id="survey_get",
        summary="Read a survey (any version)",
        responses={200: SurveyOutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, survey_id: int) -> Response:
        survey = survey_get(actor=actor_for_request(request), survey_id=survey_id)
        return Response(SurveyOutputSerializer(survey).data)


class SurveyUpdateApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="survey_update",
        summary="Edit a survey",
        description="Edits in place (200) while the survey was never sent. A sent survey is frozen: the "
        "edit creates its next version (201, a new id; questions copied unless given) and the old "
        "version stays for its invitations. An edit that changes nothing (an empty body) answers 200 "
        "with the survey as it is. Only the current version can be edited (409 otherwise).",
        request=SurveyUpdateInputSerializer,
        examples=[
            OpenApiExample(
                "Translate into German", request_only=True, value={"translations": [TRANSLATION_EXAMPLE]}
            )
        ],
        responses={
            200: SurveyOutputSerializer,
            201: SurveyOutputSerializer,
            **error_responses(400, 401, 403, 404, 409),
        },
    )
    def patch(self, request: Request, survey_id: int) -> Response:
        actor = actor_for_request(request)
        survey = survey_get(actor=actor, survey_id=survey_id)
        data = valid_input(SurveyUpdateInputSerializer, request.data)
        if not data:  # nothing asked: the survey as it is, never a next version just like it
            return Response(SurveyOutputSerializer(survey).data)
        edited = survey_update(actor=actor, survey=survey, **data)
        edited = survey_get(actor=actor, survey_id=edited.pk)
        created = edited.pk != survey.pk
        return Response(
            SurveyOutputSerializer(edited).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SurveyItemApi(SurveyDetailApi, SurveyUpdateApi):
    """/surveys/{id}: GET is SurveyDetailApi, PATCH is SurveyUpdateApi."""
