"""CSV exports of results: every response (one row each, one column per question) and the summary
tables (by department, by survey), both streamed.

Streaming: the responses are read through a server-side cursor, `FETCH_ROWS` at a time, and written
out a batch at a time, so a million responses never sit in memory — neither in Python nor, since
the cursor lives inside a transaction (not WITH HOLD), as a copy PostgreSQL would materialise first.

Columns when several surveys are mixed: one column per question of every survey (every version)
that has a response in the export, ordered by survey and position; a response fills its own
survey's columns and leaves the others empty. Versions of one survey keep separate columns, since a
new version may have changed what its questions ask.

Formula neutralisation (OWASP "CSV injection"): a text cell starting with =, +, -, @, a tab or a
carriage return is prefixed with ' so a spreadsheet shows it instead of running it. Numbers
(scale answers, ids) are written as numbers, never prefixed: -3 stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from cxfeedback.db_router import results_connection
from departments.actors import Actor
from results.filters import ResultsFilter, responses_for
from results.selectors.summary import results_summary
from surveys.models import Question, Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
# Rows per FETCH from the server-side cursor, and per chunk handed to the client.
FETCH_ROWS = 2000
RESPONSE_COLUMNS = [
    "response_id",
    "submitted_at",
    "department",
    "survey",
    "survey_version",
    "channel",
    "contact_id",  # the contact's public id, as the API shows it: a primary key would count contacts
    "locale",
    "follow_up",
]


def cell(value):
    """A value as a spreadsheet should see it: text that would run as a formula is neutralised."""
    if value.__class__ is str and value[:1] in _FORMULA_FIRST:
        return "'" + value
    return value


def csv_chunks(rows: Iterable[list], *, byte_order_mark: bool = True) -> Iterator[str]:
    """The rows as CSV text with every cell through `cell`, a few thousand rows per chunk, starting
    with a UTF-8 byte order mark (without it Excel reads UTF-8 as the local code page and garbles
    ü, é, 日本); an export job resuming its file leaves the mark out (results/services/export_jobs.py)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if byte_order_mark:
        buffer.write("\ufeff")
    formula_first = _FORMULA_FIRST
    for number, row in enumerate(rows, start=1):
        # `cell`, inlined: a million rows of a dozen cells make a function call per cell cost a third
        # of the export's time.
        writer.writerow(
            ["'" + value if value.__class__ is str and value[:1] in formula_first else value for value in row]
        )
        if number % FETCH_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# Responses


def export_questions(responses: QuerySet[Response]) -> list[Question]:
    """The questions of every survey version with a response among `responses`: the export's columns."""
    survey_ids = responses.order_by().values("survey_id").distinct()
    return list(
        Question.objects.filter(survey_id__in=survey_ids)
        .select_related("survey")
        .order_by("survey__name", "survey__family_id", "survey__version", "position")
    )


def question_headers(questions: list[Question]) -> list[str]:
    several = len({question.survey_id for question in questions}) > 1
    return [
        f"{question.survey} · {question.position}. {question.text}"
        if several
        else f"{question.position}. {question.text}"
        for question in questions
    ]


def response_header(questions: list[Question]) -> list[str]:
    return RESPONSE_COLUMNS + question_headers(questions)


def response_rows(actor: Actor, results_filter: ResultsFilter) -> Iterator[list]:
    """The header, then one row per response in the filter, in the order they were stored, read
    through a server-side cursor inside a transaction of its own (held while the caller iterates)."""
    responses = responses_for(actor, results_filter)
    questions = export_questions(responses)
    yield response_header(questions)
    ids_sql, ids_params = responses.order_by().values("pk").query.sql_with_params()
    # From the replica when the request reads results there (cxfeedback/db_router.py).
    connection = results_connection()
    with transaction.atomic(using=connection.alias), connection.chunked_cursor() as cursor:
        cursor.execute(RESPONSES_SQL.format(response_ids=ids_sql), [settings.TIME_ZONE, *ids_params])
        while batch := cursor.fetchmany(FETCH_ROWS):
            yield from _answer_rows(batch, questions)


