"""Heartbeats of the Celery worker and beat: is anything there to send, and to schedule?

`/healthz` answers for the web process (database, broker); a dead worker or beat sends nothing
while it stays green. So each worker and each beat writes "seen now" into the `heartbeat` table
(surveys migration 0009_heartbeat) every HEARTBEAT_INTERVAL seconds from a thread of its main
process, started by Celery's worker_ready and beat_init signals (cxfeedback/celery.py). A thread,
not a task: a task would wait behind a backlog of send batches and report a busy worker as dead,
and one beat schedules would stop with the beat. `/readyz` and `/metrics` read the ages; any
worker counts, on any machine.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

logger = logging.getLogger(__name__)

PROCESSES = ("worker", "beat")

RECORD_SQL = """
INSERT INTO heartbeat (process, seen_at) VALUES (%s, %s)
ON CONFLICT (process) DO UPDATE SET seen_at = greatest(heartbeat.seen_at, EXCLUDED.seen_at)
"""


def heartbeat_record(*, process: str, now: dt.datetime | None = None) -> None:
    """Write that a `process` ("worker" or "beat") was seen at `now`. Writes the heartbeat table."""
    with connection.cursor() as cursor:
        cursor.execute(RECORD_SQL, [process, now or timezone.now()])


def heartbeats_seen() -> dict[str, dt.datetime]:
    """When each process was last seen; one missing was never seen (or not since the table began)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT process, seen_at FROM heartbeat")
        return dict(cursor.fetchall())


def heartbeat_ages(*, now: dt.datetime | None = None) -> dict[str, float | None]:
    """Seconds since each of PROCESSES was seen; None for never."""
    now = now or timezone.now()
    seen = heartbeats_seen()
    return {
        process: (now - seen[process]).total_seconds() if process in seen else None for process in PROCESSES
    }


def heartbeat_thread_start(*, process: str) -> threading.Thread:
    """Start a daemon thread that records `process` now and every HEARTBEAT_INTERVAL seconds."""
    thread = threading.Thread(
        target=_beat_forever, kwargs={"process": process}, name=f"heartbeat-{process}", daemon=True
    )
    thread.start()
    return thread


def _beat_forever(*, process: str) -> None:
    while True:
        try:
            # The thread's own connection lives for good: drop it if the database went away.
            close_old_connections()
            heartbeat_record(process=process)
        except Exception:
            logger.warning("heartbeat of the %s could not be written", process, exc_info=True)
            connection.close()
        time.sleep(settings.HEARTBEAT_INTERVAL)
