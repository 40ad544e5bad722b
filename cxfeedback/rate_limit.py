"""Requests per client in a fixed window, counted in PostgreSQL.

The public pages use it (surveys/public/views.py) with settings.PUBLIC_RATE_LIMIT, and the API per key
(cxfeedback/api_throttle.py, settings.API_RATE_LIMIT). The count lives in the
database every gunicorn worker and every machine already shares, so no cache server is needed and
the limit holds across all of them. One statement per request counts and reads at once (an
upsert), so two requests at the same moment can never both slip under the limit, and it costs one
round trip — Django's database cache backend would take six (get, then count, select and update in
a transaction). The table (surveys migration 0004_rate_limit) is UNLOGGED: counters are worth no
WAL, and losing them in a crash only forgives a minute. Counters of clients not seen for a day are
deleted on the beat (rate_limit_counters_purge), not by a request, so a request always costs exactly
one statement.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpRequest

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
TABLE = "rate_limit_counter"
# A counter whose window started longer ago than this is of a client gone quiet: the purge deletes it,
# which keeps the table at about the number of clients of the last day.
KEEP_SECONDS = 86400


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds

    @classmethod
    def parse(cls, text: str) -> Rate:
        """'60/minute' → Rate(60, 60). Raises ImproperlyConfigured for anything else."""
        count, _, unit = text.partition("/")
        try:
            limit, period = int(count), PERIODS[unit.strip().lower()]
        except (ValueError, KeyError) as error:
            raise ImproperlyConfigured(
                f"A rate is written like 60/minute (second, minute, hour, day), not {text!r}"
            ) from error
        if limit < 1:
            raise ImproperlyConfigured(f"A rate allows at least one request, not {text!r}")
        return cls(limit=limit, period=period)


def client_address(request: HttpRequest) -> str:
    """The client's IP: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the X-Forwarded-For entry
    the outermost one appended (entries further left are whatever the client wrote)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [
        part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()
    ]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


# The first request of a window starts its count at 1; later ones add 1. Row lock: a concurrent
# request for the same client waits for this one's statement, then counts on top of it.
COUNT_SQL = f"""
INSERT INTO {TABLE} AS counter (scope, client, window_start, hits) VALUES (%s, %s, %s, 1)
ON CONFLICT (scope, client) DO UPDATE SET
    hits = CASE WHEN counter.window_start = EXCLUDED.window_start THEN counter.hits + 1 ELSE 1 END,
    window_start = EXCLUDED.window_start
RETURNING hits
"""  # noqa: S608 — the table name is a constant


def rate_limit_exceeded(
    request: HttpRequest, *, scope: str, rate: Rate, now: float | None = None, client: str | None = None
) -> int:
    """Count this request against the client's window (`client`, else its address); the seconds
    until the window ends if it is over the limit, else 0. Writes the client's counter."""
    now = time.time() if now is None else now
    window = math.floor(now / rate.period)
    with connection.cursor() as cursor:
        client = client_address(request) if client is None else client
        cursor.execute(COUNT_SQL, [scope, client[:100], window * rate.period])
        hits = cursor.fetchone()[0]
    if hits <= rate.limit:
        return 0
    return max(1, math.ceil((window + 1) * rate.period - now))


def rate_limit_counters_purge(*, now: float | None = None) -> int:
    """Delete the counters of clients not seen for KEEP_SECONDS; how many were deleted. A client
    that comes back starts a fresh window, as it would have anyway."""
    now = time.time() if now is None else now
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE window_start < %s", [now - KEEP_SECONDS])  # noqa: S608
        return cursor.rowcount
