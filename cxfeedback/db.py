"""One statement sent to PostgreSQL without waiting for its answer, for the few places where what
matters is that the statement has left the process before something else does."""

from __future__ import annotations

import select
from collections.abc import Callable, Sequence

from django.db import DatabaseError, connection
from psycopg import pq


def execute_without_waiting(sql: str, params: Sequence[str]) -> Callable[[], int]:
    """Send `sql` ($1, $2 … placeholders, text parameters) on Django's connection and return the
    function that waits for it and gives the number of rows it changed. Outside a transaction (the
    way to use it) the statement commits on its own: once it has left the process, PostgreSQL runs
    it even if the process dies before reading the answer; inside one it is part of it. Call the
    returned function before any other query."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    pgconn.send_query_params(sql.encode(), [param.encode() for param in params])
    while pgconn.flush():  # the connection is non-blocking: wait until the kernel has it all
        select.select([], [pgconn.socket], [])

    def answer() -> int:
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
