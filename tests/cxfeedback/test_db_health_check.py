"""A kept database connection is checked before a request reuses it (cxfeedback/postgresql/base.py):
one the server has ended is replaced, so the request after a database restart does not fail; a
healthy one is kept and asked nothing."""

import psycopg
import pytest
from django.core.signals import request_started
from django.db import connection

from tests import workers
from tests.workers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def kept_connection():
    """Django's connection as CONN_MAX_AGE keeps it between requests (the tests' settings close it)."""
    connection.ensure_connection()
    connection.close_at = None
    yield connection
    connection.close()


def a_request_starts() -> None:
    request_started.send(sender=None)  # Django closes what is unusable or obsolete


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid: int) -> None:
    with psycopg.connect(workers.test_database_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def statements_sent_by(kept) -> list[str]:
    """The cursors the connection opens from now on (a check by query opens one)."""
    sent: list[str] = []
    original = kept.connection.cursor

    def cursor(*args, **kwargs):
        sent.append("cursor")
        return original(*args, **kwargs)

    kept.connection.cursor = cursor
    return sent


def test_a_connection_the_server_ended_is_replaced_before_the_next_request_uses_it(kept_connection):
    old_pid = backend_pid()
    terminate(old_pid)
    wait_until(lambda: not kept_connection.is_usable(), timeout=10)

    a_request_starts()

    assert backend_pid() != old_pid  # a new connection answered, no error


def test_a_healthy_kept_connection_is_reused_without_a_query_to_check_it(kept_connection):
    old_pid = backend_pid()
    sent = statements_sent_by(kept_connection)

    a_request_starts()
    kept_connection.close_if_health_check_failed()

    assert sent == []  # Django's own check would have sent SELECT 1
    assert backend_pid() == old_pid
