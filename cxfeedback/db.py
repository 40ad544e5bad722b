"""One statement handed to the kernel for PostgreSQL without waiting for its answer, for the few
places where what matters is that the statement can no longer be taken back before something else
happens."""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Sequence

from django.db import DatabaseError, connection
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
