"""Building surveys: create, edit (in place, or as the next version once sent), and the built-in
NPS, CSAT and CES templates.

A survey that has been sent is frozen (`frozen_at`, set when a request for it is submitted): its
invitations must keep showing the questions they were sent with. Editing a frozen survey therefore
makes its next version — a new row in the same family with the questions copied and then edited —
and the old version stays, no longer current, for the invitations that use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department
from surveys.design.translations import (
    language_code_valid,
    translations_after_edit,
    translations_clean,
    translations_of,
    translations_write,
)
from surveys.errors import InvalidQuestion, InvalidSurvey, SurveyNotCurrent, UnknownSurveyTemplate
from surveys.models import FIXED_SCALES, Question, QuestionKind, Survey, SurveyKind

# A rating scale wider than this is not a rating any more; 0..100 covers "percent" scales.
RATING_SCALE_BOUNDS = (0, 100)


MAX_CHOICES = 50


MAX_CHOICE_CHARS = 200


MAX_QUESTIONS = 100


QUESTION_FIELDS = ("kind", "text", "help_text", "required", "scale_min", "scale_max", "choices")


SURVEY_FIELDS = ("name", "kind", "language", "intro", "link_valid_days", "burden_weight")

# The most minutes a survey's burden may be set to (Survey.burden_weight).
MAX_BURDEN_MINUTES = 600


# The built-in templates (issue 3). The first question of each is the standard one, on its fixed scale.
SURVEY_TEMPLATES: dict[str, dict[str, Any]] = {
    "nps": {
        "name": "Net Promoter Score",
        "kind": SurveyKind.RELATIONSHIP,
        "questions": [
            {
                "kind": QuestionKind.NPS,
                "text": "How likely are you to recommend us to a friend or colleague?",
            },
            {
                "kind": QuestionKind.FREE_TEXT,
                "text": "What is the main reason for your score?",
                "required": False,
            },
        ],
    },
    "csat": {
        "name": "Customer satisfaction",
        "kind": SurveyKind.TRANSACTIONAL,
        "questions": [
            {"kind": QuestionKind.CSAT, "text": "How satisfied are you with the help you received?"},
            {"kind": QuestionKind.FREE_TEXT, "text": "What could we have done better?", "required": False},
        ],
    },
    "ces": {
        "name": "Customer effort",
        "kind": SurveyKind.TRANSACTIONAL,
        "questions": [
            {
                "kind": QuestionKind.CES,
                "text": "How much do you agree: the company made it easy for me to handle my issue.",
                "help_text": "1 = strongly disagree, 7 = strongly agree.",
            },
            {"kind": QuestionKind.FREE_TEXT, "text": "What made it easy or hard?", "required": False},
        ],
    },
}


def question_clean(question: Mapping[str, Any], *, position: int) -> dict[str, Any]:
    """A question's fields, checked and normalised for its kind. Raises InvalidQuestion."""
    unknown = set(question) - set(QUESTION_FIELDS) - {"position"}
    if unknown:
        raise InvalidQuestion(position, sorted(unknown)[0], "is not a question field.")
    kind = question.get("kind")
    if kind not in QuestionKind.values:
        raise InvalidQuestion(position, "kind", f"must be one of {', '.join(QuestionKind.values)}.")
    text = (question.get("text") or "").strip()
    if not text:
        raise InvalidQuestion(position, "text", "a question needs its text.")
    cleaned: dict[str, Any] = {
        "kind": kind,
        "text": _short_text(text, position, "text"),
        "help_text": _short_text((question.get("help_text") or "").strip(), position, "help_text"),
        "required": question.get("required", True),
        "scale_min": None,
        "scale_max": None,
        "choices": [],
    }
    if not isinstance(cleaned["required"], bool):
        raise InvalidQuestion(position, "required", "must be true or false.")
    cleaned.update(_scale_clean(question, kind=kind, position=position))
    cleaned["choices"] = _choices_clean(question, kind=kind, position=position)
    return cleaned


def _short_text(value: str, position: int, field: str) -> str:
    if len(value) > 500:
        raise InvalidQuestion(position, field, "at most 500 characters.")
    return value


def _scale_clean(question: Mapping[str, Any], *, kind: str, position: int) -> dict[str, int | None]:
    scale_min, scale_max = question.get("scale_min"), question.get("scale_max")
    if kind in FIXED_SCALES:
        # The standard scales are what make NPS, CSAT and CES comparable across departments.
        fixed = FIXED_SCALES[kind]
        for field, value, expected in (
            ("scale_min", scale_min, fixed[0]),
            ("scale_max", scale_max, fixed[1]),
        ):
            if value is not None and value != expected:
                label = QuestionKind(kind).label
                raise InvalidQuestion(position, field, f"{label} has a fixed scale; leave it empty.")
        return {"scale_min": None, "scale_max": None}
    if kind != QuestionKind.RATING:
        for field, value in (("scale_min", scale_min), ("scale_max", scale_max)):
            if value is not None:
                raise InvalidQuestion(position, field, "only a rating question has a scale.")
        return {"scale_min": None, "scale_max": None}
    low, high = RATING_SCALE_BOUNDS
    for field, value in (("scale_min", scale_min), ("scale_max", scale_max)):
        if value is None or isinstance(value, bool) or not isinstance(value, int):
            raise InvalidQuestion(position, field, "a rating question needs a whole number here.")
        if not low <= value <= high:
            raise InvalidQuestion(position, field, f"must be between {low} and {high}.")
    if scale_min >= scale_max:
        raise InvalidQuestion(position, "scale_max", "must be greater than scale_min.")
    return {"scale_min": scale_min, "scale_max": scale_max}


