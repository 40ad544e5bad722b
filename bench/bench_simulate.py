"""Replaying 90 days of decisions under a changed rule set: a rule simulation (issue 15, item 4).

Builds, in a database of its own: `--contacts` contacts, three departments with two surveys each,
`--decisions` decisions over the last `--days` days (send requests of 5,000 contacts each, about
four in five allowed, each allowed one an invitation, a fifth of those answered), a year of older
touches before them, and three live rules; then a draft that lengthens one rule's window, switches
one off and adds a department's own, and times `rule_simulation_run` — every batch of the replay
and the report — as the Celery task runs it.

    python bench/bench_simulate.py [--decisions 1000000] [--contacts 200000] [--days 90]

Last line: bench simulate decisions=D days=N seconds=S peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import datetime as dt

from harness import drop_database, peak_rss_mb, say, setup_django, stopwatch

DATABASE = "bench_simulate"
AUDIENCE = 5_000  # contacts per send request


def _surveys() -> list:
    from departments.models import Department
    from surveys.models import Survey

    departments = [
        Department.objects.create(name=n.title(), slug=n) for n in ("support", "marketing", "sales")
    ]
    surveys = []
    for department in departments:
        for kind in ("relationship", "transactional"):
            survey = Survey.objects.create(department=department, name=f"{department.name} {kind}", kind=kind)
            Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
            surveys.append(survey)
    return surveys


def build(*, contacts: int, decisions: int, days: int, now: dt.datetime) -> None:
    """Write the history with set-based SQL."""
    from django.db import connection

    from surveys.models import FrequencyRule, SendRequest

    surveys = _surveys()
    requests = -(-decisions // AUDIENCE)
    period = dt.timedelta(days=days)
    # Request k goes out at an even spread over the period; its department and survey rotate.
    history = SendRequest.objects.bulk_create(
        SendRequest(
            department=surveys[k % 6].department,
            survey=surveys[k % 6],
            audience_kind="upload",
            status="completed",
            earliest_send_at=now - period + period * k / requests,
            created_at=now - period,
        )
        for k in range(requests + 1)  # the last: the older touches'
    )
    FrequencyRule.objects.create(name="One survey per 30 days", max_touches=1, window=dt.timedelta(days=30))
    FrequencyRule.objects.create(
        name="Four emails a year", max_touches=4, window=dt.timedelta(days=365), scope_channel="email"
    )
    FrequencyRule.objects.create(
        name="Two transactional a week",
        max_touches=2,
        window=dt.timedelta(days=7),
        scope_survey_kind="transactional",
    )
    params = {
        "n": contacts,
        "d": decisions,
        "now": now,
        "audience": AUDIENCE,
        "requests": [r.pk for r in history],
        "at": [r.earliest_send_at for r in history],
        "surveys": [s.pk for s in surveys],
        "kinds": [s.kind for s in surveys],
        "departments": [s.department_id for s in surveys],
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO contacts_contact (name, locale, time_zone, attributes, created_at, updated_at)
               SELECT 'Contact ' || g, 'en', 'Europe/Berlin', '{}', %(now)s - interval '1000 days', %(now)s
               FROM generate_series(1, %(n)s) g""",
            params,
        )
        cursor.execute("SELECT min(id) FROM contacts_contact")
        params["first"] = cursor.fetchone()[0]
        # Decision g: request g / audience, contact ((g) * 7919) mod n (7919 is prime to n, so the
        # contacts of one request differ). One in five blocked by a rule, one in fifty opted out.
        cursor.execute(
            """CREATE TEMPORARY TABLE planned AS
               SELECT g, (%(requests)s::bigint[])[g / %(audience)s + 1] AS request_id,
                      (%(at)s::timestamptz[])[g / %(audience)s + 1] AS at,
                      (g / %(audience)s) %% 6 + 1 AS s,
                      %(first)s + (g::bigint * 7919) %% %(n)s AS contact_id,
                      CASE WHEN g %% 50 = 7 THEN 'opted_out' WHEN (g + g / %(n)s) %% 5 = 0 THEN 'rule'
                           ELSE '' END AS reason
               FROM generate_series(0, %(d)s - 1) g""",
            params,
        )
        cursor.execute(
            """INSERT INTO surveys_decision (send_request_id, contact_id, allowed, reason, rule_id,
                   rule_version, decided_at, request_month)
               SELECT request_id, contact_id, reason = '', reason, NULL, NULL, at,
                      date_trunc('month', r.created_at AT TIME ZONE 'UTC')::date
               FROM planned JOIN surveys_sendrequest r ON r.id = request_id""",
        )
        cursor.execute(
            """INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, sent_at, responded_at, attempts,
                   reminders_sent, failure_reason, created_at, updated_at)
               SELECT request_id, (%(surveys)s::bigint[])[s], (%(surveys)s::bigint[])[s],
                      (%(departments)s::bigint[])[s], (%(kinds)s::text[])[s], contact_id, 'email',
                      CASE WHEN g %% 5 = 1 THEN 'answered' ELSE 'expired' END, at, at,
                      CASE WHEN g %% 5 = 1 THEN at + interval '2 days' END, 1, 0, '', at, at
               FROM planned WHERE reason = ''""",
            params,
        )
        # A year of older touches, one per contact, so the longer windows reach back before the period.
        cursor.execute(
            """INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, sent_at, attempts, reminders_sent,
                   failure_reason, created_at, updated_at)
               SELECT %(old)s, (%(surveys)s::bigint[])[1], (%(surveys)s::bigint[])[1],
                      (%(departments)s::bigint[])[1], 'relationship', id, 'email', 'expired', t, t, 1, 0, '',
                      t, t
               FROM (SELECT id, %(now)s - %(period)s - random() * interval '365 days' AS t
                     FROM contacts_contact) old""",
            {**params, "period": period, "old": history[-1].pk},
        )
        cursor.execute("DROP TABLE planned")
        cursor.execute("VACUUM ANALYZE")


