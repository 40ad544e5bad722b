"""Triggers while a 100,000-contact screening and a dispatch run on the same machine (issue 18).

Builds, in a database of its own: bench_trigger's two departments, their surveys, rules, history and
2,000 contacts; a third department (sales) that knows `--screening-contacts` contacts with
`--touches` past invitations; a fourth (billing) whose requests are dispatched. Starts gunicorn as
bench_trigger does, one Celery worker process with two pool processes (one screens while the other
sends; at niceness `--worker-nice`, 0 unless asked) and an SMTP server on loopback in a process of
its own (bench/mail_sink.py), which receives every email.

Each round: the clients fire triggers (bench_trigger's clients: keep-alive, one Idempotency-Key per
call, latency from when a call was due) and, after a short warm-up, a send request to all of sales
is queued for screening by the worker while `--emails` queued invitations of billing are handed to
the worker by the dispatch (run here). The round lasts until the screening has finished and the
last of those emails has arrived (at least `--min-seconds`). The first round offers `--rate` calls a
second, the second calls flat out (`--rate 0` of bench_trigger). Finally bench_trigger's
independent SQL counts violations over everything the triggers, the screenings and the dispatch
wrote.

A screening batch holds the stripe locks of its range of contacts (surveys/gatekeeper/locks.py) until
it commits, so a trigger for one of them waits for it: `screening_p99_ms` is the p99 of the calls due
while the screening ran.

    python bench/bench_trigger_mixed.py [--clients 50] [--rate 200] [--screening-contacts 100000]
        [--touches 300000] [--emails 3000] [--workers 2] [--threads 8] [--worker-class gthread]
        [--worker-nice 0]
    BENCH_WORKER_LOG=1 prints the Celery worker's log.

Last line: bench trigger_mixed clients=C requests=N rps=X p50_ms=M p99_ms=P screening_seconds=S
screening_p99_ms=Q dispatched=D closed_rps=A closed_p99_ms=B violations=V
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import bench_trigger as trigger
from harness import ROOT, drop_database, say, setup_django

DATABASE = "bench_trigger_mixed"
# A broker folder of this run's own (used unless CELERY_BROKER_URL is set): no other worker takes
# its tasks. Set before Django starts, so gunicorn and the worker, started from here, share it.
BROKER_DIR = ROOT / ".local" / f"broker-bench-trigger-mixed-{os.getpid()}"
os.environ["CXFEEDBACK_BROKER_DIR"] = str(BROKER_DIR)
# No quiet hours: the dispatch and the triggers' emails go out whatever the time of day.
os.environ.update({"QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00"})
import bench_dispatch as dispatch  # noqa: E402  (it names a broker folder too; ours is set again below)

os.environ["CXFEEDBACK_BROKER_DIR"] = str(BROKER_DIR)


def screening_audience(department_id: int, contacts: int, touches: int) -> None:
    """`contacts` contacts known to the department, one email each, and `touches` past invitations
    spread over them from completed requests: a contact's touches at least 10 days apart and a year
    or more old, but one contact in ten touched once in the last 60 days. The rules have history to
    count, and the history breaks none of them (the violations counted at the end are the run's)."""
    from django.db import connection
    from django.utils import timezone

    from surveys.models import SendRequest, Survey

    now = timezone.now()
    survey = Survey.objects.create(department_id=department_id, name="Sales history", kind="relationship")
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    history = SendRequest.objects.create(
        department_id=department_id, survey=survey, audience_kind="all_known", status="completed"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM contacts_contact")
        [after] = cursor.fetchone()
        cursor.execute(
            """INSERT INTO contacts_contact (name, locale, time_zone, attributes, created_at, updated_at)
               SELECT 'Sales ' || g, 'en', 'Europe/Berlin', '{}', %(now)s - interval '1000 days', %(now)s
               FROM generate_series(1, %(n)s) g""",
            {"n": contacts, "now": now},
        )
        parameters = {"after": after, "d": department_id, "now": now}
        cursor.execute(
            """INSERT INTO contacts_identity (contact_id, kind, source, value, normalised, created_at)
               SELECT id, 'email', '', 's' || id || '@example.com', 's' || id || '@example.com', %(now)s
               FROM contacts_contact WHERE id > %(after)s""",
            parameters,
        )
        cursor.execute(
            """INSERT INTO contacts_departmentcontact
                   (department_id, contact_id, source, name, locale, time_zone, created_at, updated_at)
               SELECT %(d)s, id, 'import', name, 'en', 'Europe/Berlin', %(now)s, %(now)s
               FROM contacts_contact WHERE id > %(after)s""",
            parameters,
        )
        cursor.execute(
            """INSERT INTO contacts_departmentidentity (department_id, identity_id, created_at)
               SELECT %(d)s, id, %(now)s FROM contacts_identity WHERE contact_id > %(after)s""",
            parameters,
        )
        # One invitation per contact per past request: touch k of a contact comes from request k.
        rounds = -(-touches // contacts)
        requests = [history.pk] + [
            SendRequest.objects.create(
                department_id=department_id, survey=survey, audience_kind="all_known", status="completed"
            ).pk
            for _ in range(rounds - 1)
        ]
        cursor.execute(
            """INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, sent_at, attempts, reminders_sent,
                   failure_reason, created_at, updated_at)
               SELECT (%(requests)s::bigint[])[g / %(n)s + 1], %(s)s, %(s)s, %(d)s, 'relationship',
                      %(after)s + 1 + g %% %(n)s, 'email', 'expired', t, t, 1, 0, '', t, t
               FROM (SELECT g, CASE WHEN g < %(n)s AND g %% 10 = 0
                                        THEN %(now)s - random() * interval '60 days'
                                    ELSE %(now)s - interval '365 days' - (g / %(n)s) * interval '110 days'
                                         - random() * interval '100 days'
                               END AS t
                     FROM generate_series(0, %(t)s - 1) g) x""",
            {**parameters, "n": contacts, "t": touches, "s": survey.pk, "requests": requests},
        )


@dataclass
class Departments:
    sales: object
    billing: object
    billing_survey: object


def build(args: argparse.Namespace) -> tuple[trigger.Target, Departments]:
    """bench_trigger's departments and contacts, then sales (screened) and billing (dispatched)."""
    from django.db import connection

    from departments.models import Department
    from surveys.models import Question, Survey

    target = trigger.build(args.trigger_contacts)
    sales = Department.objects.create(name="Sales", slug="sales")
    screening_audience(sales.pk, args.screening_contacts, args.touches)
    billing = Department.objects.create(name="Billing", slug="billing")
    survey = Survey.objects.create(department=billing, name="After your invoice")
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    survey.refresh_from_db()
    Question.objects.create(survey=survey, position=1, kind="nps", text="How likely…?")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return target, Departments(sales=sales, billing=billing, billing_survey=survey)


def screening_request(sales) -> int:
    """A submitted request to every contact sales knows, for a survey of its own. Its window opens in
    a week, so the dispatch never hands its invitations over: only the screening's work counts."""
    from django.utils import timezone

    from surveys.models import SendRequest, Survey

    survey = Survey.objects.create(department=sales, name="Sales NPS", kind="relationship")
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    now = timezone.now()
    return SendRequest.objects.create(
        department=sales,
        survey=survey,
        channel="email",
        audience_kind="all_known",
        status="submitted",
        submitted_at=now,
        earliest_send_at=now + dt.timedelta(days=7),
    ).pk


class DueLatencies(list):
    """Latencies as bench_trigger's clients append them, each kept also with when its call was due
    (the moment it was answered less its latency), to tell the calls due during the screening."""

    def __init__(self) -> None:
        super().__init__()
        self.due: list[float] = []

    def append(self, latency: float) -> None:
        super().append(latency)
        self.due.append(time.perf_counter() - latency)


@dataclass
class Round:
    """bench_trigger's Run, with an end set when the screening and the dispatch are done."""

    start: float
    interval: float
    end: float = math.inf
    screening_seconds: float = math.nan
    screening_end: float = math.inf
    dispatch_seconds: float = math.nan
    dispatched: int = 0  # the dispatch's emails received by the round's end
    tally: trigger.Tally = field(default_factory=lambda: trigger.Tally(latencies=DueLatencies()))


def background_start(screening_id: int) -> None:
    """Queue the screening for the worker, then hand the due invitations to it (the dispatch)."""
    from surveys.delivery.dispatch import invitations_dispatch_due
    from surveys.tasks import screen_send_request_task

    screen_send_request_task.delay(screening_id)
    invitations_dispatch_due()


def screened(screening_id: int) -> bool:
    from django.db import OperationalError, connection

    from surveys.models import SendRequest

    try:
        return SendRequest.objects.filter(pk=screening_id).exclude(status="submitted").exists()
    except OperationalError:  # the connection was cut (a server shared with other work): ask again
        connection.close()
        return False


async def conduct(
    run: Round, args: argparse.Namespace, screening_id: int, server, expected: set[str]
) -> None:
    """Start the screening and the dispatch when the clients' warm-up ends; end the round when both
    are done (or `--max-seconds` have passed)."""
    await asyncio.sleep(max(0.0, run.start - time.perf_counter()))
    await asyncio.to_thread(background_start, screening_id)
    while time.perf_counter() < run.start + args.max_seconds:
        await asyncio.sleep(0.1)
        now = time.perf_counter()
        if math.isinf(run.screening_end) and await asyncio.to_thread(screened, screening_id):
            run.screening_end, run.screening_seconds = now, now - run.start
        if math.isnan(run.dispatch_seconds) and dispatch.all_received(server, expected):
            run.dispatch_seconds = now - run.start
        if not math.isinf(run.screening_end) and not math.isnan(run.dispatch_seconds):
            break
    await asyncio.sleep(max(0.0, run.start + args.min_seconds - time.perf_counter()))
    run.end = time.perf_counter()
    received = server.message_ids()
    run.dispatched = sum(1 for message_id in expected if received[message_id])


@dataclass(frozen=True)
class RoundResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    screening_p99_ms: float
    screening_seconds: float
    dispatch_seconds: float
    dispatched: int


def percentile_ms(latencies: list[float], fraction: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000 if ordered else math.nan


def round_run(port: int, args: argparse.Namespace, target, departments: Departments, server, rate: float):
    """One round: a fresh billing audience screened (in this process) and a sales screening request,
    then the clients, the screening and the dispatch together. Prints a line; returns the figures."""
    screening_id = screening_request(departments.sales)
    dispatch.audience(departments.billing, args.emails, prefix=f"round{rate:g}-")
    expected = dispatch.invitation_ids(
        dispatch.screened_request(departments.billing, departments.billing_survey)
    )
    server.forget()
    run = Round(
        start=time.perf_counter() + trigger.WARMUP_SECONDS, interval=args.clients / rate if rate else 0.0
    )

    async def everything() -> None:
        await asyncio.gather(
            *(trigger.client(n, port, target, run, run.tally) for n in range(args.clients)),
            conduct(run, args, screening_id, server, expected),
        )

    asyncio.run(everything())
    latencies: DueLatencies = run.tally.latencies
    during = [lat for lat, due in zip(latencies, latencies.due, strict=True) if due <= run.screening_end]
    result = RoundResult(
        requests=len(latencies),
        rps=len(latencies) / (run.end - run.start),
        p50_ms=percentile_ms(latencies, 0.5),
        p99_ms=percentile_ms(latencies, 0.99),
        screening_p99_ms=percentile_ms(during, 0.99),
        screening_seconds=run.screening_seconds,
        dispatch_seconds=run.dispatch_seconds,
        dispatched=run.dispatched,
    )
    say(
        f"round offered_rps={rate:g} seconds={run.end - run.start:.1f} requests={result.requests} "
        f"rps={result.rps:.0f} p50_ms={result.p50_ms:.1f} p99_ms={result.p99_ms:.0f} "
        f"screening_seconds={result.screening_seconds:.2f} screening_p99_ms={result.screening_p99_ms:.0f} "
        f"dispatch_seconds={result.dispatch_seconds:.2f} dispatched={result.dispatched}/{len(expected)} "
        f"statuses={dict(sorted(run.tally.statuses.items()))} load_average={os.getloadavg()[0]:.2f}"
    )
    for error in run.tally.errors:
        say(f"error: {error}")
    # What did not finish within the round finishes now, so the next round starts with an idle worker.
    dispatch.wait_for(
        lambda: screened(screening_id) and dispatch.all_received(server, expected),
        timeout=600,
        what="the round's screening and dispatch",
    )
    return result


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="calls a second offered in round one")
    parser.add_argument("--trigger-contacts", type=int, default=2000)
    parser.add_argument("--screening-contacts", type=int, default=100_000)
    parser.add_argument("--touches", type=int, default=300_000, help="past invitations of sales")
    parser.add_argument("--emails", type=int, default=3000, help="invitations dispatched per round")
    parser.add_argument("--min-seconds", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=90.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument("--worker-class", default="gthread", choices=("gthread", "sync"))
    parser.add_argument("--worker-nice", type=int, default=0, help="the Celery worker's niceness (nice -n)")
    parser.add_argument("--no-closed", action="store_true", help="skip the flat-out round")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stopped from outside: still clean up
    setup_django(DATABASE)
    from mail_sink import MailSink

    from cxfeedback.celery import app
    from tests.workers import CeleryProcess

    started = time.monotonic()
    target, departments = build(args)
    say(f"built in {time.monotonic() - started:.0f} s; load average before: {os.getloadavg()[0]:.2f}")
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    server = MailSink().start()
    worker = CeleryProcess(
        "worker", "--loglevel=WARNING", "--concurrency=2", env=server.env(), nice=args.worker_nice
    ).start()
    folder = tempfile.TemporaryDirectory()
    log = Path(folder.name) / "gunicorn.log"
    web = trigger.gunicorn_start(
        port := trigger.free_port(), args.workers, args.threads, log, worker_class=args.worker_class
    )
    try:
        offered = round_run(port, args, target, departments, server, args.rate)
        closed = None if args.no_closed else round_run(port, args, target, departments, server, 0)
        over, twice = trigger.violations()
    finally:
        trigger.gunicorn_stop(web)
        worker_log = worker.stop()
        server.stop()
        if "Traceback" in log.read_text():
            say(log.read_text()[-2000:])
        if os.environ.get("BENCH_WORKER_LOG"):  # stopping it mid-task logs a WorkerLostError: expected
            say(worker_log)
        folder.cleanup()
        if not args.keep:
            drop_database(DATABASE)
        shutil.rmtree(BROKER_DIR, ignore_errors=True)
    flat = f" closed_rps={closed.rps:.0f} closed_p99_ms={closed.p99_ms:.0f}" if closed else ""
    say(
        f"bench trigger_mixed clients={args.clients} requests={offered.requests} rps={offered.rps:.0f} "
        f"p50_ms={offered.p50_ms:.1f} p99_ms={offered.p99_ms:.0f} "
        f"screening_seconds={offered.screening_seconds:.2f} screening_p99_ms={offered.screening_p99_ms:.0f} "
        f"dispatched={offered.dispatched}{flat} violations={over + twice}"
    )


if __name__ == "__main__":
    main()
