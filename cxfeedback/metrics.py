"""/metrics in Prometheus' text format: is cxfeedback doing its job, and how fast?

Two kinds of series:
- Read from PostgreSQL at each scrape (`DatabaseCollector`), so every web process on every machine
  answers the same, whatever ran where: invitations waiting per state and the oldest one's age,
  stuck sends, unscreened send requests, rollup lag, the worker's and beat's heartbeats
  (cxfeedback/heartbeats.py), and the counters of invitations sent per channel and of decisions
  per reason — the daily rollups (results/rollups.py) plus the days after them, read through the
  same time indexes as the dashboard, in one statement so that a rollup refresh in between can
  neither count a day twice nor miss it.
- Observed by the processes themselves: screening and trigger durations, responses per view and
  status, task failures. Gunicorn runs several processes and Celery's pool more: with
  PROMETHEUS_MULTIPROC_DIR set (prometheus_client's multiprocess mode, one folder per service),
  each writes its values there, and /metrics adds up the folders of METRICS_PROCESS_DIRS — this
  host's web and worker folders. Without it (development, tests) the process's own values.

Nothing here is per department or per contact: an operator's view of the whole installation.
Only for callers with METRICS_TOKEN (`Authorization: Bearer …`) or from METRICS_ALLOWED_NETWORKS.
"""

from __future__ import annotations

import datetime as dt
import glob
import ipaddress
import os
import time
from collections.abc import Callable, Iterator

from celery import signals
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from cxfeedback.heartbeats import heartbeat_ages
from cxfeedback.rate_limit import client_address

SCREEN_TASK = "surveys.tasks.screen_send_request_task"
TRIGGER_VIEW = "trigger-create"

