"""Read replicas for the results pages: the dashboard, the drill-down and the exports read from
DATABASE_REPLICA_URL's server when it is set, so a CX lead's year of counts or a million-row export
never competes with the gatekeeper's locks and writes on the primary.

Only GET and HEAD requests under RESULTS_PATHS read from the replica, and only the app's own tables
(REPLICA_APPS): sessions, users and login lockouts stay on the primary, where a sign-in a moment ago
is already visible. Everything else — the gatekeeper above all, which decides on what it just locked —
reads and writes the primary. A replica lags its primary by a little (milliseconds on a healthy
stream): a response submitted this instant may show on the dashboard a moment later, which the
dashboard already promises (its days are rolled up, results/rollups.py).

Raw SQL names its connection itself: `results_connection()` is the one the results pages read from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

REPLICA = "replica"
RESULTS_PATHS = ("/admin/results/", "/api/v1/results/")
REPLICA_APPS = frozenset({"surveys", "results", "contacts", "departments"})

_reading_results: ContextVar[bool] = ContextVar("reading_results", default=False)


def results_alias() -> str:
    """The database alias the results pages read from now: the replica inside `results_reads()`
    when one is configured, else the primary."""
    if _reading_results.get() and REPLICA in settings.DATABASES:
        return REPLICA
    return DEFAULT_DB_ALIAS


def results_connection() -> BaseDatabaseWrapper:
    return connections[results_alias()]


@contextmanager
def results_reads() -> Iterator[None]:
    """Within this block the app's tables are read from the replica (if configured)."""
    token = _reading_results.set(True)
    try:
        yield
    finally:
        _reading_results.reset(token)


class ReplicaRouter:
    """Reads of the app's tables inside `results_reads()` go to the replica; all else to the primary.
    Migrations run on the primary only (a replica follows it)."""

    def db_for_read(self, model, **hints) -> str | None:
        if model._meta.app_label in REPLICA_APPS:
            return results_alias()
        return None

    def db_for_write(self, model, **hints) -> str | None:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS


class ReplicaReadsMiddleware:
    """GET and HEAD under RESULTS_PATHS read inside `results_reads()`, a streamed body (an export)
    as well, while it is being sent."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD") or not request.path.startswith(RESULTS_PATHS):
            return self.get_response(request)
        with results_reads():
            response = self.get_response(request)
        if isinstance(response, StreamingHttpResponse):
            response.streaming_content = _streamed_with_results_reads(response.streaming_content)
        return response


def _streamed_with_results_reads(chunks: Iterator[bytes]) -> Iterator[bytes]:
    with results_reads():
        yield from chunks