def _choices_clean(question: Mapping[str, Any], *, kind: str, position: int) -> list[str]:
    choices = question.get("choices") or []
    if kind not in (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE):
        if choices:
            raise InvalidQuestion(position, "choices", "only a choice question has choices.")
        return []
    if not isinstance(choices, list | tuple) or not all(isinstance(choice, str) for choice in choices):
        raise InvalidQuestion(position, "choices", "must be a list of texts.")
    cleaned = [choice.strip() for choice in choices]
    if any(not choice for choice in cleaned):
        raise InvalidQuestion(position, "choices", "a choice cannot be empty.")
    if any(len(choice) > MAX_CHOICE_CHARS for choice in cleaned):
        raise InvalidQuestion(position, "choices", f"a choice has at most {MAX_CHOICE_CHARS} characters.")
    seen: set[str] = set()
    for choice in cleaned:
        if choice.casefold() in seen:
            raise InvalidQuestion(position, "choices", f"“{choice}” is listed twice.")
        seen.add(choice.casefold())
    if len(cleaned) < 2:
        raise InvalidQuestion(position, "choices", "a choice question needs at least two choices.")
    if len(cleaned) > MAX_CHOICES:
        raise InvalidQuestion(position, "choices", f"at most {MAX_CHOICES} choices.")
    return cleaned


