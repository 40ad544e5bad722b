"""Screening a large audience against a long touch history under 3 rules (PRODUCT.md §8).

Builds, in a database of its own: N contacts known to one department, `--touches` past invitations
spread over the contacts (about one in twenty recent enough to matter), a few opt-outs and snoozes,
three active rules; then submits a send request for every contact and times `send_request_screen`
— locks, the decision query, a decision for every contact and an invitation for every allowed one.
For scale it times PostgreSQL's own COPY of as many decision-shaped rows in the same run.
`--external-touches E` adds E touches recorded from another survey tool (issue 16), stored as the
API stores them: a completed "external" send request, a sent invitation and an ExternalTouch each.

    python bench/bench_screening.py [--contacts 100000] [--touches 5000000] [--external-touches 0]

`--keep-build` keeps the built history in a database named by its sizes and, the next time, screens a
file copy of it, migrated to the code's schema: a 10,000,000-contact history takes 23 minutes to build
and a few to copy.

Before it, a line with each committed batch's time (the medians of the first and last tenth, the
slowest) and the last step's: whether batches slow down as the screening goes on.

Then, as a floor, PostgreSQL writing the screening's decisions and invitations again with nothing
decided (writes_seconds).

Last line: bench screening contacts=N touches=T external_touches=E seconds=S copy_seconds=C ratio=R
writes_seconds=W ratio_to_writes=S/W peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import time
from contextlib import contextmanager, nullcontext

from harness import database_copy, database_exists, drop_database, peak_rss_mb, say, setup_django, stopwatch

DATABASE = "bench_screening"


@contextmanager
def bulk_loaded(cursor, table: str):
    """Load without foreign-key checks and `table`'s secondary indexes, then build those: the same
    tables in the end, in a fraction of the time a 50,000,000-row history takes row by row (its
    random keys land all over indexes larger than memory). The history is consistent as written."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype = 'u'",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
           WHERE indrelid = %s::regclass AND NOT indisprimary
             AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = indexrelid)""",
        [table],
    )
    indexes = cursor.fetchall()
    for name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    cursor.execute("SET session_replication_role = replica")  # no foreign-key triggers
    try:
        yield
    finally:
        cursor.execute("RESET session_replication_role")
        for _, definition in indexes:
            cursor.execute(definition)
        for name, definition in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def build(contacts: int, touches: int, *, bulk: bool = False) -> int:
    """Write the history with set-based SQL; return the id of the submitted send request. `bulk`
    builds the invitations' indexes after the rows are in (for histories of tens of millions)."""
    from django.db import connection
    from django.utils import timezone

    from departments.models import Department
    from surveys.models import FrequencyRule, SendRequest, Survey

    departments = [
        Department.objects.create(name=n.title(), slug=n) for n in ("support", "marketing", "sales")
    ]
    surveys = []
    for department in departments:
        survey = Survey.objects.create(
            department=department, name=f"{department.name} NPS", kind="relationship"
        )
        Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
        survey.family_id = survey.pk
        surveys.append(survey)
    # One past request per "round" of touches: a contact has at most one invitation per request.
    rounds = -(-touches // contacts)
    history = [
        SendRequest.objects.create(
            department=departments[k % 3],
            survey=surveys[k % 3],
            audience_kind="all_known",
            status="completed",
        )
        for k in range(rounds)
    ]
    support = departments[0]
    FrequencyRule.objects.create(name="One survey per 30 days", max_touches=1, window=dt.timedelta(days=30))
    FrequencyRule.objects.create(
        name="Support: one per 90 days", max_touches=1, window=dt.timedelta(days=90), scope_department=support
    )
    FrequencyRule.objects.create(
        name="Four emails a year", max_touches=4, window=dt.timedelta(days=365), scope_channel="email"
    )
    now = timezone.now()
    with connection.cursor() as cursor, bulk_loaded(cursor, "surveys_invitation") if bulk else nullcontext():
        cursor.execute(
            """INSERT INTO contacts_contact (name, locale, time_zone, attributes, created_at, updated_at)
               SELECT 'Contact ' || g, 'en', 'Europe/Berlin', '{}', %(now)s - interval '1000 days', %(now)s
               FROM generate_series(1, %(n)s) g""",
            {"n": contacts, "now": now},
        )
        cursor.execute("SELECT min(id) FROM contacts_contact")
        first = cursor.fetchone()[0]
        # One contact in fifty has no email address.
        cursor.execute(
            """INSERT INTO contacts_identity (contact_id, kind, source, value, normalised, created_at)
               SELECT id, 'email', '', 'c' || id || '@example.com', 'c' || id || '@example.com', %(now)s
               FROM contacts_contact WHERE id %% 50 <> 0""",
            {"now": now},
        )
        # Support supplied every address, so each is checked against what it supplied (none is shared).
        cursor.execute(
            """INSERT INTO contacts_departmentidentity (department_id, identity_id, created_at)
               SELECT %(d)s, id, %(now)s FROM contacts_identity""",
            {"d": support.pk, "now": now},
        )
        cursor.execute(
            """INSERT INTO contacts_departmentcontact (department_id, contact_id, source, created_at,
                                                       updated_at)
               SELECT %(d)s, id, 'import', %(now)s, %(now)s FROM contacts_contact""",
            {"d": support.pk, "now": now},
        )
        cursor.execute(
            """INSERT INTO contacts_consent (contact_id, department_id, channel, kind, until, source, note,
                                             recorded_by, created_at)
               SELECT id, NULL, '', CASE WHEN id %% 2 = 0 THEN 'opt_out' ELSE 'snooze' END,
                      CASE WHEN id %% 2 = 0 THEN NULL ELSE %(now)s + interval '20 days' END,
                      'admin', '', '', %(now)s - interval '5 days'
               FROM contacts_contact WHERE id %% 97 = 0""",
            {"now": now},
        )
        # Each contact's touches: most years old, one in the last two years (a few of those recent).
        cursor.execute(
            """INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, sent_at, attempts, reminders_sent,
                   failure_reason, created_at, updated_at)
               SELECT (%(requests)s::bigint[])[k + 1], (%(surveys)s::bigint[])[k %% 3 + 1],
                      (%(surveys)s::bigint[])[k %% 3 + 1], (%(departments)s::bigint[])[k %% 3 + 1],
                      'relationship', c, 'email',
                      CASE WHEN g %% 3 = 0 THEN 'answered' ELSE 'expired' END, t, t, 1, 0, '', t, t
               FROM (SELECT g, %(first)s + (g %% %(n)s) AS c, g / %(n)s AS k,
                            CASE WHEN g < %(n)s THEN %(now)s - random() * interval '720 days'
                                 ELSE %(now)s - interval '400 days' - (g / %(n)s) * interval '110 days'
                                      - random() * interval '100 days' END AS t
                     FROM generate_series(0, %(t)s - 1) g) x""",
            {
                "first": first,
                "n": contacts,
                "t": touches,
                "now": now,
                "requests": [r.pk for r in history],
                "surveys": [s.pk for s in surveys],
                "departments": [d.pk for d in departments],
            },
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    request = SendRequest.objects.create(
        department=support,
        survey=Survey.objects.create(department=support, name="Support CSAT"),
        audience_kind="all_known",
        status="submitted",
        submitted_at=now,
    )
    Survey.objects.filter(pk=request.survey_id).update(family_id=request.survey_id)
    return request.pk


def add_external_touches(count: int) -> None:
    """`count` touches marketing's other tool sent, spread over the contacts and the last two years
    (one in twenty in the last 90 days), each as surveys.external.touches records one."""
    from django.db import connection
    from django.utils import timezone

    from departments.models import Department
    from surveys.external.homes import external_survey_get

    marketing = Department.objects.get(slug="marketing")
    survey = external_survey_get(department=marketing, kind="relationship")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), count(*) FROM contacts_contact")
        first, contacts = cursor.fetchone()
        cursor.execute(
            """WITH touch AS (
                   SELECT g, %(first)s + (g::bigint * 7919) %% %(n)s AS contact_id,
                          CASE WHEN g %% 20 = 0 THEN %(now)s - random() * interval '90 days'
                               ELSE %(now)s - interval '90 days' - random() * interval '640 days' END AS at
                   FROM generate_series(0, %(count)s - 1) g),
               request AS (
                   INSERT INTO surveys_sendrequest (department_id, survey_id, channel, audience_kind,
                       audience_filter, earliest_send_at, priority, purpose, status, screening_summary,
                       submitted_at, screened_at, created_at)
                   SELECT %(department)s, %(survey)s, 'email', 'external', '{}', at, 5,
                          'Sent by legacy-tool', 'completed', '{}', %(now)s, %(now)s, %(now)s
                   FROM touch ORDER BY g
                   RETURNING id),
               numbered AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS g FROM request)
               INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, sent_at, expires_at, attempts,
                   reminders_sent, failure_reason, created_at, updated_at)
               SELECT numbered.id, %(survey)s, %(family)s, %(department)s, 'relationship', touch.contact_id,
                      'email', 'expired', touch.at, touch.at, touch.at, 1, 0, '', %(now)s, %(now)s
               FROM numbered JOIN touch USING (g)""",
            {
                "first": first,
                "n": contacts,
                "count": count,
                "now": now,
                "department": marketing.pk,
                "survey": survey.pk,
                "family": survey.family_id,
            },
        )
        cursor.execute(
            """INSERT INTO surveys_externaltouch (department_id, source_tool, external_id, invitation_id,
                                                  created_at)
               SELECT %(department)s, 'legacy-tool', 'lt-' || id, id, %(now)s
               FROM surveys_invitation WHERE survey_id = %(survey)s""",
            {"department": marketing.pk, "survey": survey.pk, "now": now},
        )
        cursor.execute("VACUUM ANALYZE")


def copy_seconds(rows: int) -> float:
    """PostgreSQL's own COPY of `rows` decision-shaped rows into a table shaped like decisions, its
    indexes included, committed — as the screening's own writes are. (A temporary table would skip
    the write-ahead log and the commit's flush, which every real write pays.)"""
    from django.db import connection, transaction

    buffer = io.StringIO()
    for i in range(rows):
        blocked = i % 10 == 0
        buffer.write(
            f"1\t{i + 1}\t{'f' if blocked else 't'}\t{'rule' if blocked else ''}\t"
            f"{1 if blocked else chr(92) + 'N'}\t{1 if blocked else chr(92) + 'N'}\t"
            f"{'2027-01-03 00:00:00+00' if blocked else chr(92) + 'N'}\t\\N\t\\N\t2026-11-23 00:00:00+00\t"
            "2026-11-01\n"
        )
    data = buffer.getvalue()
    columns = (
        "send_request_id, contact_id, allowed, reason, rule_id, rule_version, next_eligible_at, "
        "last_touch_at, last_touch_same_department, decided_at, request_month"
    )
    statement = f"COPY copy_target ({columns}) FROM STDIN"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE copy_target (LIKE surveys_decision INCLUDING ALL)")
        try:
            with stopwatch() as elapsed, transaction.atomic(), cursor.cursor.copy(statement) as copy:
                copy.write(data)
        finally:
            cursor.execute("DROP TABLE copy_target")
    return elapsed()


def writes_seconds(request_id: int) -> float:
    """PostgreSQL writing the screening's own output again: the request's decisions and invitations,
    read back and inserted into empty tables shaped like theirs (indexes included), committed. What
    writing those rows costs with nothing decided, so `seconds` over it says how much deciding adds
    (the COPY above has decisions alone, and no invitation)."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        for table in ("decision", "invitation"):
            cursor.execute(f"CREATE TABLE write_{table} (LIKE surveys_{table} INCLUDING ALL)")
        try:
            with stopwatch() as elapsed, transaction.atomic():
                for table in ("decision", "invitation"):
                    cursor.execute(
                        f"INSERT INTO write_{table} SELECT * FROM surveys_{table} WHERE send_request_id = %s",
                        [request_id],
                    )
        finally:
            for table in ("decision", "invitation"):
                cursor.execute(f"DROP TABLE write_{table}")
    return elapsed()


@contextmanager
def steps_timed():
    """Time each committed batch and the last step of the screenings run inside: yields
    {"batches": [seconds, …], "last_step": [seconds]}, so a run shows whether batches slow down as it
    goes (the whole screening's time says only their sum)."""
    from surveys.gatekeeper import send_requests

    timings: dict[str, list[float]] = {"batches": [], "last_step": []}
    attributes = {"batches": "screening_batch_run", "last_step": "_screening_finish"}

    def timed(name: str, function):
        def run(**kwargs):
            started = time.perf_counter()
            try:
                return function(**kwargs)
            finally:
                timings[name].append(time.perf_counter() - started)

        return run

    originals = {name: getattr(send_requests, attribute) for name, attribute in attributes.items()}
    for name, attribute in attributes.items():
        setattr(send_requests, attribute, timed(name, originals[name]))
    try:
        yield timings
    finally:
        for name, attribute in attributes.items():
            setattr(send_requests, attribute, originals[name])


def steps_summary(timings: dict[str, list[float]]) -> str:
    batches = timings["batches"]
    tenth = max(1, len(batches) // 10)
    return (
        f"batches={len(batches)} batch_seconds sum={sum(batches):.3f} "
        f"first_tenth_median={statistics.median(batches[:tenth]):.3f} "
        f"last_tenth_median={statistics.median(batches[-tenth:]):.3f} slowest={max(batches):.3f} "
        f"last_step_seconds={sum(timings['last_step']):.3f}"
    )


def build_history(args: argparse.Namespace) -> None:
    with stopwatch() as built:
        build(args.contacts, args.touches, bulk=args.bulk_build)
    say(f"built {args.contacts} contacts and {args.touches} touches in {built():.1f}s")
    if args.external_touches:
        with stopwatch() as added:
            add_external_touches(args.external_touches)
        say(f"added {args.external_touches} external touches in {added():.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--touches", type=int, default=5_000_000)
    parser.add_argument(
        "--external-touches",
        type=int,
        default=0,
        help="touches from another survey tool added to the history",
    )
    parser.add_argument(
        "--bulk-build", action="store_true", help="build the history's indexes after its rows (10 M contacts)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--keep-build",
        action="store_true",
        help="keep the built history in a database named by its sizes, and screen a copy of it next time",
    )
    args = parser.parse_args()

    setup_django(DATABASE)
    from django.core.management import call_command

    from surveys.gatekeeper.send_requests import send_request_screen
    from surveys.models import Decision, Invitation, SendRequest

    kept = f"{DATABASE}_built_{args.contacts}_{args.touches}_{args.external_touches}"
    if args.keep_build and database_exists(kept):
        with stopwatch() as copied:
            database_copy(kept, DATABASE)
            # A history kept by an earlier version gets the migrations that came since, as an
            # install's would.
            call_command("migrate", verbosity=0, interactive=False)
        say(f"copied the history built earlier ({kept}) in {copied():.1f}s")
    else:
        build_history(args)
        if args.keep_build:
            database_copy(DATABASE, kept)  # the screening writes into DATABASE, the kept one stays as built
    request_id = SendRequest.objects.get(status="submitted").pk

    with steps_timed() as timings, stopwatch() as screened:
        send_request_screen(send_request_id=request_id)
    seconds = screened()
    say(steps_summary(timings))
    rss = peak_rss_mb()  # before the COPY below builds its rows in memory
    request = SendRequest.objects.get(pk=request_id)
    decisions = Decision.objects.filter(send_request_id=request_id).count()
    invitations = Invitation.objects.filter(send_request_id=request_id).count()
    assert request.status == "screened" and decisions == args.contacts, (request.status, decisions)
    say(f"decisions={decisions} invitations={invitations} summary={request.screening_summary}")

    copy = copy_seconds(args.contacts)
    writes = writes_seconds(request_id)
    if not args.keep:
        drop_database(DATABASE)
    say(
        f"bench screening contacts={args.contacts} touches={args.touches} "
        f"external_touches={args.external_touches} seconds={seconds:.3f} "
        f"copy_seconds={copy:.3f} ratio={seconds / copy:.2f} writes_seconds={writes:.3f} "
        f"ratio_to_writes={seconds / writes:.2f} peak_rss_mb={rss:.0f}"
    )


if __name__ == "__main__":
    main()
