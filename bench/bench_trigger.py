"""Triggered single-contact sends through the API, 50 concurrent clients (PRODUCT.md §8).

Builds, in a database of its own: 2,000 contacts (one email each) known to two departments, three
current surveys per department, three active rules and a little history. Starts gunicorn on that
database (persistent connections), then 50 keep-alive HTTP/1.1 clients — plain asyncio, light
enough not to be the bottleneck — POST /api/v1/triggers for random contacts and surveys, each call
with its own Idempotency-Key, for `--seconds` after a short warm-up. Every answer is a decision
(201 queued, 200 blocked). Finally an SQL query that shares no code with the gatekeeper counts
violations: a contact with more counted touches inside some window of an active rule than the rule
allows, or with two open invitations for one survey.

The clients together offer `--rate` calls a second, each at a steady pace; latency counts from when
a call was due. The default offers 310/s: `rps` divides the calls by the time until the last one
answered, so an offered 300/s could never show 300. (Fifty clients calling back to back can never
show a p99 under 100 ms below 500 calls/s: each waits for the other 49. `--rate 0` does that, to
find the most the server takes.)

    python bench/bench_trigger.py [--clients 50] [--rate 310] [--seconds 25] [--workers 2] [--threads 8]
                                  [--worker-class gthread|sync]

gunicorn runs with DB_CONN_MAX_AGE=600 and DB_SERVER_SIDE_BINDING=true unless the environment says
otherwise. Also prints CPU milliseconds per call of gunicorn, PostgreSQL and the load generator
(Linux), which say what the machine could serve if nothing else ran on it.

Then, for `--closed-seconds` each, the app and a baseline flat out (`--rate 0`): the baseline is a bare
DRF view under the same gunicorn settings on the same database (bench/trigger_baseline_urls.py: a
header check, a row lock, a count and an insert per call), so `ratio` (the app's calls per second
over the baseline's) says how much of the machine the trigger's decision leaves to everything else,
on any machine and however busy it is.

Last line: bench trigger clients=C requests=N rps=X p99_ms=P closed_rps=A baseline_rps=B ratio=A/B
violations=V
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from harness import ROOT, drop_database, say, setup_django

DATABASE = "bench_trigger"
WARMUP_SECONDS = 3.0


@dataclass
class Target:
    """What the clients call: one API key per department and that department's surveys."""

    keys: list[str]
    surveys: list[list[int]]  # per key
    emails: list[str]