def response_chunk(responses: QuerySet[Response], questions: list[Question], *, after_id: int) -> list[list]:
    """The next FETCH_ROWS rows of `responses` after response `after_id`, in id order, as
    `response_rows` gives them: an export job's chunk, read by keyset so a resumed job carries on
    where its last committed chunk ended."""
    ids_sql, ids_params = responses.filter(pk__gt=after_id).order_by().values("pk").query.sql_with_params()
    with results_connection().cursor() as cursor:
        cursor.execute(
            RESPONSES_SQL.format(response_ids=ids_sql) + " LIMIT %s",
            [settings.TIME_ZONE, *ids_params, FETCH_ROWS],
        )
        return list(_answer_rows(cursor.fetchall(), questions))


def _answer_rows(batch: list[tuple], questions: list[Question]) -> Iterator[list]:
    """Each fetched row with its answers spread over one column per question."""
    column = {question.pk: index for index, question in enumerate(questions)}
    width = len(questions)
    for *fixed, question_ids, numbers, texts in batch:
        answers = [None] * width
        for question_id, number, text in zip(question_ids or (), numbers or (), texts or (), strict=True):
            index = column.get(question_id)
            if index is not None:
                answers[index] = number if number is not None else text
        yield fixed + answers


# One row per response with its answers as three parallel arrays (question, number, text), which
# psycopg parses in C; a multiple choice is joined with "; ". In response-id order, so the responses
# come from their primary key and each one's answers from the next stretch of answer_one_per_question
# (which leads with the response): no sort, and the first rows leave at once. Measured on a million
# responses this is three times faster than ordering by submission time, whose sort and scattered
# answer lookups cost more than the query itself. Ids grow as responses are stored, so this is the
# order they came in.
RESPONSES_SQL = """
SELECT r.id, to_char(r.submitted_at AT TIME ZONE %s, 'YYYY-MM-DD HH24:MI:SS'), d.name, s.name, s.version,
       r.channel, c.public_id, r.locale, f.status, x.question_ids, x.numbers, x.texts
FROM surveys_response r
JOIN departments_department d ON d.id = r.department_id
JOIN surveys_survey s ON s.id = r.survey_id
JOIN contacts_contact c ON c.id = r.contact_id
LEFT JOIN results_followup f ON f.response_id = r.id
LEFT JOIN LATERAL (
    SELECT array_agg(a.question_id) AS question_ids,
           array_agg(a.value_number) AS numbers,
           array_agg(CASE WHEN jsonb_typeof(a.value_choices) = 'array' AND a.value_choices <> '[]'::jsonb
                          THEN (SELECT string_agg(c, '; ') FROM jsonb_array_elements_text(a.value_choices) c)
                          ELSE a.value_text END) AS texts
    FROM surveys_answer a WHERE a.response_id = r.id
) x ON true
WHERE r.id IN ({response_ids})
ORDER BY r.id
"""


# Summary tables


def summary_rows(actor: Actor, results_filter: ResultsFilter) -> Iterator[list]:
    """The dashboard's two tables (results.selectors.summary) as one CSV: a row per department, then
    a row per survey, each with the same figures; an empty figure (nothing to count) stays empty."""
    summary = results_summary(actor=actor, results_filter=results_filter)
    figure_names = None
    for table, rows in (("department", summary.by_department), ("survey", summary.by_survey)):
        for row in rows:
            figures = row.figures.as_dict()
            if figure_names is None:
                figure_names = list(figures)
                yield ["table", "name", "department", *figure_names, "requested", "blocked"]
            department = row.name if table == "department" else row.department_name
            yield [
                table,
                row.name,
                department,
                *(figures[name] for name in figure_names),
                row.requested,
                row.blocked,
            ]
    if figure_names is None:  # nothing in the period: the header alone
        yield ["table", "name", "department", *summary.headline.as_dict(), "requested", "blocked"]