def questions_clean(questions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every question checked, in order (positions 1, 2, …). Raises InvalidSurvey, InvalidQuestion."""
    if not questions:
        raise InvalidSurvey("A survey needs at least one question.", extra={"field": "questions"})
    if len(questions) > MAX_QUESTIONS:
        raise InvalidSurvey(f"A survey has at most {MAX_QUESTIONS} questions.", extra={"field": "questions"})
    return [question_clean(question, position=index) for index, question in enumerate(questions, start=1)]


def _survey_fields_clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    if "name" in cleaned:
        cleaned["name"] = (cleaned["name"] or "").strip()
        if not cleaned["name"] or len(cleaned["name"]) > 200:
            raise InvalidSurvey(
                "name: a survey needs a name of at most 200 characters.", extra={"field": "name"}
            )
    if "kind" in cleaned and cleaned["kind"] not in SurveyKind.values:
        raise InvalidSurvey(f"kind: must be one of {', '.join(SurveyKind.values)}.", extra={"field": "kind"})
    if "intro" in cleaned:
        cleaned["intro"] = (cleaned["intro"] or "").strip()
    if "language" in cleaned:
        cleaned["language"] = _language_clean(cleaned["language"])
    days = cleaned.get("link_valid_days")
    if "link_valid_days" in cleaned and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365
    ):
        raise InvalidSurvey("link_valid_days: must be 1 to 365 days.", extra={"field": "link_valid_days"})
    minutes = cleaned.get("burden_weight")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_BURDEN_MINUTES
    ):
        raise InvalidSurvey(
            f"burden_weight: must be 1 to {MAX_BURDEN_MINUTES} minutes.", extra={"field": "burden_weight"}
        )
    return cleaned


def _language_clean(language: Any) -> str:
    code = language.strip().replace("_", "-") if isinstance(language, str) else ""
    if not language_code_valid(code):
        raise InvalidSurvey("language: a language code such as “en” or “de”.", extra={"field": "language"})
    return code


def _questions_write(survey: Survey, questions: list[dict[str, Any]]) -> None:
    Question.objects.bulk_create(
        Question(survey=survey, position=position, **question)
        for position, question in enumerate(questions, start=1)
    )


@transaction.atomic
def survey_create(
    *,
    actor: Actor,
    department: Department,
    name: str,
    kind: str = SurveyKind.TRANSACTIONAL,
    questions: Sequence[Mapping[str, Any]],
    intro: str = "",
    link_valid_days: int = 14,
    burden_weight: int | None = None,
    language: str = "en",
    translations: Sequence[Mapping[str, Any]] = (),
) -> Survey:
    """Create version 1 of a survey with its questions, in order, and its translations (other
    languages than `language`). `burden_weight`: the minutes it takes, for rules counting burden;
    None: estimated from its questions.

    Raises NotFound (not the actor's department), InvalidSurvey and InvalidQuestion.
    """
    if not actor.sees_department(department.pk):
        raise NotFound("No such department.")
    fields = _survey_fields_clean(
        {
            "name": name,
            "kind": kind,
            "intro": intro,
            "link_valid_days": link_valid_days,
            "burden_weight": burden_weight,
            "language": language,
        }
    )
    cleaned_questions = questions_clean(questions)
    cleaned_translations = translations_clean(
        translations, language=fields["language"], questions=len(cleaned_questions)
    )
    survey = Survey.objects.create(department=department, **fields)
    # The first version names the family: every later version carries its id.
    survey.family_id = survey.pk
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    _questions_write(survey, cleaned_questions)
    translations_write(survey, cleaned_translations)
    return survey


def survey_create_from_template(
    *, actor: Actor, department: Department, template: str, name: str | None = None
) -> Survey:
    """Create a survey from a built-in template ("nps", "csat" or "ces").

    Raises UnknownSurveyTemplate, NotFound (not the actor's department), InvalidSurvey.
    """
    spec = SURVEY_TEMPLATES.get(template)
    if spec is None:
        raise UnknownSurveyTemplate(
            f"template: must be one of {', '.join(SURVEY_TEMPLATES)}.", extra={"field": "template"}
        )
    return survey_create(
        actor=actor,
        department=department,
        name=name or spec["name"],
        kind=spec["kind"],
        questions=spec["questions"],
    )


def survey_update(
    *,
    actor: Actor,
    survey: Survey,
    name: str | None = None,
    kind: str | None = None,
    intro: str | None = None,
    link_valid_days: int | None = None,
    burden_weight: int | None = None,
    language: str | None = None,
    questions: Sequence[Mapping[str, Any]] | None = None,
    translations: Sequence[Mapping[str, Any]] | None = None,
) -> Survey:
    """Edit a survey; arguments left None stay as they are, `questions` and `translations` replace
    the whole list (kept translations are cut to fewer questions by position).

    Edits in place while the survey was never sent; once frozen, creates and returns the next
    version (questions and translations copied from this one unless given) and this one stops
    being current. Raises NotFound, SurveyNotCurrent (a newer version exists), InvalidSurvey,
    InvalidQuestion.
    """
    if not actor.sees_department(survey.department_id):
        raise NotFound(f"Survey {survey.pk} not found.")
    fields = {"name": name, "kind": kind, "intro": intro, "language": language}
    fields |= {"link_valid_days": link_valid_days, "burden_weight": burden_weight}
    changes = _survey_fields_clean({field: value for field, value in fields.items() if value is not None})
    cleaned_questions = questions_clean(questions) if questions is not None else None
    with transaction.atomic():
        current = _survey_lock_current(survey)
        cleaned_translations = translations_after_edit(current, changes, cleaned_questions, translations)
        if current.is_frozen:
            return _survey_next_version(current, changes, cleaned_questions, cleaned_translations)
        for field, value in changes.items():
            setattr(current, field, value)
        current.save()
        if cleaned_questions is not None:
            current.questions.all().delete()
            _questions_write(current, cleaned_questions)
        if cleaned_translations is not None:
            translations_write(current, cleaned_translations)
        return current


def _survey_lock_current(survey: Survey) -> Survey:
    """The survey, its row locked for the caller's transaction, if still current. Raises SurveyNotCurrent."""
    # Locks the current version: two editors of a frozen survey would otherwise both create
    # "the next version"; the second waits here and then finds this version no longer current.
    # It also orders an edit against send_request_submit freezing the same row (lock order 5,
    # surveys/gatekeeper/locks.py).
    current = Survey.objects.select_for_update().get(pk=survey.pk)
    if not current.is_current:
        newest = Survey.objects.filter(family_id=current.family_id, is_current=True).first()
        raise SurveyNotCurrent(
            f"Version {current.version} of this survey is not current; edit version "
            f"{newest.version if newest else '?'} instead.",
            extra={"current_id": newest.pk if newest else None},
        )
    return current


def _survey_next_version(
    current: Survey,
    changes: dict[str, Any],
    questions: list[dict[str, Any]] | None,
    translations: list[dict[str, Any]] | None,
) -> Survey:
    """The version after `current` (locked by the caller), with its questions and translations
    (copied unless given); `current` steps down."""
    if questions is None:
        questions = [
            {field: getattr(question, field) for field in QUESTION_FIELDS}
            for question in current.questions.order_by("position")
        ]
    # One current version per family is a constraint: step down before the next one is inserted.
    Survey.objects.filter(pk=current.pk).update(is_current=False)
    fields = {field: getattr(current, field) for field in SURVEY_FIELDS} | changes
    new_version = Survey.objects.create(
        department_id=current.department_id,
        family_id=current.family_id,
        version=current.version + 1,
        is_current=True,
        **fields,
    )
    _questions_write(new_version, questions)
    translations_write(new_version, translations_of(current) if translations is None else translations)
    return new_version