def build(contacts: int) -> Target:
    """Departments, keys, surveys, rules and contacts, with history that breaks no rule."""
    from django.db import connection
    from django.utils import timezone

    from departments.models import Department
    from departments.services import api_key_create
    from surveys.models import FrequencyRule, Question, SendRequest, Survey

    now = timezone.now()
    departments = [Department.objects.create(name=n.title(), slug=n) for n in ("support", "marketing")]
    keys, surveys = [], []
    for department in departments:
        keys.append(api_key_create(department=department, name="bench")[1])
        own = []
        for n, kind in enumerate(("transactional", "transactional", "relationship")):
            survey = Survey.objects.create(department=department, name=f"{department.name} {n}", kind=kind)
            Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
            Question.objects.create(survey=survey, position=1, kind="nps", text="Would you recommend us?")
            own.append(survey.pk)
        surveys.append(own)
    support = departments[0]
    FrequencyRule.objects.create(name="Two a week", max_touches=2, window=dt.timedelta(days=7))
    FrequencyRule.objects.create(
        name="Support: one a fortnight", max_touches=1, window=dt.timedelta(days=14), scope_department=support
    )
    FrequencyRule.objects.create(
        name="Three emails a month", max_touches=3, window=dt.timedelta(days=30), scope_channel="email"
    )
    history = SendRequest.objects.create(
        department=departments[1], survey_id=surveys[1][2], audience_kind="all_known", status="completed"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO contacts_contact (name, locale, time_zone, attributes, created_at, updated_at)
               SELECT 'Contact ' || g, 'en', 'Europe/Berlin', '{}', %(now)s - interval '400 days', %(now)s
               FROM generate_series(1, %(n)s) g""",
            {"n": contacts, "now": now},
        )
        cursor.execute(
            """INSERT INTO contacts_identity (contact_id, kind, source, value, normalised, created_at)
               SELECT id, 'email', '', 'c' || id || '@example.com', 'c' || id || '@example.com', %(now)s
               FROM contacts_contact""",
            {"now": now},
        )
        cursor.execute(
            """INSERT INTO contacts_departmentcontact
                   (department_id, contact_id, source, name, locale, time_zone, created_at, updated_at)
               SELECT d, c.id, 'import', 'Contact ' || c.id, 'en', 'Europe/Berlin', %(now)s, %(now)s
               FROM contacts_contact c, unnest(%(d)s::bigint[]) d""",
            {"now": now, "d": [d.pk for d in departments]},
        )
        # Every department supplied the email, so a trigger naming it needs no upsert.
        cursor.execute(
            """INSERT INTO contacts_departmentidentity (department_id, identity_id, created_at)
               SELECT d, i.id, %(now)s FROM contacts_identity i, unnest(%(d)s::bigint[]) d""",
            {"now": now, "d": [d.pk for d in departments]},
        )
        # Half the contacts heard from marketing 10 to 25 days ago: one touch, inside every rule.
        cursor.execute(
            """INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, sent_at, attempts, reminders_sent,
                   failure_reason, created_at, updated_at)
               SELECT %(r)s, %(s)s, %(s)s, %(d)s, 'relationship', id, 'email', 'expired', t, t, 1, 0, '', t, t
               FROM (SELECT id, %(now)s - interval '10 days' - random() * interval '15 days' AS t
                     FROM contacts_contact WHERE id %% 2 = 0) x""",
            {"r": history.pk, "s": surveys[1][2], "d": departments[1].pk, "now": now},
        )
        cursor.execute("SELECT value FROM contacts_identity ORDER BY contact_id")
        emails = [row[0] for row in cursor.fetchall()]
        baseline_build(cursor, contacts)
        cursor.execute("VACUUM ANALYZE")
    return Target(keys=keys, surveys=surveys, emails=emails)


def baseline_build(cursor, contacts: int) -> None:
    """The baseline's tables (bench/trigger_baseline_urls.py): one row per contact to lock, and touches
    with the same history as the app's (half the contacts touched once 10 to 25 days ago)."""
    cursor.execute("CREATE TABLE baseline_contact (id bigint PRIMARY KEY)")
    cursor.execute(
        """CREATE TABLE baseline_touch (id bigserial PRIMARY KEY, contact_id bigint NOT NULL,
               survey_id bigint NOT NULL, at timestamptz NOT NULL)"""
    )
    cursor.execute("CREATE INDEX ON baseline_touch (contact_id, at)")
    cursor.execute("INSERT INTO baseline_contact SELECT generate_series(1, %s)", [contacts])
    cursor.execute(
        """INSERT INTO baseline_touch (contact_id, survey_id, at)
           SELECT g, 0, now() - interval '10 days' - random() * interval '15 days'
           FROM generate_series(2, %s, 2) g""",
        [contacts],
    )


