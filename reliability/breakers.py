"""What the newer faults break, on this run's own stack only: the database (every connection cut
and none let in for a while, as a PostgreSQL restart looks to the app), the broker's queued
messages (a Redis restarted without persistence), and the Celery processes' clock.

The PostgreSQL server may be the machine's, shared with other work: a fault never restarts it, it
closes this run's database to connections instead (ALTER DATABASE … ALLOW_CONNECTIONS false, then
pg_terminate_backend of every session in it), which is what clients see of a restart.
"""

from __future__ import annotations

import shutil
import sys
import time

from reliability.stack import DATABASE, Stack


def _admin_connection(stack: Stack):
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s.get("PORT") or None,
        user=s["USER"],
        password=s.get("PASSWORD") or None,
        dbname=stack._admin_database,
        autocommit=True,
    )


def database_outage(stack: Stack, seconds: float) -> int:
    """Cut every session of the run's database and refuse new ones for `seconds`; returns how many
    sessions were cut. This process's own connection is cut too and opened again afterwards."""
    from django.db import connections

    with _admin_connection(stack) as admin:
        admin.execute(f'ALTER DATABASE "{DATABASE}" ALLOW_CONNECTIONS false')
        try:
            cut = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                [DATABASE],
            ).fetchone()[0]
            time.sleep(seconds)
        finally:
            admin.execute(f'ALTER DATABASE "{DATABASE}" ALLOW_CONNECTIONS true')
    connections.close_all()
    return cut


def broker_flush(stack: Stack) -> int | None:
    """Lose every message the broker holds: Redis killed and started again with its data files gone
    (a Redis without persistence); the filesystem broker's queued files deleted. Returns how many
    messages were lost (queued and delivered-unacknowledged), None if the broker is not this run's."""
    if stack.redis is not None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=stack.redis_port)
        held = sum(
            client.llen(key) if client.type(key) == b"list" else client.hlen(key) if key == b"unacked" else 0
            for key in client.scan_iter()
        )
        client.close()
        stack.redis.kill()
        folder = stack.workdir / "redis"
        shutil.rmtree(folder)
        folder.mkdir()
        stack.broker_start()
        return held
    if stack.broker_kind == "filesystem":
        messages = list((stack.broker_dir / "queue").iterdir())
        for message in messages:
            message.unlink(missing_ok=True)
        return len(messages)
    return None


def celery_restart(stack: Stack, *, clock_ahead: float = 0) -> None:
    """Stop the worker and beat (warm shutdown) and start them again, their clock `clock_ahead`
    seconds ahead of the machine's (reliability/clock_ahead.py) when given. A clock ahead uses a
    beat schedule file of its own, so the beat that comes back to the real clock does not wait for
    runs it wrote in the future."""
    for service in (stack.beat, stack.worker):
        service.stop()
    stack.worker = stack._celery_service("worker")
    stack.beat = stack._celery_service("beat")
    if clock_ahead:
        for service in (stack.worker, stack.beat):
            celery = service.command.index("celery")
            service.command = [
                sys.executable, "-m", "reliability.clock_ahead", str(clock_ahead),
                *service.command[celery + 3 :],
            ]  # fmt: skip
            # Every periodic task within seconds of the jump, as a beat that finds them all overdue.
            service.env.update(EXPIRE_INTERVAL="5", REMINDER_INTERVAL="5", RESERVATION_RELEASE_INTERVAL="5")
            if "--schedule" in service.command:
                at = service.command.index("--schedule") + 1
                service.command[at] += "-ahead"
    stack.worker.start()
    stack.beat.start()