def draft_changed(now: dt.datetime):
    """A draft: the 30-day rule lengthened to 45 days, the transactional rule switched off, and a new
    rule of support's own (one per 60 days)."""
    from departments.actors import Actor
    from departments.models import Department
    from surveys.gatekeeper.rule_drafts import (
        draft_rule_add,
        draft_rule_copy,
        draft_rule_update,
        rule_draft_create,
    )
    from surveys.models import FrequencyRule

    lead = Actor(department_ids=frozenset(), is_cx_lead=True)
    draft = rule_draft_create(actor=lead, name="Stricter spring")
    monthly = draft_rule_copy(
        actor=lead, draft=draft, rule=FrequencyRule.objects.get(name="One survey per 30 days")
    )
    draft_rule_update(actor=lead, draft_rule=monthly, window=dt.timedelta(days=45))
    weekly = draft_rule_copy(
        actor=lead, draft=draft, rule=FrequencyRule.objects.get(name="Two transactional a week")
    )
    draft_rule_update(actor=lead, draft_rule=weekly, is_active=False)
    draft_rule_add(
        actor=lead,
        draft=draft,
        name="Support: one per 60 days",
        max_touches=1,
        window=dt.timedelta(days=60),
        scope_department=Department.objects.get(slug="support"),
    )
    return lead, draft


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    setup_django(DATABASE)
    from django.utils import timezone

    from surveys.gatekeeper.simulations import rule_simulation_create, rule_simulation_run

    now = timezone.now()
    with stopwatch() as built:
        build(contacts=args.contacts, decisions=args.decisions, days=args.days, now=now)
    say(f"built {args.contacts} contacts and {args.decisions} decisions in {built():.1f}s")

    lead, draft = draft_changed(now)
    # As rule_simulation_start stores it; the Celery task calls rule_simulation_run.
    simulation = rule_simulation_create(actor=lead, draft=draft, days=args.days, now=now)
    with stopwatch() as replayed:
        rule_simulation_run(simulation_id=simulation.pk)
    seconds = replayed()
    rss = peak_rss_mb()
    simulation.refresh_from_db()
    report = simulation.report
    assert simulation.state == "done" and simulation.done == args.decisions, (
        simulation.state,
        simulation.done,
    )
    say(
        f"decisions={report['decisions']} allowed_to_blocked={report['allowed_to_blocked']} "
        f"blocked_to_allowed={report['blocked_to_allowed']} batches={len(simulation.batch_bounds)} "
        f"touches_per_contact={report['touches_per_contact']}"
    )
    if not args.keep:
        drop_database(DATABASE)
    say(
        f"bench simulate decisions={args.decisions} days={args.days} seconds={seconds:.3f} "
        f"peak_rss_mb={rss:.0f}"
    )


if __name__ == "__main__":
    main()
