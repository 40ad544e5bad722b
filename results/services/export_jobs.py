"""Export jobs: a results export of more than RESULTS_EXPORT_JOB_ROWS responses is written by a
worker (results/tasks.py::run_export_job_task), never inside a web request (issue 19).

- states: queued → running → done; failed (with the reason); cancelled. Each change is a
  conditional UPDATE, so a cancel and a finishing worker cannot both win.
- chunks: FETCH_ROWS responses at a time, read by keyset (response id) up to the newest response
  when the job first ran, written with results/exports.py's own row and cell code, so the file is
  byte for byte what the streamed export gives. After each chunk the file is fsync'd, then its
  length and last response id are stored with the progress (rows_done of rows_total; `progress_at`
  is the job's sign of life, a chunk takes well under a second).
- resume: a run (the broker's second delivery after a worker died, or the sweeper's re-queue)
  truncates the file to the last committed length and carries on after the last committed
  response: no row twice, none missing.
- a dead worker: the sweeper queues a running job silent for EXPORT_LEASE seconds again,
  unless a live worker still holds its run lock; after EXPORT_MAX_ATTEMPTS runs it marks it
  failed, with the reason.
- cancel: the running job stops before its next chunk and its file is deleted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from cxfeedback import embedded
from cxfeedback.background_jobs import run_lock
from cxfeedback.publish import publish_on_commit
from departments.actors import Actor
from results import exports
from results.errors import ExportJobRefused
from results.filters import ResultsFilter, responses_for
from results.models import ExportJob
from results.selectors.export_jobs import export_job_get

logger = logging.getLogger(__name__)

State = ExportJob.State
ACTIVE = (State.QUEUED, State.RUNNING)

# A running job silent this long (seconds) has lost its worker: a chunk takes well under a second.
EXPORT_LEASE = 120
# Runs a job may start (resumes included) before the sweeper gives up on it.
EXPORT_MAX_ATTEMPTS = 3

# The first key of the run lock (cxfeedback/background_jobs.py) a run holds on its job; the second is its id.
RUN_LOCK_NAMESPACE = 0x7265  # "re": results exports


def export_directory() -> Path:
    """Where finished and running exports' files are kept (under the git-ignored .local/)."""
    return Path(getattr(settings, "RESULTS_EXPORT_DIR", embedded.LOCAL_DIR / "exports"))


def _publish(job: ExportJob) -> None:
    from results.tasks import run_export_job_task

    publish_on_commit(run_export_job_task, job.pk)


def export_job_queue(*, actor: Actor, results_filter: ResultsFilter, kind: str) -> ExportJob:
    """Store an export job for what the actor sees through the filter and queue it after commit."""
    job = ExportJob(
        kind=kind,
        created_by_id=actor.user_id,
        api_key_id=actor.api_key_id,
        department_ids=sorted(actor.department_ids),
        is_cx_lead=actor.is_cx_lead,
        results_filter=_filter_stored(results_filter),
    )
    job.file_path = str(export_directory() / f"{kind}-{job.public_id.hex}.csv")
    with transaction.atomic():
        job.save()
        _publish(job)
    return job


