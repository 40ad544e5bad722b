"""What every background job that works through a file in committed chunks shares (contact imports,
touch imports, audience uploads): the run lock a live worker holds, and the sweeper that fails a job
whose worker died and queues again one whose broker message was lost.

A job's model has `status` (JobStatus's values), `rows_done`, `progress_at` (its last sign of
life), `error` and `completed_at`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from django.db.models import Model, QuerySet


class JobStatus(models.TextChoices):
    """The states of a job that imports a file (a touch import's, an audience upload's; a contact
    import adds "previewed"): each change a conditional UPDATE, so a cancel and a finishing worker
    cannot both win."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


QUEUED, RUNNING, FAILED = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED


@contextmanager
def run_lock(namespace: int, job_id: int) -> Iterator[bool]:
    """An advisory lock on one job for as long as a run lasts. A worker that dies drops its
    connections and with them the lock, so the broker's second delivery (or a resume) runs the job
    again; while the first run lives, a second delivery finds the lock taken and leaves, and the
    sweeper leaves its job alone. `namespace` keeps one kind of job's ids apart from another's.

    The lock is a transaction's, held open on a connection of its own: behind a transaction-pooling
    PgBouncer an open transaction keeps its server connection, and one cut off mid-transaction is
    closed, whereas a session's lock stayed on whichever pooled server connection took it, after its
    worker was gone. The open transaction holds no snapshot between statements (read committed), so
    it keeps no row versions from vacuum."""
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [namespace, job_id])
            (mine,) = cursor.fetchone()
        yield mine
    finally:
        with suppress(DatabaseError):  # a connection the server cut ends its lock anyway
            holder.rollback()
        holder.close()


def silent_jobs_sweep(
    jobs: QuerySet,
    *,
    namespace: int,
    lease: int,
    now: dt.datetime,
    reason: Callable[[int], str],
    publish: Callable[[Model], None],
) -> int:
    """Mark running jobs silent for `lease` seconds failed with `reason(rows_done)`, unless a live
    worker still holds their run lock; queue again (`publish`, after commit) the queued ones no
    worker took (the broker lost the message). Returns how many jobs were marked failed."""
    cutoff = now - dt.timedelta(seconds=lease)
    failed = 0
    silent = jobs.filter(status=RUNNING, progress_at__lt=cutoff)
    for job_id, rows_done in silent.values_list("pk", "rows_done"):
        with run_lock(namespace, job_id) as free:
            if not free:
                continue  # a worker still runs it, only slowly
            failed += jobs.filter(pk=job_id, status=RUNNING, progress_at__lt=cutoff).update(
                status=FAILED, completed_at=now, error=reason(rows_done)
            )
    for job in jobs.filter(status=QUEUED, progress_at__lt=cutoff):
        with transaction.atomic():
            jobs.filter(pk=job.pk).update(progress_at=now)
            publish(job)
    return failed


def percent_done(rows_done: int, rows_total: int | None, *, completed: bool) -> int:
    """rows_done of rows_total as 0–100, for a progress bar; 100 once completed, 0 before the count."""
    if completed:
        return 100
    return min(100, rows_done * 100 // rows_total) if rows_total else 0
