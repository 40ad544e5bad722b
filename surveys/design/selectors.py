"""Reading surveys, scoped to who asks: department owners and API keys see their departments'
surveys, a CX lead sees all. Anything else is "not found", so ids do not leak."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from surveys.models import Question, Survey


def surveys_visible(*, actor: Actor) -> QuerySet[Survey]:
    surveys = Survey.objects.select_related("department")
    if actor.is_cx_lead:
        return surveys
    return surveys.filter(department_id__in=actor.department_ids)


def survey_list(
    *,
    actor: Actor,
    department_id: int | None = None,
    kind: str | None = None,
    all_versions: bool = False,
) -> QuerySet[Survey]:
    """The actor's surveys, current versions only unless `all_versions`, with their questions and
    translations."""
    surveys = surveys_visible(actor=actor).prefetch_related(
        Prefetch("questions", queryset=Question.objects.order_by("position")), "translations"
    )
    if not all_versions:
        surveys = surveys.filter(is_current=True)
    if department_id is not None:
        surveys = surveys.filter(department_id=department_id)
    if kind:
        surveys = surveys.filter(kind=kind)
    return surveys.order_by("name", "family_id", "-version")


def survey_get(*, actor: Actor, survey_id: int) -> Survey:
    """One survey (any version) with its questions in order; raises NotFound outside the actor's scope."""
    survey = (
        surveys_visible(actor=actor)
        .prefetch_related(
            Prefetch("questions", queryset=Question.objects.order_by("position")), "translations"
        )
        .filter(pk=survey_id)
        .first()
    )
    if survey is None:
        raise NotFound(f"Survey {survey_id} not found.")
    return survey