def export_job_cancel(*, actor: Actor, public_id: str) -> ExportJob:
    """Stop a queued or running job before its next chunk and delete its file. Raises NotFound,
    ExportJobRefused (it has ended)."""
    job = export_job_get(actor=actor, public_id=public_id)
    changed = ExportJob.objects.filter(pk=job.pk, state__in=ACTIVE).update(
        state=State.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    if not changed:
        raise ExportJobRefused(f"This export has ended already ({job.get_state_display().lower()}).")
    # A worker still writing keeps its open file; it deletes the path again when it sees the cancel.
    Path(job.file_path).unlink(missing_ok=True)
    return job


def export_job_run(*, job_id: int) -> None:
    """Run a queued job (or resume one whose worker died) to its end. Marks it failed with the
    reason on an error. Returns at once if another worker runs it or it has ended."""
    with run_lock(RUN_LOCK_NAMESPACE, job_id) as mine:
        if not mine:
            return  # a second delivery of the task while the first still runs
        claimed = ExportJob.objects.filter(pk=job_id, state__in=ACTIVE).update(
            state=State.RUNNING, error="", attempts=F("attempts") + 1, progress_at=timezone.now()
        )
        if not claimed:
            return
        job = ExportJob.objects.get(pk=job_id)
        try:
            finished = _job_write(job)
        except Exception as error:
            logger.exception("Export job %s failed", job_id)
            ExportJob.objects.filter(pk=job_id, state=State.RUNNING).update(
                state=State.FAILED,
                error=f"{type(error).__name__}: {error}"[:2000],
                finished_at=timezone.now(),
            )
            return
        done = finished and ExportJob.objects.filter(pk=job_id, state=State.RUNNING).update(
            state=State.DONE, finished_at=timezone.now(), progress_at=timezone.now()
        )
        if not done:  # cancelled meanwhile
            Path(job.file_path).unlink(missing_ok=True)


def _job_write(job: ExportJob) -> bool:
    """Write the job's file from its last committed chunk; False if it was cancelled meanwhile."""
    actor = Actor(
        department_ids=frozenset(job.department_ids),
        is_cx_lead=job.is_cx_lead,
        user_id=job.created_by_id,
        api_key_id=job.api_key_id,
    )
    results_filter = _filter_read(job.results_filter)
    path = Path(job.file_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("r+b" if path.exists() else "wb") as file:
        # Whatever a dead run wrote after its last committed chunk goes.
        file.truncate(job.committed_bytes)
        file.seek(job.committed_bytes)
        if job.kind == ExportJob.Kind.SUMMARY:
            return _summary_write(job, file, actor, results_filter)
        return _responses_write(job, file, actor, results_filter)


def _responses_write(job: ExportJob, file: BinaryIO, actor: Actor, results_filter: ResultsFilter) -> bool:
    responses = responses_for(actor, results_filter)
    if job.last_response_id is None:
        job.last_response_id = responses.aggregate(last=Max("pk"))["last"] or 0
        job.rows_total = responses.filter(pk__lte=job.last_response_id).count()
        ExportJob.objects.filter(pk=job.pk).update(
            last_response_id=job.last_response_id, rows_total=job.rows_total, progress_at=timezone.now()
        )
    responses = responses.filter(pk__lte=job.last_response_id)
    questions = exports.export_questions(responses)
    if job.committed_bytes == 0:
        header = "".join(exports.csv_chunks([exports.response_header(questions)]))
        if not _chunk_commit(job, file, header, last_response_id=0, rows=0):
            return False
    while rows := exports.response_chunk(responses, questions, after_id=job.committed_response_id):
        text = "".join(exports.csv_chunks(rows, byte_order_mark=False))
        if not _chunk_commit(job, file, text, last_response_id=rows[-1][0], rows=len(rows)):
            return False
    return True


def _summary_write(job: ExportJob, file: BinaryIO, actor: Actor, results_filter: ResultsFilter) -> bool:
    # A few hundred rows at most: the time goes into counting them, so the file is one chunk.
    rows = list(exports.summary_rows(actor, results_filter))
    job.rows_total = len(rows) - 1
    ExportJob.objects.filter(pk=job.pk).update(rows_total=job.rows_total)
    file.truncate(0)
    file.seek(0)
    job.committed_bytes = job.rows_done = 0
    return _chunk_commit(job, file, "".join(exports.csv_chunks(rows)), last_response_id=0, rows=len(rows) - 1)


def _chunk_commit(job: ExportJob, file: BinaryIO, text: str, *, last_response_id: int, rows: int) -> bool:
    """Write a chunk, make it durable, then store how far the file goes: the file is fsync'd first,
    so a stored position never points past what the disk holds. False if the job was cancelled."""
    data = text.encode("utf-8")
    file.write(data)
    file.flush()
    os.fsync(file.fileno())
    job.committed_bytes += len(data)
    job.committed_response_id = last_response_id
    job.rows_done += rows
    return bool(
        ExportJob.objects.filter(pk=job.pk, state=State.RUNNING).update(
            committed_bytes=job.committed_bytes,
            committed_response_id=job.committed_response_id,
            rows_done=job.rows_done,
            progress_at=timezone.now(),
        )
    )


def export_jobs_sweep(*, now: dt.datetime | None = None) -> int:
    """Queue again running jobs silent for EXPORT_LEASE seconds whose run lock is free (their
    worker died), or mark them failed after EXPORT_MAX_ATTEMPTS runs; queue again the queued
    ones no worker took (the broker lost the message). Returns how many silent running jobs it handled."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=EXPORT_LEASE)
    handled = 0
    silent = ExportJob.objects.filter(state=State.RUNNING, progress_at__lt=cutoff)
    for job_id, attempts, rows_done in silent.values_list("pk", "attempts", "rows_done"):
        with run_lock(RUN_LOCK_NAMESPACE, job_id) as free:
            if not free:
                continue  # a worker still runs it, only slowly
            still_silent = ExportJob.objects.filter(pk=job_id, state=State.RUNNING, progress_at__lt=cutoff)
            if attempts >= EXPORT_MAX_ATTEMPTS:
                handled += still_silent.update(
                    state=State.FAILED,
                    finished_at=now,
                    error=f"The worker running this export stopped (no progress for "
                    f"{EXPORT_LEASE} seconds) after {rows_done} rows, {attempts} times; "
                    "export again.",
                )
                continue
            with transaction.atomic():
                if still_silent.update(state=State.QUEUED, progress_at=now):
                    handled += 1
                    _publish(ExportJob(pk=job_id))
    for job in ExportJob.objects.filter(state=State.QUEUED, progress_at__lt=cutoff).only("pk"):
        with transaction.atomic():
            ExportJob.objects.filter(pk=job.pk).update(progress_at=now)
            _publish(job)
    export_files_purge(now=now)
    return handled


def export_files_purge(*, now: dt.datetime) -> int:
    """Delete the files of exports that ended more than IMPORT_FILE_RETENTION_DAYS ago: they hold
    customers' answers, kept only while someone may still download them. Returns how many went."""
    cutoff = now - dt.timedelta(days=settings.IMPORT_FILE_RETENTION_DAYS)
    old = ExportJob.objects.filter(finished_at__lt=cutoff).exclude(file_path="")
    purged = 0
    for job_id, file_path in old.values_list("pk", "file_path"):
        Path(file_path).unlink(missing_ok=True)
        purged += ExportJob.objects.filter(pk=job_id).update(file_path="")
    return purged


def _filter_stored(results_filter: ResultsFilter) -> dict:
    stored = dataclasses.asdict(results_filter)
    stored["start"], stored["end"] = results_filter.start.isoformat(), results_filter.end.isoformat()
    return stored


def _filter_read(stored: dict) -> ResultsFilter:
    days = {"start": dt.date.fromisoformat(stored["start"]), "end": dt.date.fromisoformat(stored["end"])}
    return ResultsFilter(**{**stored, **days})
