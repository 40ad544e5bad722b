"""Everything real, on loopback, for one reliability run: a database of its own, gunicorn with two
workers, a Celery worker and beat, a broker, and an SMTP server that keeps every message.

    stack = Stack(workdir).start()
    … stack.base_url, stack.keys["support"], stack.sql(…), stack.worker_kill() …
    stack.stop()

The database is `cxfeedback_reliability`, created fresh (and dropped by stop()) on the embedded
PostgreSQL server or DATABASE_URL's server, as the benchmarks do (bench/harness.py). The broker is
the filesystem broker in a folder of this run's own (no other worker on the machine takes its
tasks), or, when CELERY_BROKER_URL names Redis and `redis-server` is on PATH, a redis-server of the
run's own on a free port (append-only file, so a restart keeps what was queued), which can be
stopped without touching the machine's Redis. This process sets Django up on the same database, so
checks read exactly what the app wrote.

Stopping the filesystem broker moves its folder away: kombu's filesystem transport then stops the
worker ("Unrecoverable error"), and so does kombu's Redis transport when Redis goes away
(AttributeError in restore_unacked); `supervise()` starts it again, as systemd's Restart=always
would in production. The worker and beat run with short retry backoffs and dispatch intervals and
no quiet hours (`_celery_service`), so a fault recovers in seconds.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
# Two runs on one PostgreSQL server (side by side on a shared machine) each name their own.
DATABASE = os.environ.get("RELIABILITY_DATABASE", "cxfeedback_reliability")
DEPARTMENTS = ("support", "marketing", "sales", "billing")
SECRET = "reliability-only-not-a-secret"  # noqa: S105 - a throwaway app on loopback
# The invitation's id is in its Message-ID (surveys/delivery/channels/email.py), the token in its
# unsubscribe link.
MESSAGE_ID = re.compile(rb"Message-ID: <invitation-(\d+)\.([\w-]+)@", re.IGNORECASE)
UNSUBSCRIBE_TOKEN = re.compile(rb"/u/([A-Za-z0-9_\-]+)>")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def say(line: str) -> None:
    print(line, flush=True)


@dataclass
class Department:
    slug: str
    pk: int
    key: str  # the plain API key
    surveys: list[int] = field(default_factory=list)  # current survey ids


class Service:
    """A subprocess in a session of its own (so a kill takes its children too), logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        with self.log.open("a") as out:
            out.write(f"\n=== start {time.strftime('%H:%M:%S')}\n")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: the process and its children die wherever they are."""
        if self.running:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if not self.running:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class Stack:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.broker_dir = workdir / "broker"
        self.redis: Service | None = None
        self.redis_port = 0
        self.departments: dict[str, Department] = {}
        self.contact_ids: list[int] = []  # the load's contacts, known to every department
        self.web: Service | None = None
        self.worker: Service | None = None
        self.beat: Service | None = None
        self.smtp = None
        self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"

    # -- Start and stop ---------------------------------------------------------------------------

    def start(self) -> Stack:
        self._broker_choose()
        self._django_setup()
        self._build()
        from tests.smtp import LoopbackSmtp

        self.smtp = LoopbackSmtp().start()
        self.web = self._web_service().start()
        self._web_wait()
        self.worker = self._celery_service("worker").start()
        self.beat = self._celery_service("beat").start()
        return self

    def stop(self, *, keep_database: bool = False) -> None:
        for service in (self.beat, self.worker, self.web, self.redis):
            if service is not None:
                service.stop()
        if self.smtp is not None:
            self.smtp.stop()
        if not keep_database:
            self._database_drop()

    def _broker_choose(self) -> None:
        """This run's own broker: a filesystem folder, or a redis-server on a free port."""
        url = os.environ.get("CELERY_BROKER_URL", "")
        if url.startswith("redis") and shutil.which("redis-server"):
            self.redis_port = free_port()
            os.environ["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
            self.redis = self._redis_service()
            self.broker_start()
        elif not url:
            os.environ["CXFEEDBACK_BROKER_DIR"] = str(self.broker_dir)

    @property
    def broker_kind(self) -> str:
        if self.redis is not None:
            return "redis"
        return "external" if os.environ.get("CELERY_BROKER_URL") else "filesystem"

    def _django_setup(self) -> None:
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxfeedback.settings")
        os.environ.setdefault("SECRET_KEY", SECRET)
        # No provider webhooks under test: off, so DEBUG off needs no webhook secrets to start.
        os.environ.setdefault("PROVIDER_WEBHOOKS", "")
        os.environ.setdefault("STATIC_MANIFEST", "false")
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection, connections

        self._admin_database = settings.DATABASES["default"]["NAME"]
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{DATABASE}"')
        connections.close_all()
        settings.DATABASES["default"]["NAME"] = DATABASE
        connections["default"].settings_dict["NAME"] = DATABASE
        call_command("migrate", verbosity=0, interactive=False)

    def _database_drop(self) -> None:
        from django.conf import settings
        from django.db import connections

        connections.close_all()
        settings.DATABASES["default"]["NAME"] = self._admin_database
        connections["default"].settings_dict["NAME"] = self._admin_database
        with connections["default"].cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connections.close_all()

    def database_url(self, name: str = DATABASE) -> str:
        """This run's database (or `name` on its server) as a URL for the subprocesses (socket
        directories quoted)."""
        from django.db import connection

        s = connection.settings_dict
        host = s["HOST"] or "127.0.0.1"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        password = f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else ""
        return f"postgresql://{quote(s['USER'], safe='')}{password}@{quote(host, safe='')}{port}/{name}"

    # -- Data -------------------------------------------------------------------------------------

    def _build(self, contacts: int = 1200) -> None:
        """Four departments with a key and two surveys each, four active rules, and `contacts`
        contacts (one email each, a segment attribute for filtered audiences) known to all four."""
        from departments.models import Department as DepartmentModel
        from departments.services import api_key_create
        from surveys.models import FrequencyRule

        for slug in DEPARTMENTS:
            department = DepartmentModel.objects.create(name=slug.title(), slug=slug)
            key = api_key_create(department=department, name="reliability")[1]
            surveys = [
                self.survey_create(department.pk, f"{slug.title()} after a ticket", "transactional"),
                self.survey_create(department.pk, f"{slug.title()} relationship", "relationship"),
            ]
            self.departments[slug] = Department(slug=slug, pk=department.pk, key=key, surveys=surveys)
        support = self.departments["support"].pk
        FrequencyRule.objects.create(name="Two a week", max_touches=2, window=dt.timedelta(days=7))
        FrequencyRule.objects.create(
            name="Support: one a fortnight", max_touches=1, window=dt.timedelta(days=14),
            scope_department_id=support,
        )  # fmt: skip
        FrequencyRule.objects.create(
            name="Three emails a month", max_touches=3, window=dt.timedelta(days=30), scope_channel="email"
        )
        FrequencyRule.objects.create(
            name="One relationship survey a month", max_touches=1, window=dt.timedelta(days=30),
            scope_survey_kind="relationship",
        )  # fmt: skip
        self.contact_ids = self.contacts_create(contacts, "load", list(self.departments.values()))

    def survey_create(self, department_id: int, name: str, kind: str) -> int:
        from surveys.models import Question, Survey

        survey = Survey.objects.create(department_id=department_id, name=name, kind=kind)
        Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
        Question.objects.create(survey=survey, position=1, kind="nps", text="Would you recommend us?")
        return survey.pk

    def contacts_create(self, count: int, label: str, departments: list[Department]) -> list[int]:
        """`count` new contacts with an email each (`<label>-<id>@example.com`), known to `departments`,
        in 20 segments (attribute `segment`: s0…s19). Returns their ids."""
        from django.db import connection
        from django.utils import timezone

        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO contacts_contact (name, locale, time_zone, attributes, created_at, updated_at)
                   SELECT %(label)s || ' ' || g, 'en', 'UTC',
                          jsonb_build_object('segment', 's' || (g %% 20), 'batch', %(label)s),
                          %(now)s - interval '400 days', %(now)s
                   FROM generate_series(1, %(n)s) g RETURNING id""",
                {"n": count, "now": now, "label": label},
            )
            ids = sorted(row[0] for row in cursor.fetchall())
            # The first department wrote the email (contacts/supplies.py); the others supplied it too.
            cursor.execute(
                """INSERT INTO contacts_identity
                       (contact_id, kind, source, value, normalised, department_id, created_at)
                   SELECT id, 'email', '', %(label)s || '-' || id || '@example.com',
                          %(label)s || '-' || id || '@example.com', %(first)s, %(now)s
                   FROM unnest(%(ids)s::bigint[]) id""",
                {"ids": ids, "now": now, "label": label, "first": departments[0].pk},
            )
            cursor.execute(
                """INSERT INTO contacts_departmentcontact
                       (department_id, contact_id, source, name, locale, time_zone, attributes,
                        created_at, updated_at)
                   SELECT d, c.id, 'import', c.name, c.locale, c.time_zone, c.attributes, %(now)s, %(now)s
                   FROM contacts_contact c, unnest(%(d)s::bigint[]) d WHERE c.id = ANY(%(ids)s)""",
                {"now": now, "ids": ids, "d": [d.pk for d in departments]},
            )
            cursor.execute(
                """INSERT INTO contacts_departmentidentity (department_id, identity_id, created_at)
                   SELECT d, i.id, %(now)s
                   FROM contacts_identity i, unnest(%(d)s::bigint[]) d WHERE i.contact_id = ANY(%(ids)s)""",
                {"now": now, "ids": ids, "d": [d.pk for d in departments[1:]]},
            )
            cursor.execute("ANALYZE")
        return ids

    def department_create(self, slug: str) -> Department:
        """A department of a fault's own, with a key and one transactional survey."""
        from departments.models import Department as DepartmentModel
        from departments.services import api_key_create

        department = DepartmentModel.objects.create(name=slug.title(), slug=slug)
        key = api_key_create(department=department, name="reliability")[1]
        survey = self.survey_create(department.pk, f"{slug.title()} survey", "transactional")
        self.departments[slug] = Department(slug=slug, pk=department.pk, key=key, surveys=[survey])
        return self.departments[slug]

    def sql(self, query: str, params=None) -> list[tuple]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    # -- Web --------------------------------------------------------------------------------------

    def _env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url(),
            "DEBUG": "false",
            "SECRET_KEY": SECRET,
            "PROVIDER_WEBHOOKS": "",  # none under test (see _django_setup)
            "STATIC_MANIFEST": "false",
            "LOG_LEVEL": "WARNING",
            "SITE_URL": self.base_url,
            "PYTHONUNBUFFERED": "1",
        }
        env.update(extra)
        return env

    def _web_service(self) -> Service:
        env = self._env(
            DB_CONN_MAX_AGE=os.environ.get("DB_CONN_MAX_AGE", "600"),
            DB_SERVER_SIDE_BINDING=os.environ.get("DB_SERVER_SIDE_BINDING", "true"),
            # The load comes from one address: the per-client limit of the public pages is not under test.
            PUBLIC_RATE_LIMIT="1000000/minute",
        )
        command = [
            sys.executable, "-m", "gunicorn", "cxfeedback.wsgi", "--workers", "2", "--threads", "4",
            "--bind", f"127.0.0.1:{self.web_port}", "--keep-alive", "30", "--log-level", "warning",
            "--graceful-timeout", "5",
        ]  # fmt: skip
        return Service("web", command, env, self.workdir / "gunicorn.log")

    def _web_wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.web.running:
                raise RuntimeError(f"gunicorn exited:\n{self.web.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=5) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{self.web.log.read_text()[-3000:]}")

    def web_worker_pids(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.web.process.pid).children()]

    def web_kill_one_worker(self) -> int:
        """SIGKILL one gunicorn worker mid-request; the master starts another. Returns its pid."""
        pid = self.web_worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    # -- Celery -----------------------------------------------------------------------------------

    def _celery_service(self, kind: str) -> Service:
        env = self._env(
            **self.smtp.env(),
            EMAIL_TIMEOUT="5",
            QUIET_HOURS_START="00:00",  # no quiet hours: every contact is in UTC and the run is now
            QUIET_HOURS_END="00:00",
            DELIVERY_RETRY_BACKOFF="1",
            DELIVERY_RETRY_BACKOFF_MAX="4",
            DELIVERY_MAX_ATTEMPTS="20",
            DISPATCH_INTERVAL="2",
            SWEEP_INTERVAL="30",
        )
        command = [sys.executable, "-m", "celery", "-A", "cxfeedback", kind, "--loglevel=INFO"]
        if kind == "worker":
            command += ["--pool=prefork", "--concurrency=2", "--without-mingle", "--without-gossip"]
        else:
            command += ["--schedule", str(self.workdir / "beat-schedule")]
        return Service(kind, command, env, self.workdir / f"celery-{kind}.log")

    def worker_kill(self) -> None:
        self.worker.kill()

    def worker_start(self) -> None:
        self.worker.start()

    # -- Broker -----------------------------------------------------------------------------------

    def _redis_service(self) -> Service:
        folder = self.workdir / "redis"
        folder.mkdir(exist_ok=True)
        command = [
            shutil.which("redis-server"), "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", str(folder),
        ]  # fmt: skip
        return Service("redis", command, dict(os.environ), self.workdir / "redis.log")

    def broker_stop(self) -> bool:
        """Make the broker unavailable. Redis: stop our redis-server. Filesystem: move the broker's
        folder away, so every publish and every poll fails as with a broker that is down. False if
        the broker is someone else's (CELERY_BROKER_URL not ours to stop)."""
        if self.redis is not None:
            self.redis.kill()
            return True
        if self.broker_kind == "filesystem":
            self.broker_dir.rename(self.broker_dir.with_name("broker-down"))
            return True
        return False

    def broker_start(self) -> None:
        if self.redis is not None:
            self.redis.start()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.redis_port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.1)
            raise RuntimeError("redis-server did not start")
        if self.broker_kind == "filesystem":
            self.broker_dir.with_name("broker-down").rename(self.broker_dir)

    def supervise(self) -> list[str]:
        """Start again whichever Celery process has exited, as a process supervisor (systemd's
        Restart=always) would; returns their names."""
        restarted = []
        for service in (self.worker, self.beat):
            if not service.running:
                service.start()
                restarted.append(service.name)
        return restarted

    # -- SMTP -------------------------------------------------------------------------------------

    def smtp_refuse(self, reply: str = "451 4.3.0 Try again later") -> None:
        self.smtp.handler.refuse_all = reply

    def smtp_accept(self) -> None:
        self.smtp.handler.refuse_all = ""

    def smtp_counts(self) -> Counter:
        """SMTP transactions per invitation id (invitations only, not reminders)."""
        with self.smtp.handler.lock:
            raw = list(self.smtp.handler.raw)
        counts: Counter = Counter()
        for content in raw:
            found = MESSAGE_ID.search(content)
            if found and found.group(2) == b"invite":
                counts[int(found.group(1))] += 1
        return counts

    def smtp_tokens(self) -> dict[int, str]:
        """The personal-link token of each invitation received, by invitation id."""
        with self.smtp.handler.lock:
            raw = list(self.smtp.handler.raw)
        tokens = {}
        for content in raw:
            found, token = MESSAGE_ID.search(content), UNSUBSCRIBE_TOKEN.search(content)
            if found and token and found.group(2) == b"invite":
                tokens[int(found.group(1))] = token.group(1).decode()
        return tokens

    # -- Waiting for the worker -------------------------------------------------------------------

    def unfinished(self, request_ids: list[int] | None = None) -> tuple[int, int]:
        """(requests still submitted, invitations still queued or sending), of `request_ids` or all."""
        where = "" if request_ids is None else "AND send_request_id = ANY(%(ids)s)"
        where_r = "" if request_ids is None else "AND id = ANY(%(ids)s)"
        [(requests,)] = self.sql(
            f"SELECT count(*) FROM surveys_sendrequest WHERE status = 'submitted' {where_r}",  # noqa: S608
            {"ids": request_ids},
        )
        [(invitations,)] = self.sql(
            f"SELECT count(*) FROM surveys_invitation WHERE status IN ('queued', 'sending') {where}",  # noqa: S608
            {"ids": request_ids},
        )
        return requests, invitations

    def drain(self, *, timeout: float = 180, stall: float = 25, request_ids: list[int] | None = None) -> str:
        """Wait until the worker has screened every submitted request and sent every queued invitation.

        If nothing moves for `stall` seconds while work is left, runs the sweeper (delivery's, and the
        re-queueing of screenings) as beat would run it once DELIVERY_STUCK_AFTER and
        DELIVERY_HANDOFF_LEASE have passed — what a dead worker or a lost task left — since the run
        cannot wait those 10 and 30 minutes. Returns a note of what it took ("" if it drained by
        itself); raises nothing: the checks count what is left.
        """
        from django.conf import settings
        from django.utils import timezone

        from surveys.delivery.sweeper import invitations_sweep_stuck
        from surveys.gatekeeper.send_requests import send_requests_screen_again

        started = last_change = time.monotonic()
        previous = None
        swept = 0
        while time.monotonic() - started < timeout:
            left = self.unfinished(request_ids)
            if left == (0, 0):
                return f"swept {swept}x" if swept else ""
            if left != previous:
                previous, last_change = left, time.monotonic()
            elif time.monotonic() - last_change > stall:
                later = timezone.now() + dt.timedelta(
                    seconds=max(settings.DELIVERY_STUCK_AFTER, settings.DELIVERY_HANDOFF_LEASE) + 1
                )
                invitations_sweep_stuck(now=later)
                send_requests_screen_again(now=later)
                swept += 1
                last_change = time.monotonic()
            time.sleep(0.5)
        return f"not drained after {timeout:.0f} s: {self.unfinished(request_ids)} left"