def database_url() -> str:
    """The bench database as a URL, so gunicorn's processes use it (socket directories quoted)."""
    from django.db import connection

    s = connection.settings_dict
    host = quote(s["HOST"] or "127.0.0.1", safe="")
    password = f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else ""
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgresql://{quote(s['USER'], safe='')}{password}@{host}{port}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_start(
    port: int,
    workers: int,
    threads: int,
    log: Path,
    extra_env: dict[str, str] | None = None,
    worker_class: str = "gthread",
) -> subprocess.Popen:
    """gunicorn serving the app (or, with `extra_env` naming other settings, the baseline). The sync
    worker class serves one request per process at a time and ignores `threads`."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DB_CONN_MAX_AGE": os.environ.get("DB_CONN_MAX_AGE", "600"),
        "DB_SERVER_SIDE_BINDING": os.environ.get("DB_SERVER_SIDE_BINDING", "true"),
        "DEBUG": "false",
        "SECRET_KEY": "benchmarks-only-not-a-secret",
        "PROVIDER_WEBHOOKS": "",  # none in a benchmark, so no webhook secrets are needed
        "STATIC_MANIFEST": "false",
        "LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-m", "gunicorn", "cxfeedback.wsgi",
        "--worker-class", worker_class, "--workers", str(workers), "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}",
        "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.3)
    gunicorn_stop(process)
    raise RuntimeError(f"gunicorn did not answer within 60 s:\n{log.read_text()[-3000:]}")


def gunicorn_stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # seconds used while measuring


async def client(number: int, port: int, target: Target, run: Run, tally: Tally) -> None:
    """One keep-alive connection sending a trigger every `run.interval` seconds (back to back if 0)
    until `run.end`. Latency runs from when a call was due, not from when it went out, so a server
    that falls behind is charged for the wait (no "coordinated omission")."""
    rng = random.Random(number)
    key = target.keys[number % len(target.keys)]
    surveys = target.surveys[number % len(target.keys)]
    due = time.perf_counter() + rng.uniform(0, run.interval)  # spread the clients' phases
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            if run.interval:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            else:
                due = time.perf_counter()
            if due >= run.end or time.perf_counter() >= run.end:  # an overloaded server: stop on time
                break
            body = json.dumps(
                {
                    "survey": rng.choice(surveys),
                    "channel": "email",
                    "contact": {"identities": [{"kind": "email", "value": rng.choice(target.emails)}]},
                    "purpose": "bench",
                }
            ).encode()
            writer.write(
                b"POST /api/v1/triggers HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {key}\r\nIdempotency-Key: {uuid.uuid4()}\r\n".encode()
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            status, answer, close = await response_read(reader)
            if due >= run.start:
                tally.latencies.append(time.perf_counter() - due)
                tally.statuses[status] = tally.statuses.get(status, 0) + 1
                if status not in (200, 201) and len(tally.errors) < 5:
                    tally.errors.append(f"{status} {answer[:300]!r}")
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            due += run.interval
    finally:
        writer.close()


async def response_read(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {
        name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() == "close"


@dataclass(frozen=True)
class Run:
    start: float  # calls due from here on are counted (before: warm-up)
    end: float
    interval: float  # seconds between one client's calls; 0: back to back


async def load(
    port: int, target: Target, clients: int, seconds: float, rate: float, server_pid: int
) -> tuple[Tally, float]:
    tally = Tally()
    start = time.perf_counter() + WARMUP_SECONDS
    run = Run(start=start, end=start + seconds, interval=clients / rate if rate else 0.0)
    await asyncio.gather(
        *(client(n, port, target, run, tally) for n in range(clients)),
        cpu_measure(server_pid, start, tally),
    )
    tally.cpu = {name: used - tally.cpu.get(name, 0.0) for name, used in cpu_seconds(server_pid).items()}
    return tally, time.perf_counter() - start


async def cpu_measure(server_pid: int, start: float, tally: Tally) -> None:
    await asyncio.sleep(start - time.perf_counter())
    tally.cpu = cpu_seconds(server_pid)


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds used so far by gunicorn's processes, the bench database's PostgreSQL backends and
    this process (the load generator). Linux only (/proc); elsewhere just this process."""
    used = {"app": 0.0, "db": 0.0, "client": sum(os.times()[:2])}
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        if int(fields[2]) == server_pid:  # process group: gunicorn and its workers
            used["app"] += cpu
        elif command.startswith(b"postgres: ") and f" {DATABASE} ".encode() in command:  # "user db host"
            used["db"] += cpu
    return used