SCREENING_SECONDS = Histogram(
    "cxfeedback_screening_duration_seconds",
    "Time one send request's screening took in the worker (the task, all contacts).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
TRIGGER_SECONDS = Histogram(
    "cxfeedback_trigger_duration_seconds",
    "Server time of one trigger API call (POST /api/v1/triggers), from the first middleware on.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
HTTP_RESPONSES = Counter(
    "cxfeedback_http_responses",
    "Responses by view (API route name, or the area: admin, public, webhook, other) and status.",
    ["view", "status"],
)
TASK_FAILURES = Counter("cxfeedback_task_failures", "Celery tasks that raised, by task.", ["task"])


# ---- observed by the processes ----------------------------------------------------------------


def view_label(request: HttpRequest) -> str:
    """A bounded label: each API route by name, every other page by its area."""
    match = getattr(request, "resolver_match", None)
    path = request.path
    if path.startswith("/api/"):
        return (match.url_name if match else "") or "api-unknown"
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/webhooks/"):
        return "webhook"
    if path[:3] in ("/t/", "/s/", "/u/", "/p/"):
        return "public"
    return "other"


class MetricsMiddleware:
    """Counts responses per view and status, and times trigger calls."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        view = view_label(request)
        if view == TRIGGER_VIEW:
            TRIGGER_SECONDS.observe(time.perf_counter() - started)
        HTTP_RESPONSES.labels(view=view, status=str(response.status_code)).inc()
        return response


_task_started: dict[str, float] = {}


@signals.task_prerun.connect(weak=False)
def _task_start(task_id: str = "", **kwargs) -> None:
    _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect(weak=False)
def _task_end(task_id: str = "", task=None, state: str = "", **kwargs) -> None:
    started = _task_started.pop(task_id, None)
    if started is not None and task is not None and task.name == SCREEN_TASK and state == "SUCCESS":
        SCREENING_SECONDS.observe(time.perf_counter() - started)


@signals.task_failure.connect(weak=False)
def _task_failed(sender=None, **kwargs) -> None:
    TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()


# ---- read from PostgreSQL -------------------------------------------------------------------

# Invitations waiting to go out, found as dispatch and the sweeper find them: through the requests
# being delivered (the send_request_delivering index) and each one's invitations, never the whole
# table. queued_due may be sent now; queued_later waits for its time (quiet hours, the request's
# window); sending is claimed by a task, and stuck once older than DELIVERY_STUCK_AFTER.
PENDING_SQL = """
SELECT state, count(*), min(since), count(*) FILTER (WHERE stuck)
FROM (
    SELECT CASE WHEN i.status = 'sending' THEN 'sending'
                WHEN greatest(coalesce(i.send_after, i.touched_at), r.earliest_send_at) <= %(now)s
                THEN 'queued_due' ELSE 'queued_later' END AS state,
           CASE WHEN i.status = 'sending' THEN i.updated_at
                ELSE greatest(coalesce(i.send_after, i.touched_at), r.earliest_send_at) END AS since,
           i.status = 'sending' AND i.updated_at < %(stuck_before)s AS stuck
    FROM surveys_sendrequest r JOIN surveys_invitation i ON i.send_request_id = r.id
    WHERE r.status IN ('screened', 'sending') AND i.status IN ('queued', 'sending')
) pending
GROUP BY state
"""
UNSCREENED_SQL = "SELECT count(*), min(submitted_at) FROM surveys_sendrequest WHERE status = 'submitted'"
# Where the rollups end and the live tables take over: midnight after the last rolled-up day.
_SINCE = """
WITH since AS (
    SELECT coalesce(
        (SELECT (rolled_through + 1)::timestamp AT TIME ZONE %(tz)s
         FROM results_dailyrollupstate WHERE id = 1 AND rolled_through IS NOT NULL),
        '-infinity'::timestamptz) AS at
)
"""
SENT_SQL = (
    _SINCE  # noqa: S608 — constants only; values are bound parameters
    + """
SELECT channel, sum(n) FROM (
    SELECT channel, sum(invitations_sent) AS n FROM results_dailyresults GROUP BY channel
    UNION ALL
    SELECT i.channel, count(*) FROM surveys_invitation i, since
    WHERE i.sent_at IS NOT NULL AND i.sent_at >= since.at GROUP BY i.channel
) sent GROUP BY channel
"""
)
DECISIONS_SQL = (
    _SINCE  # noqa: S608 — constants only; values are bound parameters
    + """
SELECT allowed, reason, sum(n) FROM (
    SELECT allowed, reason, sum(contacts) AS n FROM results_dailydecisions GROUP BY allowed, reason
    UNION ALL
    SELECT d.allowed, d.reason, count(*) FROM surveys_decision d, since
    WHERE d.decided_at >= since.at GROUP BY d.allowed, d.reason
) decided GROUP BY allowed, reason
"""
)
ROLLUP_SQL = "SELECT rolled_through FROM results_dailyrollupstate WHERE id = 1"
PENDING_STATES = ("queued_due", "queued_later", "sending")


class DatabaseCollector:
    """The installation's state, read at each scrape (a few indexed queries)."""

    def collect(self) -> Iterator:
        now = timezone.now()
        with connection.cursor() as cursor:
            yield from self._pending(cursor, now)
            yield from self._unscreened(cursor, now)
            yield from self._counters(cursor)
            yield from self._rollup_lag(cursor, now)
        yield from self._heartbeats(now)

    def _pending(self, cursor, now: dt.datetime) -> Iterator:
        stuck_before = now - dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER)
        cursor.execute(PENDING_SQL, {"now": now, "stuck_before": stuck_before})
        rows = {state: (count, since, stuck) for state, count, since, stuck in cursor.fetchall()}
        pending = GaugeMetricFamily(
            "cxfeedback_invitations_pending", "Invitations not yet sent, by state.", labels=["state"]
        )
        oldest = GaugeMetricFamily(
            "cxfeedback_invitations_oldest_age_seconds",
            "Age of the oldest invitation in a state: due for (queued_due) or claimed for (sending).",
            labels=["state"],
        )
        for state in PENDING_STATES:
            count, since, _ = rows.get(state, (0, None, 0))
            pending.add_metric([state], count)
            if state != "queued_later":
                oldest.add_metric([state], max(0.0, (now - since).total_seconds()) if since else 0.0)
        yield pending
        yield oldest
        yield GaugeMetricFamily(
            "cxfeedback_invitations_stuck",
            "Invitations in sending for longer than DELIVERY_STUCK_AFTER: their worker died; the "
            "sweeper re-queues them.",
            value=rows.get("sending", (0, None, 0))[2],
        )

    def _unscreened(self, cursor, now: dt.datetime) -> Iterator:
        cursor.execute(UNSCREENED_SQL)
        count, oldest = cursor.fetchone()
        yield GaugeMetricFamily(
            "cxfeedback_send_requests_unscreened",
            "Submitted send requests waiting for screening.",
            value=count,
        )
        yield GaugeMetricFamily(
            "cxfeedback_send_requests_unscreened_oldest_age_seconds",
            "How long the oldest unscreened send request has waited (0: none).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )

    def _counters(self, cursor) -> Iterator:
        cursor.execute(SENT_SQL, {"tz": settings.TIME_ZONE})
        sent = CounterMetricFamily(
            "cxfeedback_invitations_sent",
            "Invitations sent since the beginning, by channel.",
            labels=["channel"],
        )
        for channel, count in cursor.fetchall():
            sent.add_metric([channel], int(count))
        yield sent
        cursor.execute(DECISIONS_SQL, {"tz": settings.TIME_ZONE})
        decisions = CounterMetricFamily(
            "cxfeedback_decisions",
            "The gatekeeper's decisions since the beginning, by reason (allowed, or why not).",
            labels=["reason"],
        )
        totals: dict[str, int] = {}
        for allowed, reason, count in cursor.fetchall():
            label = "allowed" if allowed else reason or "blocked"
            totals[label] = totals.get(label, 0) + int(count)
        for label, count in sorted(totals.items()):
            decisions.add_metric([label], count)
        yield decisions

    def _rollup_lag(self, cursor, now: dt.datetime) -> Iterator:
        cursor.execute(ROLLUP_SQL)
        row = cursor.fetchone()
        if row is None or row[0] is None:
            return  # never rolled up yet: no lag to speak of
        rolled_end = timezone.make_aware(dt.datetime.combine(row[0] + dt.timedelta(days=1), dt.time.min))
        yield GaugeMetricFamily(
            "cxfeedback_rollup_lag_seconds",
            "Time since the end of the last day the dashboard's rollups hold (about 1 day when all is well).",
            value=max(0.0, (now - rolled_end).total_seconds()),
        )

    def _heartbeats(self, now: dt.datetime) -> Iterator:
        ages = GaugeMetricFamily(
            "cxfeedback_heartbeat_age_seconds",
            "Seconds since a worker / the beat was last seen (absent: never).",
            labels=["process"],
        )
        for process, age in heartbeat_ages(now=now).items():
            if age is not None:
                ages.add_metric([process], age)
        yield ages


class ProcessFilesCollector:
    """The multiprocess files of every folder in METRICS_PROCESS_DIRS, added up."""

    def __init__(self, folders: list[str]):
        self.folders = folders

    def collect(self) -> Iterator:
        files = [path for folder in self.folders for path in glob.glob(os.path.join(folder, "*.db"))]
        return iter(MultiProcessCollector.merge(files, accumulate=True))


# ---- the endpoint ----------------------------------------------------------------------------


def metrics_allowed(request: HttpRequest) -> bool:
    """The caller has METRICS_TOKEN, or comes from METRICS_ALLOWED_NETWORKS."""
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and constant_time_compare(given, token):
        return True
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    # 404 rather than 403: without the token the endpoint is not there.
    if not metrics_allowed(request):
        return HttpResponse("Not found.", status=404, content_type="text/plain")
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    if settings.METRICS_PROCESS_DIRS:
        processes = CollectorRegistry(auto_describe=False)
        processes.register(ProcessFilesCollector(settings.METRICS_PROCESS_DIRS))
    else:
        processes = REGISTRY
    body = generate_latest(processes) + generate_latest(database)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
