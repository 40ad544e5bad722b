"""CSV imports of touches other tools sent, as background jobs (the machinery of contact imports,
contacts/importing/jobs.py): a request stores the file, checks its header and queues a job (the API
answers 202 with the job's URL); a worker (surveys/tasks.py::run_touch_import_task) records it chunk
by chunk through surveys.external.touches, as POST /touches does:

- states queued → running → completed, failed (with the reason) or cancelled, each change a
  conditional UPDATE, so a cancel and a finishing worker cannot both win;
- progress: rows_done of rows_total after each chunk of CHUNK_ROWS rows, with the chunk's touches,
  counts and committed_row in the chunk's transaction;
- resume: a run (the broker's second delivery after a worker died, or a resume after a failure or a
  cancel) carries on after committed_row; rows are idempotent by (source tool, external id) anyway,
  so a touch is never recorded twice;
- cancel: the running job stops at its next chunk; what earlier chunks recorded stays recorded;
- a dead worker: Celery hands its task to another (acks_late); if nobody does (the broker lost the
  message, the machine went away), touch_imports_sweep (surveys/tasks.py::sweep_stuck_task) marks it
  failed with the reason, and queues again a queued import no worker took.
Row errors name the row and the column; the first MAX_ISSUES are kept on the job.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from contacts.importing.services import file_size_check, import_directory
from cxfeedback.background_jobs import run_lock, silent_jobs_sweep
from cxfeedback.exceptions import NotFound
from cxfeedback.publish import publish_on_commit
from departments.actors import Actor
from departments.models import Department
from surveys.errors import TouchImportRefused
from surveys.external.import_rows import header_read, rows_read, touch_row
from surveys.external.touches import external_touches_record
from surveys.models import TouchImport

logger = logging.getLogger(__name__)

Status = TouchImport.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)
CHUNK_ROWS = 500
MAX_ISSUES = 100
RUN_LOCK_NAMESPACE = 0x7469  # "ti": touch imports


class _Cancelled(Exception):
    """The job was cancelled while a chunk ran: the chunk is rolled back."""


def touch_imports_visible(*, actor: Actor):
    imports = TouchImport.objects.select_related("department")
    return imports if actor.is_cx_lead else imports.filter(department_id__in=actor.department_ids)


def touch_import_get(*, actor: Actor, public_id: uuid.UUID | str) -> TouchImport:
    """One import the actor may see; NotFound otherwise, the same for "not yours" and "nobody"."""
    found = touch_imports_visible(actor=actor).filter(public_id=public_id).first()
    if found is None:
        raise NotFound("No such touch import.")
    return found


def touch_import_queue(*, department: Department, upload: UploadedFile, actor: Actor) -> TouchImport:
    """Keep an uploaded touches CSV and queue its import (the task is queued after commit). Raises
    NotFound (not the actor's department), ImportFileRejected (too large) or TouchImportRejected (no
    header, a missing or unknown column): the file is not kept then."""
    if not actor.sees_department(department.pk):
        raise NotFound("No such department.")
    file_size_check(upload.size or 0)
    directory = import_directory()
    directory.mkdir(parents=True, exist_ok=True)
    stored = directory / f"touches-{uuid.uuid4().hex}.csv"
    try:
        with stored.open("wb") as destination:
            for block in upload.chunks():
                destination.write(block)
        with _opened(stored) as stream:
            header_read(stream)
        with transaction.atomic():
            job = TouchImport.objects.create(
                department=department,
                created_by_id=actor.user_id,
                filename=Path(upload.name or "").name[:255],
                stored_file=str(stored),
                progress_at=timezone.now(),
            )
            _publish(job)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    return job


def touch_import_cancel(*, actor: Actor, public_id: uuid.UUID | str) -> TouchImport:
    """Stop a queued or running import at its next chunk. Raises NotFound, TouchImportRefused (ended)."""
    job = touch_import_get(actor=actor, public_id=public_id)
    changed = TouchImport.objects.filter(pk=job.pk, status__in=ACTIVE).update(
        status=Status.CANCELLED, completed_at=timezone.now()
    )
    job.refresh_from_db()
    if not changed:
        raise TouchImportRefused(f"This import has ended already ({job.get_status_display().lower()}).")
    return job


def touch_import_resume(*, actor: Actor, public_id: uuid.UUID | str) -> TouchImport:
    """Queue a failed or cancelled import again; it carries on after its last committed row. Raises
    NotFound, TouchImportRefused (not failed or cancelled, or its file is gone)."""
    job = touch_import_get(actor=actor, public_id=public_id)
    if not job.stored_file or not Path(job.stored_file).is_file():
        raise TouchImportRefused("The uploaded file is no longer there; upload it again.")
    with transaction.atomic():
        changed = TouchImport.objects.filter(pk=job.pk, status__in=(Status.FAILED, Status.CANCELLED)).update(
            status=Status.QUEUED, error="", progress_at=timezone.now(), completed_at=None
        )
        job.refresh_from_db()
        if not changed:
            status = job.get_status_display().lower()
            raise TouchImportRefused(f"Only a failed or cancelled import runs again; this one is {status}.")
        _publish(job)
    return job


def touch_import_run(*, job_id: int) -> None:
    """Run a queued import (or one whose worker died) to its end. Marks it failed with the reason on
    an error; returns at once if another worker runs it or it has ended."""
    with _run_lock(job_id) as mine:
        if not mine:
            return
        claimed = TouchImport.objects.filter(pk=job_id, status__in=ACTIVE).update(
            status=Status.RUNNING, error="", progress_at=timezone.now()
        )
        if not claimed:
            return
        job = TouchImport.objects.select_related("department").get(pk=job_id)
        try:
            _execute(job)
        except _Cancelled:
            pass
        except Exception as error:
            logger.exception("Touch import %s failed", job_id)
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            TouchImport.objects.filter(pk=job_id, status=Status.RUNNING).update(
                status=Status.FAILED, error=str(message)[:2000], completed_at=timezone.now()
            )


def _execute(job: TouchImport) -> None:
    path = Path(job.stored_file)
    if not job.stored_file or not path.is_file():
        raise TouchImportRefused("The uploaded file is gone; upload it again.")
    if job.rows_total is None:
        with _opened(path) as stream:
            reader, columns = header_read(stream)
            job.rows_total = sum(1 for _ in rows_read(reader, columns))
        TouchImport.objects.filter(pk=job.pk).update(rows_total=job.rows_total)
    with _opened(path) as stream:
        reader, columns = header_read(stream)
        chunk: list[tuple[int, dict]] = []
        for number, cells in rows_read(reader, columns):
            if number <= job.committed_row:
                continue  # committed by an earlier run
            chunk.append((number, cells))
            if len(chunk) == CHUNK_ROWS:
                _chunk(job, chunk, columns)
                chunk = []
        if chunk:
            _chunk(job, chunk, columns)
    finished = TouchImport.objects.filter(pk=job.pk, status=Status.RUNNING).update(
        status=Status.COMPLETED, completed_at=timezone.now(), stored_file=""
    )
    if finished:
        path.unlink(missing_ok=True)


def _chunk(job: TouchImport, chunk: list[tuple[int, dict]], columns: dict[str, str]) -> None:
    """Record a chunk's valid rows and store the job's progress with them, in one transaction."""
    rows = [touch_row(job.department, number, cells, columns) for number, cells in chunk]
    touches = [row.touch for row in rows if row.touch is not None]
    issues = [issue for row in rows for issue in row.issues]
    with transaction.atomic():
        recorded = external_touches_record(department=job.department, touches=touches) if touches else []
        new = len({r.touch.pk for r in recorded if r.created})  # a file's repeat of a row is a replay
        counts = dict(job.counts)
        counts["recorded"] = counts.get("recorded", 0) + new
        counts["replayed"] = counts.get("replayed", 0) + len(recorded) - new
        counts["rejected"] = counts.get("rejected", 0) + len({issue["row"] for issue in issues})
        kept = (job.issues + issues)[:MAX_ISSUES]
        done = job.rows_done + len(chunk)
        still_running = TouchImport.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            counts=counts, issues=kept, rows_done=done, committed_row=chunk[-1][0], progress_at=timezone.now()
        )
        if not still_running:
            raise _Cancelled
    job.counts, job.issues, job.rows_done, job.committed_row = counts, kept, done, chunk[-1][0]


@contextmanager
def _opened(path: Path) -> Iterator[io.TextIOBase]:
    with path.open("r", encoding="utf-8-sig", newline="") as stream:
        yield stream


def _publish(job: TouchImport) -> None:
    from surveys.tasks import run_touch_import_task

    publish_on_commit(run_touch_import_task, job.pk)


def _run_lock(job_id: int):
    return run_lock(RUN_LOCK_NAMESPACE, job_id)


def touch_imports_sweep(*, now: dt.datetime | None = None) -> int:
    """Mark running imports silent for CONTACT_IMPORT_LEASE seconds (the lease of every import job)
    failed, with the reason, unless a live worker holds their run lock; queue again the queued ones
    no worker took (the broker lost the message). Returns how many were marked failed."""
    lease = settings.CONTACT_IMPORT_LEASE
    return silent_jobs_sweep(
        TouchImport.objects.all(),
        namespace=RUN_LOCK_NAMESPACE,
        lease=lease,
        now=now or timezone.now(),
        reason=lambda rows_done: (
            f"The worker running this import stopped (no progress for {lease} "
            f"seconds) after {rows_done} rows. The rows before that are recorded; resume the import to "
            "carry on from there."
        ),
        publish=_publish,
    )