def violations() -> tuple[int, int]:
    """Contacts over a rule and second open invitations, by the reliability suite's independent SQL
    (written from the rules' definition, not from surveys/gatekeeper/screening.py)."""
    from django.db import connection

    from reliability.checks import OVER_RULE_SQL, TWO_OPEN_SQL

    with connection.cursor() as cursor:
        cursor.execute(OVER_RULE_SQL)
        [over] = cursor.fetchone()
        cursor.execute(TWO_OPEN_SQL)
        [twice] = cursor.fetchone()
    return over, twice


@dataclass(frozen=True)
class Phase:
    """One load run against one server: its calls per second, latencies (ms) and server log."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    log: str


def phase_run(name: str, args: argparse.Namespace, target: Target, rate: float, seconds: float,
              extra_env: dict[str, str] | None = None) -> Phase:  # fmt: skip
    """Start gunicorn (the app, or the baseline with `extra_env`), load it, stop it; print a line."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "gunicorn.log"
        server = gunicorn_start(
            port := free_port(), args.workers, args.threads, log, extra_env, args.worker_class
        )
        try:
            tally, elapsed = asyncio.run(load(port, target, args.clients, seconds, rate, server.pid))
        finally:
            gunicorn_stop(server)
        server_log = log.read_text()
    latencies = sorted(tally.latencies)
    requests = len(latencies)
    p99 = latencies[min(requests - 1, int(requests * 0.99))] * 1000 if requests else float("nan")
    p50 = latencies[requests // 2] * 1000 if requests else float("nan")
    cpu = {key: used * 1000 / max(requests, 1) for key, used in tally.cpu.items()}
    say(
        f"{name}: offered_rps={rate:g} requests={requests} rps={requests / elapsed:.0f} p50_ms={p50:.1f} "
        f"p99_ms={p99:.0f} statuses={dict(sorted(tally.statuses.items()))} cpu_ms_per_request "
        + " ".join(f"{key}={ms:.2f}" for key, ms in cpu.items())
        + f" load_average={os.getloadavg()[0]:.2f}"
    )
    for error in tally.errors:
        say(f"error: {error}")
    if "Traceback" in server_log:
        say(server_log[-2000:])
    return Phase(rps=requests / elapsed, p50_ms=p50, p99_ms=p99, requests=requests, log=server_log)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=310.0,
        help="calls per second offered by all clients together; 0: flat out",
    )
    parser.add_argument(
        "--closed-seconds",
        type=float,
        default=10.0,
        help="seconds of the flat-out runs of the app and the baseline (0: neither)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker")
    parser.add_argument(
        "--worker-class", default="gthread", choices=("gthread", "sync"), help="gunicorn worker class"
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    setup_django(DATABASE)
    target = build(args.contacts)
    from surveys.models import Decision, Invitation

    say(f"built {args.contacts} contacts; load average before: {os.getloadavg()[0]:.2f}")
    offered = phase_run("trigger", args, target, args.rate, args.seconds)
    closed = baseline = None
    if args.closed_seconds:
        closed = phase_run("trigger flat out", args, target, 0, args.closed_seconds)
        baseline_env = {
            "DJANGO_SETTINGS_MODULE": "bench.trigger_baseline_settings",
            "BASELINE_KEYS": ",".join(target.keys),
            "BASELINE_CONTACTS": str(args.contacts),
        }
        baseline = phase_run("baseline flat out", args, target, 0, args.closed_seconds, baseline_env)
    crowded, twice = violations()
    say(
        f"decisions={Decision.objects.count()} invitations={Invitation.objects.count()} "
        f"over_rule={crowded} two_open={twice} workers={args.workers} threads={args.threads}"
    )
    if not args.keep:
        drop_database(DATABASE)
    compared = (
        f" closed_rps={closed.rps:.0f} baseline_rps={baseline.rps:.0f} ratio={closed.rps / baseline.rps:.2f}"
        if closed and baseline
        else ""
    )
    say(
        f"bench trigger clients={args.clients} requests={offered.requests} rps={offered.rps:.0f} "
        f"p99_ms={offered.p99_ms:.0f}{compared} violations={crowded + twice}"
    )


if __name__ == "__main__":
    main()
