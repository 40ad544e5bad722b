"""The department's placeholder survey of a kind, which external touches and ingested answers belong to.

It is never current, so no survey list for sending shows it and the gatekeeper refuses to send it
(surveys/gatekeeper/lookups.py `survey_sendable_check`); it is frozen, so no one edits it. Its
questions are the answer kinds another tool's answers map to, all optional, in EXTERNAL_QUESTIONS'
order (an ingested answer names its kind, the position follows).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from departments.models import Department
from surveys.models import ExternalSurvey, Question, QuestionKind, Survey, SurveyKind

# The kinds another tool's answers map to, with the question shown in timelines and results.
EXTERNAL_QUESTIONS = {
    QuestionKind.NPS: "How likely are you to recommend us? (asked by another tool)",
    QuestionKind.CSAT: "How satisfied were you? (asked by another tool)",
    QuestionKind.CES: "How easy was it? (asked by another tool)",
    QuestionKind.FREE_TEXT: "Comments (asked by another tool)",
}


def external_survey_name(kind: str) -> str:
    return f"{SurveyKind(kind).label} surveys from other tools"


def external_survey_get(*, department: Department, kind: str) -> Survey:
    """The department's placeholder survey of `kind`, made on first use with its questions.

    Made in a transaction of its own before any lock is taken; two first uses at once both try,
    and the loser of the unique (department, kind) reads the winner's."""
    found = ExternalSurvey.objects.filter(department=department, survey_kind=kind).select_related("survey")
    if home := found.first():
        return home.survey
    try:
        with transaction.atomic():
            return _external_survey_create(department, kind)
    except IntegrityError:
        return found.get().survey


def _external_survey_create(department: Department, kind: str) -> Survey:
    now = timezone.now()
    survey = Survey.objects.create(
        department=department,
        name=external_survey_name(kind),
        kind=kind,
        is_current=False,
        frozen_at=now,
        intro="Sent by another survey tool; recorded here so the frequency rules count it.",
    )
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    survey.family_id = survey.pk
    Question.objects.bulk_create(
        Question(survey=survey, position=position, kind=question_kind, text=text, required=False)
        for position, (question_kind, text) in enumerate(EXTERNAL_QUESTIONS.items(), start=1)
    )
    ExternalSurvey.objects.create(department=department, survey_kind=kind, survey=survey)
    return survey
