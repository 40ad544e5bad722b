"""Django's PostgreSQL backend, but a kept connection is checked without asking the server.

With CONN_HEALTH_CHECKS Django runs `SELECT 1` before each request reuses a connection: a round trip
on every API call, a ninth of a trigger's. An idle connection's socket has nothing to read unless the
server has spoken unasked — a shutdown or a terminated backend sends its error and closes — so the
check looks at the socket first and asks the server only then. A connection that died in silence (a
failover with no reset) is found by the first query, as it would be between the check and that query.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
        return not readable or super().is_usable()
