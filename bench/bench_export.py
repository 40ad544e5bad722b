"""A full CSV export of 1,000,000 responses through the real view, memory flat (issue 5).

Builds, in a database of its own and with set-based SQL: three departments with one survey each
(NPS, CSAT, an optional comment), contacts, one answered invitation per response, the responses
spread over the last 360 days and their answers (a comment on one in three, some of them formulas
and non-Latin text). Then, as a CX lead through Django's test client, streams the export of the
most recent tenth (about 100,000 rows) and of everything, consuming the streamed chunks and
discarding them, and reports the wall time and this process's peak memory after each: flat memory
means the second figure is no higher than the first.

    python bench/bench_export.py [--rows 1000000]

Last line: bench export rows=N seconds=S peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import datetime as dt

from harness import drop_database, peak_rss_mb, say, setup_django, stopwatch

DATABASE = "bench_export"
CONTACTS_PER_RESPONSE = 10  # a tenth as many contacts as responses: each answered ten surveys
DAYS = 360


def build(rows: int) -> None:
    """Write departments, surveys, contacts, invitations, responses and answers with SQL."""
    from django.db import connection
    from django.utils import timezone

    from departments.models import Department
    from surveys.models import Question, SendRequest, Survey

    now = timezone.now()
    contacts = max(rows // CONTACTS_PER_RESPONSE, 1)
    departments, surveys = [], []
    for slug in ("support", "marketing", "sales"):
        department = Department.objects.create(name=slug.title(), slug=slug)
        survey = Survey.objects.create(department=department, name=f"{department.name} NPS", frozen_at=now)
        Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
        Question.objects.create(
            survey=survey, position=1, kind="nps", text="How likely are you to recommend us?"
        )
        Question.objects.create(survey=survey, position=2, kind="csat", text="How satisfied are you?")
        Question.objects.create(
            survey=survey, position=3, kind="free_text", text="Anything else?", required=False
        )
        departments.append(department)
        surveys.append(survey)
    # A contact has at most one invitation per request: one request per round over the contacts.
    rounds = -(-rows // contacts)
    requests = [
        SendRequest.objects.create(
            department=departments[k % 3],
            survey=surveys[k % 3],
            audience_kind="all_known",
            status="completed",
        )
        for k in range(rounds)
    ]
    questions = {
        survey.pk: list(survey.questions.order_by("position").values_list("pk", flat=True))
        for survey in surveys
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO contacts_contact (name, locale, time_zone, attributes, created_at, updated_at)
               SELECT 'Contact ' || g, 'en', 'Europe/Berlin', '{}', %(now)s - interval '1000 days', %(now)s
               FROM generate_series(1, %(n)s) g""",
            {"n": contacts, "now": now},
        )
        cursor.execute("SELECT min(id) FROM contacts_contact")
        first = cursor.fetchone()[0]
        # Invitation g goes to contact g mod N in request g div N; answered an hour after it was sent.
        cursor.execute(
            """INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, sent_at, responded_at, attempts,
                   reminders_sent, failure_reason, created_at, updated_at)
               SELECT (%(requests)s::bigint[])[k + 1], (%(surveys)s::bigint[])[k %% 3 + 1],
                      (%(surveys)s::bigint[])[k %% 3 + 1], (%(departments)s::bigint[])[k %% 3 + 1],
                      'transactional', %(first)s + g %% %(n)s, 'email', 'answered', t, t,
                      t + interval '1 hour', 1, 0, '', t, t
               FROM (SELECT g, g / %(n)s AS k,
                            %(now)s - interval '2 hours' - random() * %(days)s * interval '1 day' AS t
                     FROM generate_series(0, %(rows)s - 1) g) x""",
            {
                "first": first,
                "n": contacts,
                "rows": rows,
                "now": now,
                "days": DAYS,
                "requests": [r.pk for r in requests],
                "surveys": [s.pk for s in surveys],
                "departments": [d.pk for d in departments],
            },
        )
        cursor.execute(
            """INSERT INTO surveys_response (invitation_id, survey_id, contact_id, department_id, channel,
                                             locale, submitted_at)
               SELECT id, survey_id, contact_id, department_id, channel, 'en', responded_at
               FROM surveys_invitation"""
        )
        cursor.execute(
            """INSERT INTO surveys_answer (response_id, question_id, value_number, value_text, value_choices)
               SELECT r.id, (%(questions)s::jsonb -> r.survey_id::text ->> q)::bigint,
                      CASE q WHEN 0 THEN (r.id * 7) %% 11 WHEN 1 THEN 1 + (r.id * 3) %% 5 END,
                      CASE q WHEN 2 THEN (ARRAY['Quick and friendly, danke schön!', '=1+1 looks odd',
                                                '配送が遅かった', '-', 'Engineer came twice'])[1 + r.id %% 5]
                             ELSE '' END,
                      '[]'
               FROM surveys_response r, generate_series(0, 2) q
               WHERE q < 2 OR r.id %% 3 = 0""",
            {"questions": _json(questions)},
        )
        cursor.execute("VACUUM ANALYZE")


def _json(questions: dict[int, list[int]]) -> str:
    import json

    return json.dumps({str(survey): ids for survey, ids in questions.items()})


def export(client, *, start: dt.date | None = None) -> tuple[int, int, float]:
    """Stream the export through the real view; return (rows, bytes, seconds)."""
    url = "/admin/results/export/responses.csv"
    params = {"start": start.isoformat()} if start else {"start": "2000-01-01"}
    with stopwatch() as elapsed:
        response = client.get(url, params)
        assert response.status_code == 200 and response.streaming, response.status_code
        lines = size = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            size += len(chunk)
        response.close()
    return lines - 1, size, elapsed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    setup_django(DATABASE)
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    with stopwatch() as built:
        build(args.rows)
    say(f"built {args.rows} responses in {built():.1f}s; peak_rss_mb={peak_rss_mb():.0f} before exporting")

    lead = get_user_model().objects.create_superuser("bench-lead", "lead@example.com", "not-used")
    client = Client(HTTP_HOST="localhost")
    client.force_login(lead)

    tenth = timezone.localdate() - dt.timedelta(days=DAYS // 10 - 1)
    rows, size, seconds = export(client, start=tenth)
    say(f"export rows={rows} bytes={size} seconds={seconds:.2f} peak_rss_mb={peak_rss_mb():.0f}")
    rows, size, seconds = export(client)
    assert rows == args.rows, (rows, args.rows)
    rss = peak_rss_mb()
    say(f"export rows={rows} bytes={size} seconds={seconds:.2f} peak_rss_mb={rss:.0f}")

    if not args.keep:
        drop_database(DATABASE)
    say(f"bench export rows={rows} seconds={seconds:.2f} peak_rss_mb={rss:.0f}")


if __name__ == "__main__":
    main()
