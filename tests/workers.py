"""A real Celery worker (and beat) for tests about delivery: a subprocess on the same broker as
the tests, reading the test database. Use with `@pytest.mark.django_db(transaction=True)` so the
worker sees what the test wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """A DATABASE_URL for the database the tests are using right now."""
    settings = connection.settings_dict
    host = settings["HOST"] or "127.0.0.1"
    port = f":{settings['PORT']}" if settings.get("PORT") and not host.startswith("/") else ""
    password = f":{quote(settings['PASSWORD'])}" if settings.get("PASSWORD") else ""
    return f"postgresql://{quote(settings['USER'])}{password}@{quote(host, safe='')}{port}/{settings['NAME']}"


class CeleryProcess:
    """`celery -A cxfeedback worker|beat` in a subprocess, stopped (or killed) on demand."""

    def __init__(self, kind: str, *extra: str, env: dict[str, str] | None = None, nice: int = 0):
        self.kind = kind
        self.nice = nice
        self.extra = extra
        self.env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> CeleryProcess:
        command = ["nice", "-n", str(self.nice)] if self.nice else []
        command += [sys.executable, "-m", "celery", "-A", "cxfeedback", self.kind, "--loglevel=INFO"]
        if self.kind == "worker":
            command += [
                "--pool=prefork",
                "--concurrency=1",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
            ]
        self.process = subprocess.Popen(
            [*command, *self.extra],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and its pool children die mid-task."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, *, finish_tasks: bool = False) -> str:
        """Stop; return what the process printed (for failure messages).

        SIGTERM goes to the whole group, so a pool child ends mid-task; with `finish_tasks` it goes
        to the main process alone, whose warm shutdown lets the running task finish (and log) first.
        """
        if self.process is None:
            return ""
        if self.process.poll() is None:
            if finish_tasks:
                os.kill(self.process.pid, signal.SIGTERM)
            else:
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        output = self.process.stdout.read() if self.process.stdout else ""
        return output


def wait_until(predicate, *, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
