"""One statement handed to the kernel for PostgreSQL without waiting for its answer, for the few
places where what matters is that the statement can no longer be taken back before something else
happens."""

from __future__ import annotations

import functools
import re
import select
import socket
from collections.abc import Callable, Sequence

import psycopg
from django.db import DatabaseError, connection
from django.db.backends.utils import CursorWrapper
from psycopg import pq


def execute_without_waiting(sql: str, params: Sequence[str]) -> Callable[[], int]:
    """Hand `sql` ($1, $2 … placeholders, text parameters) to the kernel on Django's connection and
    return the function that sends it on, waits for it and gives the number of rows it changed.

    Once this returns the statement cannot be taken back: if the process dies before calling the
    function, closing its socket sends the statement, and PostgreSQL runs it all the same. Outside
    a transaction (the way to use it) it commits on its own; inside one it is part of it. Call the
    function before any other query.

    Over TCP the kernel holds the statement (TCP_CORK) until the function is called. Sent at once,
    it would wake PostgreSQL's backend, and on a busy machine the scheduler often runs the woken
    backend there and then, pausing this process for as long: what the caller does next (SMTP's
    final ".") would follow by a hundred microseconds or more instead of one or two. A Unix socket
    (the embedded server) cannot hold it, and the statement leaves at once."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    corked = _cork(pgconn.socket, True)
    try:
        pgconn.send_query_params(sql.encode(), [param.encode() for param in params])
        while pgconn.flush():  # the connection is non-blocking: wait until the kernel has it all
            select.select([], [pgconn.socket], [])
    except BaseException:
        if corked:  # held, every later query on this connection would wait out the cork's 200 ms
            _cork(pgconn.socket, False)
        raise

    def answer() -> int:
        if corked:
            _cork(pgconn.socket, False)
        while True:
            pgconn.consume_input()
            if not pgconn.is_busy():
                break
            select.select([pgconn.socket], [], [])
        result, rows = pgconn.get_result(), 0
        while result is not None:
            if result.status != pq.ExecStatus.COMMAND_OK:
                error = result.error_message.decode(errors="replace")
                while pgconn.get_result() is not None:
                    pass
                raise DatabaseError(error)
            rows += int(result.command_tuples or 0)
            result = pgconn.get_result()
        return rows

    return answer


def _cork(fd: int, on: bool) -> bool:
    """Set TCP_CORK on the socket `fd` (without taking it over); False if it is not a TCP socket."""
    sock = socket.socket(fileno=fd)
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(on))
        return True
    finally:
        sock.detach()


def prepared_cursor() -> CursorWrapper:
    """A Django cursor that binds parameters on the server and prepares each statement on its first
    run, so PostgreSQL plans it once per connection, not on every call (Django's own cursors bind on
    the client, which never prepares; psycopg's own threshold, DB_PREPARE_THRESHOLD, would plan it
    anew on each of its first runs, about 10 ms of the server's time for the screening statement).

    For the single-contact statements (triggers, eligibility): planning the screening statement
    took about 4 ms of the server's time, running it for one contact 0.2 ms. A raw cursor
    (PostgreSQL's own $1 placeholders, see numbered_placeholders) unless Django logs queries, which
    it can only show with psycopg's placeholders. Behind PgBouncer in transaction mode (no
    threshold) nothing is prepared.
    """
    connection.ensure_connection()
    if connection.queries_logged:
        return connection.make_debug_cursor(_Cursor(connection.connection))
    return connection.make_cursor(_RawCursor(connection.connection))


def prepared_fetch(sql: str, params: dict) -> list[tuple]:
    """The rows of `sql` (%(name)s placeholders, `params` by name) run through prepared_cursor."""
    with prepared_cursor() as cursor:
        if isinstance(cursor.cursor, psycopg.RawCursor):
            numbered, names = numbered_placeholders(sql)
            cursor.execute(numbered, [params[name] for name in names])
        else:
            cursor.execute(sql, params)
        return cursor.fetchall()


class _PrepareAtOnce:
    """A psycopg cursor that prepares what it runs at once, not at the connection's threshold."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


class _RawCursor(_PrepareAtOnce, psycopg.RawCursor):
    pass


class _Cursor(_PrepareAtOnce, psycopg.Cursor):
    pass


_NAMED_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@functools.lru_cache(maxsize=64)
def numbered_placeholders(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with its %(name)s placeholders as PostgreSQL's $1, $2 …, and the names in that order.

    Cached: the few-contact statements differ only by the rules that cover a send, and psycopg's
    own conversion, redone on every call for a statement this long, was a twentieth of a trigger.
    """
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAMED_PLACEHOLDER.sub(number, sql).replace("%%", "%"), tuple(names)
