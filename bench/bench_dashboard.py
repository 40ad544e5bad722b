"""The results dashboard over a year of history (PRODUCT.md §8: first paint ≤ 1 s).

Builds, in a database of its own and with set-based SQL: 5 departments with an NPS, a CSAT and a CES
survey each, a send request per survey and month, N × 3 invitations sent over the last year (one in
five by SMS), a response to every third one — its scored answer (NPS, CSAT or CES as the survey asks)
and a comment on one in five — and the gatekeeper's decisions: one allowed per invitation and one
refused for every five (frequency rules, opt-outs). Then renders the dashboard as a CX lead, for all
departments over the default period (the last 365 days), with Django's test client: one warm-up,
then the median of `--runs`.

    python bench/bench_dashboard.py [--responses 1000000] [--runs 5]

The dashboard reads finished days from the daily rollups (results/rollups.py), which the build
refreshes as the beat task would, and today from the live tables.

Last line: bench dashboard responses=N seconds=S invitations=I api_seconds=A peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time

from harness import drop_database, peak_rss_mb, say, setup_django, stopwatch

DATABASE = "bench_dashboard"
DEPARTMENTS = ("support", "marketing", "sales", "billing", "product")
KINDS = (("nps", "relationship"), ("csat", "transactional"), ("ces", "transactional"))
CONTACTS = 500_000


def build(responses: int) -> None:
    """Write the history; every row through INSERT … SELECT over generate_series."""
    from django.db import connection
    from django.utils import timezone

    from departments.models import Department
    from surveys.models import FrequencyRule, Question, SendRequest, Survey

    now = timezone.now()
    invitations = responses * 3
    surveys = []
    for slug in DEPARTMENTS:
        department = Department.objects.create(name=slug.title(), slug=slug)
        for question_kind, survey_kind in KINDS:
            survey = Survey.objects.create(
                department=department, name=f"{department.name} {question_kind.upper()}", kind=survey_kind
            )
            Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
            Question.objects.create(survey=survey, position=1, kind=question_kind, text="Score?")
            Question.objects.create(survey=survey, position=2, kind="free_text", text="Why?", required=False)
            surveys.append(survey)
    rules = [
        FrequencyRule.objects.create(
            name="One survey a month", max_touches=1, window=datetime.timedelta(days=30)
        ),
        FrequencyRule.objects.create(name="Four a year", max_touches=4, window=datetime.timedelta(days=365)),
    ]
    # A request per survey and month; request r belongs to survey r % 15 and month r / 15.
    requests = [
        SendRequest.objects.create(
            department_id=surveys[r % len(surveys)].department_id,
            survey=surveys[r % len(surveys)],
            channel="sms" if r % 5 == 0 else "email",
            audience_kind="all_known",
            status="completed",
        ).pk
        for r in range(12 * len(surveys))
    ]
    per_request = -(-invitations // len(requests))
    assert per_request * 2 < CONTACTS, "each request needs distinct contacts for its invitations and refusals"
    parameters = {
        "now": now,
        "n": invitations,
        "per_request": per_request,
        "contacts": CONTACTS,
        "requests": requests,
        "request_count": len(requests),
        "surveys": [s.pk for s in surveys],
        "departments": [s.department_id for s in surveys],
        "kinds": [s.kind for s in surveys],
        "rules": [r.pk for r in rules],
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO contacts_contact (name, locale, time_zone, attributes, created_at, updated_at)
               SELECT 'Contact ' || g, 'en', 'Europe/Berlin', '{}', %(now)s - interval '1000 days', %(now)s
               FROM generate_series(1, %(contacts)s) g""",
            parameters,
        )
        cursor.execute("SELECT min(id) FROM contacts_contact")
        parameters["first_contact"] = cursor.fetchone()[0]
        # Invitation g belongs to request g / per_request, sent in that request's month (the last one
        # ends an hour ago, so today has its share for the live tables), to a contact of its own
        # within the request.
        cursor.execute(
            """INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, sent_at, responded_at, attempts,
                   reminders_sent, failure_reason, created_at, updated_at)
               SELECT request, survey, survey, department, kind, contact, channel,
                      CASE WHEN g %% 3 = 0 THEN 'answered' ELSE 'expired' END,
                      sent, sent, CASE WHEN g %% 3 = 0 THEN sent + interval '30 minutes' END,
                      1, 0, '', sent, sent
               FROM (SELECT g, r, (%(requests)s::bigint[])[r + 1] AS request,
                            (%(surveys)s::bigint[])[r %% 15 + 1] AS survey,
                            (%(departments)s::bigint[])[r %% 15 + 1] AS department,
                            (%(kinds)s::text[])[r %% 15 + 1] AS kind,
                            %(first_contact)s + (g %% %(contacts)s) AS contact,
                            CASE WHEN r %% 5 = 0 THEN 'sms' ELSE 'email' END AS channel,
                            %(now)s - interval '355 days 1 hour' + (r / 15) * interval '30 days'
                              + (g %% %(per_request)s) * interval '25 days' / %(per_request)s AS sent
                     FROM (SELECT g, g / %(per_request)s AS r FROM generate_series(0, %(n)s - 1) g) x) y
               ORDER BY sent""",
            parameters,
        )
        cursor.execute(
            """INSERT INTO surveys_response (invitation_id, survey_id, contact_id, department_id, channel,
                   locale, submitted_at)
               SELECT id, survey_id, contact_id, department_id, channel, 'en', responded_at
               FROM surveys_invitation WHERE status = 'answered' ORDER BY responded_at"""
        )
        # The scored answer: a spread of every point of the scale; a comment on one response in five.
        cursor.execute(
            """INSERT INTO surveys_answer (response_id, question_id, value_number, value_text, value_choices)
               SELECT r.id, q.id,
                      CASE q.kind WHEN 'nps' THEN (r.id * 7) % 11 WHEN 'csat' THEN 1 + (r.id * 7) % 5
                                  ELSE 1 + (r.id * 7) % 7 END,
                      '', '[]'
               FROM surveys_response r
               JOIN surveys_question q ON q.survey_id = r.survey_id AND q.position = 1"""
        )
        cursor.execute(
            """INSERT INTO surveys_answer (response_id, question_id, value_number, value_text, value_choices)
               SELECT r.id, q.id, NULL, 'Because of reasons.', '[]'
               FROM surveys_response r JOIN surveys_question q ON q.survey_id = r.survey_id AND q.position = 2
               WHERE r.id % 5 = 0"""
        )
        # A decision per invitation (allowed), and one refusal for every five, decided when sent.
        # Every table is written in time order, as the app writes it.
        cursor.execute(
            """INSERT INTO surveys_decision (send_request_id, contact_id, allowed, reason, rule_id,
                   rule_version, decided_at, request_month)
               SELECT decisions.*, date_trunc('month', r.created_at AT TIME ZONE 'UTC')::date FROM (
                   SELECT send_request_id, contact_id, true, '', NULL::bigint, NULL::int, touched_at
                   FROM surveys_invitation
                 UNION ALL
                   SELECT send_request_id,
                          %(first_contact)s
                            + ((contact_id - %(first_contact)s + %(contacts)s / 2) %% %(contacts)s),
                          false, CASE WHEN id %% 10 = 0 THEN 'opted_out' ELSE 'rule' END,
                          CASE WHEN id %% 10 = 0 THEN NULL ELSE (%(rules)s::bigint[])[id %% 2 + 1] END,
                          CASE WHEN id %% 10 = 0 THEN NULL ELSE 1 END, touched_at
                   FROM surveys_invitation WHERE id %% 5 = 0
               ) decisions JOIN surveys_sendrequest r ON r.id = decisions.send_request_id
               ORDER BY touched_at""",
            parameters,
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def lead_client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from departments.roles import CX_LEAD

    lead = get_user_model().objects.create_user("lead", "lead@example.com", is_staff=True)
    lead.groups.add(Group.objects.get(name=CX_LEAD))
    client = Client(SERVER_NAME="localhost")
    client.force_login(lead)
    return client


def timed(client, url: str, runs: int) -> float:
    """The median seconds of `runs` GETs of `url`, after one warm-up."""
    assert client.get(url).status_code == 200
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--reuse", action="store_true", help="reuse a database kept by --keep")
    args = parser.parse_args()

    if args.reuse:
        setup_django(DATABASE, fresh=False)
        from django.contrib.auth import get_user_model

        get_user_model().objects.filter(username="lead").delete()  # made again below
    else:
        setup_django(DATABASE)
        with stopwatch() as built:
            build(args.responses)
        say(f"built {args.responses} responses and {args.responses * 3} invitations in {built():.1f}s")

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from results.services.rollups import daily_rollups_refresh
    from surveys.models import Invitation, Response

    # What the beat task keeps up to date: every finished day rolled up; today is read live.
    with stopwatch() as rolled_up:
        daily_rollups_refresh(rebuild=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE results_dailyresults, results_dailydecisions")
    say(f"rolled up every finished day in {rolled_up():.1f}s")

    responses, invitations = Response.objects.count(), Invitation.objects.count()
    client = lead_client()
    seconds = timed(client, "/admin/results/", args.runs)
    api_seconds = timed(client, "/api/v1/results/summary", args.runs)
    with CaptureQueriesContext(connection) as queries:
        client.get("/admin/results/")
    for query in sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:5]:
        say(f"  {float(query['time']):.3f}s {query['sql'][:110]}")
    rss = peak_rss_mb()
    if not args.keep:
        drop_database(DATABASE)
    say(
        f"bench dashboard responses={responses} seconds={seconds:.3f} invitations={invitations} "
        f"api_seconds={api_seconds:.3f} peak_rss_mb={rss:.0f}"
    )


if __name__ == "__main__":
    main()
