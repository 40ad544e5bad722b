"""Decisions partitioned by month (issue 18): old months can be detached and archived without a long
DELETE, and a month's partition is all a history read of that month touches.

The partition key is the *send request's* month (`request_month`, the first day of the month of its
`created_at`, in UTC), copied onto each of its decisions, not the decision's own time: a request's
decisions then share one partition, so the unique (send request, contact, month) constraint that
keeps a decision one per contact means what (send request, contact) meant. `id` stays unique through
its sequence; the table's primary key is (id, month), Django's stays `id`.

Each month's partition is made ahead (`decision_partitions_ensure`, run by the beat; the migration
that partitioned the table made the first ones), by creating a table and attaching it, which locks
the parent only against other schema changes.
Decisions of a month without a partition go to the default one and are moved into the month's
partition once it is made, so a beat that stopped for a while loses nothing. A month is detached
(`decision_partition_detach`) once it has ended and all its requests are completed or cancelled; the
detached table stays, under its name, to be archived and dropped by whoever keeps the history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from surveys.errors import PartitionRefused
from surveys.models import SendRequest
from surveys.models.gatekeeper import request_month_of

TABLE = "surveys_decision"
DEFAULT_PARTITION = "surveys_decision_default"
MONTHS_AHEAD = 2  # the current month's partition and the next two's, made ahead by the beat

# The month of a request, in SQL, for the statements that write decisions.
REQUEST_MONTH_SQL = "date_trunc('month', {created_at} AT TIME ZONE 'UTC')::date"

# Makes the partition of the month of `month` unless a table of its name exists, moving that
# month's decisions out of the default partition into it first. Returns its name, or NULL.
MONTH_ENSURE_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION surveys_decision_month_ensure(month date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    next date := (date_trunc('month', month) + interval '1 month')::date;
    name text := 'surveys_decision_' || to_char(month, 'YYYY_MM');
BEGIN
    IF to_regclass(format('%I.%I', current_schema(), name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE surveys_decision INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format(
        'WITH moved AS (DELETE FROM surveys_decision_default WHERE request_month >= %L AND request_month < %L
                        RETURNING *)
         INSERT INTO %I SELECT * FROM moved', first, next, name);
    EXECUTE format('ALTER TABLE surveys_decision ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   name, first, next);
    RETURN name;
END
$$
"""

FINISHED = (SendRequest.Status.COMPLETED, SendRequest.Status.CANCELLED)


@dataclass(frozen=True)
class Partition:
    name: str
    month: dt.date | None  # None for the default partition
    rows: int  # PostgreSQL's estimate, as of the last ANALYZE


def _months(first: dt.date, count: int) -> list[dt.date]:
    months = [first]
    for _ in range(count):
        last = months[-1]
        months.append(dt.date(last.year + last.month // 12, last.month % 12 + 1, 1))
    return months


def decision_partitions_ensure(
    *, now: dt.datetime | None = None, months_ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Make the missing partitions of the current month, the `months_ahead` after it and every month
    the default partition holds decisions of (moving those in); returns the names made. Safe to run
    at once from two places: the second waits for the first and makes none."""
    made = []
    with transaction.atomic(), connection.cursor() as cursor:
        # Two runs at once would both find a month missing; the second waits here for the first.
        cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"SELECT DISTINCT request_month FROM {DEFAULT_PARTITION}")
        stray = {month for (month,) in cursor.fetchall()}
        for month in sorted(stray | set(_months(request_month_of(now or timezone.now()), months_ahead))):
            cursor.execute("SELECT surveys_decision_month_ensure(%s)", [month])
            name = cursor.fetchone()[0]
            if name:
                made.append(name)
    return made


def decision_partitions() -> list[Partition]:
    """The partitions attached now, the default one last."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = %s::regclass ORDER BY c.relname""",
            [TABLE],
        )
        rows = cursor.fetchall()
    partitions = [
        Partition(name=name, month=None if bound == "DEFAULT" else _bound_month(bound), rows=count)
        for name, bound, count in rows
    ]
    return sorted(partitions, key=lambda p: (p.month is None, p.month or dt.date.min))


def _bound_month(bound: str) -> dt.date:
    # "FOR VALUES FROM ('2026-12-01') TO ('2027-01-01')"
    return dt.date.fromisoformat(bound.split("'")[1])


def decision_partition_detach(*, month: dt.date, now: dt.datetime | None = None) -> str:
    """Detach the partition of `month` from the decisions; returns its name. Refuses (400) a month
    not yet over, one without a partition, and one with a request neither completed nor cancelled
    (a draft too: once submitted, its decisions would belong to that month)."""
    month = month.replace(day=1)
    if month >= request_month_of(now or timezone.now()):
        raise PartitionRefused(f"month: {month:%Y-%m} has not ended; only a past month can be detached.")
    name = f"{TABLE}_{month:%Y_%m}"
    if name not in {p.name for p in decision_partitions()}:
        raise PartitionRefused(f"month: the decisions have no partition for {month:%Y-%m}.")
    next_month = _months(month, 1)[1]
    open_requests = (
        SendRequest.objects.filter(created_at__gte=_utc(month), created_at__lt=_utc(next_month))
        .exclude(status__in=FINISHED)
        .count()
    )
    if open_requests:
        raise PartitionRefused(
            f"month: {open_requests} send request(s) of {month:%Y-%m} are not completed or cancelled yet."
        )
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
    return name


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
