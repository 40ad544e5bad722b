"""Single responses with their answers and comments, for the drill-down pages, the responses API
and the export, scoped by the shared results filter (results/filters.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from results.filters import ResultsFilter, responses_for, surveys_visible_to
from surveys.models import Answer, Response, Survey

PAGE_SIZE = 50


def response_list(*, actor: Actor, results_filter: ResultsFilter) -> QuerySet[Response]:
    """The responses in the filter, newest first, with survey, department, follow-up and answers
    (in question order) loaded: three queries however many rows are shown."""
    answers = Answer.objects.select_related("question").order_by("question__position", "pk")
    return (
        responses_for(actor, results_filter)
        .select_related("survey", "department", "follow_up")
        .prefetch_related(Prefetch("answers", queryset=answers))
        .order_by("-submitted_at", "-pk")
    )


@dataclass(frozen=True)
class ResponsePage:
    responses: list[Response]
    # Where the next (older) page starts; None on the last page.
    next_cursor: str | None


def response_page(
    *, actor: Actor, results_filter: ResultsFilter, cursor: str | None, size: int | None = None
) -> ResponsePage:
    """One page of `response_list`, starting after `cursor` (from the previous page).

    Keyset pagination: each page is an index range scan from where the last one ended, so page 2,000
    costs what page 1 costs and no page counts the whole (possibly million-row) result.
    """
    size = size or PAGE_SIZE
    responses = response_list(actor=actor, results_filter=results_filter)
    position = cursor_decode(cursor) if cursor else None
    if position is not None:
        submitted_at, pk = position
        responses = responses.filter(
            Q(submitted_at__lt=submitted_at) | Q(submitted_at=submitted_at, pk__lt=pk)
        )
    rows = list(responses[: size + 1])
    next_cursor = cursor_encode(rows[size - 1]) if len(rows) > size else None
    return ResponsePage(responses=rows[:size], next_cursor=next_cursor)


def cursor_encode(response: Response) -> str:
    """A page position: the response's submission time (microseconds since the epoch) and id."""
    micros = round(response.submitted_at.timestamp() * 1_000_000)
    return f"{micros}.{response.pk}"


def cursor_decode(cursor: str) -> tuple[dt.datetime, int] | None:
    """The position `cursor_encode` wrote; None for anything else (the first page is shown)."""
    micros, _, pk = cursor.partition(".")
    if not (micros.isdigit() and pk.isdigit()):
        return None
    at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(micros))
    return at, int(pk)


def survey_for_results(*, actor: Actor, survey_id: int) -> Survey:
    """A survey the actor may see results of; raises NotFound otherwise (never says whose it is)."""
    survey = surveys_visible_to(actor).filter(pk=survey_id).first()
    if survey is None:
        raise NotFound(f"Survey {survey_id} not found.", extra={"survey": survey_id})
    return survey


def answer_display(answer: Answer) -> str | int:
    """An answer as one value: the number of a scale, the chosen options joined, or the text."""
    if answer.value_number is not None:
        return answer.value_number
    if answer.value_choices:
        return "; ".join(answer.value_choices)
    return answer.value_text
