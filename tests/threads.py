"""Calls raced against each other, each in its own thread and database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def run_together(*calls: Callable[[], object], timeout: float = 60) -> list[BaseException]:
    """Run each call in its own thread, all released at once by a barrier; returns what they raised.
    Each thread closes its connection, so a transactional test's teardown is not kept waiting. A call
    still running after `timeout` seconds fails the test: a deadlock in the locks, most likely."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call):
        try:
            barrier.wait(timeout=30)
            call()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a call hung: a deadlock in the locks?"
    return errors


def sessions_waiting_for_a_lock() -> list[int]:
    """The server pids of this database's sessions waiting for a lock another holds (a row, an
    advisory lock)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE NOT l.granted AND a.datname = current_database()"
        )
        return [row[0] for row in cursor.fetchall()]
