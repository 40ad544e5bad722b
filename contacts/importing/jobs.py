"""Import jobs: the admin's and the API's contact imports run in a worker, never inside a web request.

A web request that ran an import died with gunicorn's timeout half-written, left its import
"running" forever, and showed no progress (issue 19). Now a request stores the uploaded file,
checks its header (a file that cannot be imported is refused at once), queues a job and answers;
a worker runs it (contacts/tasks.py::run_contact_import_task):

- states: queued → running → previewed (a dry run, the admin's preview) or completed; failed (with
  the reason); cancelled. Each change is a conditional UPDATE, so a cancel and a finishing worker
  cannot both win.
- progress: rows_done of rows_total (counted before the first chunk), stored after each chunk of
  CHUNK_ROWS rows (well under a second each); `progress_at` is the job's last sign of life.
- resume: a real import commits chunk by chunk and stores the last row it committed with the
  chunk; a job run again (the broker's second delivery after a worker was killed, or a resume
  after it failed) carries on after that row. A dry run keeps nothing, so it starts over.
- a dead worker: Celery hands its task to another worker (acks_late, reject_on_worker_lost), which
  resumes. If nobody does (the broker lost the message, the machine went away), the sweeper marks a
  running import silent for CONTACT_IMPORT_LEASE seconds failed, with the reason; resuming it
  queues it again.
- cancel: the running job stops at its next chunk (that chunk is rolled back); what earlier chunks
  imported stays imported.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connections, transaction
from django.utils import timezone

from contacts.errors import ContactImportFailed, ImportFileRejected, ImportJobRefused
from contacts.importing.reading import ImportFile
from contacts.importing.selectors import contact_import_get
from contacts.importing.services import file_size_check, import_directory, import_resume
from contacts.models import ContactImport
from contacts.normalise import phone_region_check
from cxfeedback.background_jobs import run_lock, silent_jobs_sweep
from cxfeedback.exceptions import NotFound
from cxfeedback.publish import publish_on_commit
from departments.actors import Actor
from departments.models import Department

logger = logging.getLogger(__name__)

Status = ContactImport.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)

# The first key of the two-key advisory lock a run holds on its import (the second is its id).
RUN_LOCK_NAMESPACE = 0x6369  # "ci": contact imports


def _publish(contact_import: ContactImport) -> None:
    from contacts.tasks import run_contact_import_task

    publish_on_commit(run_contact_import_task, contact_import.pk)


def contact_import_queue(
    *,
    department: Department,
    upload: UploadedFile,
    actor: Actor,
    dry_run: bool,
    phone_region: str = "",
    publish: bool = True,
) -> ContactImport:
    """Keep an uploaded contacts CSV and queue its import (with dry_run, its preview); the task is
    queued after commit, unless `publish` is false (a caller whose own job runs the import with
    contact_import_job_run). Raises NotFound (not the actor's department), InvalidPhoneRegion,
    ImportFileRejected (too large, not text, a bad header, no rows: the file is not kept)."""
    if not actor.sees_department(department.pk):
        raise NotFound("No such department.")
    phone_region = phone_region_check(phone_region, field="phone_region")
    file_size_check(upload.size or 0)
    directory = import_directory()
    directory.mkdir(parents=True, exist_ok=True)
    stored = directory / f"upload-{uuid.uuid4().hex}.csv"
    try:
        with stored.open("wb") as destination:
            for block in upload.chunks():
                destination.write(block)
        with stored.open("rb") as stream:
            ImportFile(stream).close()  # the checks that refuse a whole file, before anyone waits on it
        with transaction.atomic():
            contact_import = ContactImport.objects.create(
                department=department,
                created_by_id=actor.user_id,
                api_key_id=actor.api_key_id,
                filename=Path(upload.name or "").name[:255],
                status=Status.QUEUED,
                dry_run=dry_run,
                phone_region=phone_region,
                stored_file=str(stored),
                progress_at=timezone.now(),
            )
            if publish:
                _publish(contact_import)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    return contact_import


def contact_import_confirm(*, contact_import: ContactImport, actor: Actor) -> ContactImport:
    """Queue the real import of a previewed file; the preview's issues go, its report is replaced
    when the job starts. Raises NotFound (not the actor's), ImportJobRefused (already confirmed, or
    its file is gone)."""
    if not actor.sees_department(contact_import.department_id):
        raise NotFound("No such import.")
    if contact_import.status == Status.PREVIEWED:
        _stored_file_check(contact_import)
    with transaction.atomic():
        # Claim the preview with a conditional UPDATE, so a double click imports the file once.
        claimed = ContactImport.objects.filter(pk=contact_import.pk, status=Status.PREVIEWED).update(
            status=Status.QUEUED,
            dry_run=False,
            counts={},
            rows_done=0,
            issue_total=0,
            committed_row=0,
            progress_at=timezone.now(),
            completed_at=None,
        )
        if not claimed:
            raise ImportJobRefused("This import has already been confirmed.", code="import_already_confirmed")
        contact_import.issues.all().delete()
        _publish(contact_import)
    contact_import.refresh_from_db()
    return contact_import


def contact_import_cancel(*, actor: Actor, import_id: int) -> ContactImport:
    """Stop a queued or running import at its next chunk; rows imported before stay imported.
    Raises NotFound, ImportJobRefused (it has ended)."""
    contact_import = contact_import_get(actor=actor, import_id=import_id)
    changed = ContactImport.objects.filter(pk=import_id, status__in=ACTIVE).update(
        status=Status.CANCELLED, completed_at=timezone.now()
    )
    contact_import.refresh_from_db()
    if not changed:
        raise ImportJobRefused(
            f"This import has ended already ({contact_import.get_status_display().lower()})."
        )
    return contact_import


def contact_import_resume(*, actor: Actor, import_id: int) -> ContactImport:
    """Queue a failed or cancelled import again: a real one carries on after its last committed
    row, a preview starts over. Raises NotFound, ImportJobRefused (not failed or cancelled, or its
    file is gone)."""
    contact_import = contact_import_get(actor=actor, import_id=import_id)
    _stored_file_check(contact_import)
    with transaction.atomic():
        changed = ContactImport.objects.filter(
            pk=import_id, status__in=(Status.FAILED, Status.CANCELLED)
        ).update(status=Status.QUEUED, error="", progress_at=timezone.now(), completed_at=None)
        contact_import.refresh_from_db()
        if not changed:
            status = contact_import.get_status_display().lower()
            raise ImportJobRefused(f"Only a failed or cancelled import runs again; this one is {status}.")
        _publish(contact_import)
    return contact_import


def _stored_file_check(contact_import: ContactImport) -> None:
    # Uploads are deleted after IMPORT_FILE_RETENTION_DAYS (contacts/importing/housekeeping.py).
    if not contact_import.stored_file or not Path(contact_import.stored_file).is_file():
        raise ImportJobRefused(
            "The uploaded file is no longer there; upload it again.", code="import_file_gone"
        )


def contact_import_job_run(*, import_id: int) -> None:
    """Run a queued import (or resume one whose worker died) to its end: count the rows, import
    chunk by chunk with progress, store the outcome. Marks it failed with the reason on an error.
    Returns at once if another worker is running it or it has ended."""
    with _run_lock(import_id) as mine:
        if not mine:
            return  # a second delivery of the task while the first still runs
        claimed = ContactImport.objects.filter(pk=import_id, status__in=ACTIVE).update(
            status=Status.RUNNING, error="", progress_at=timezone.now()
        )
        if not claimed:
            return
        contact_import = ContactImport.objects.select_related("department").get(pk=import_id)
        try:
            _job_execute(contact_import)
        except ContactImportFailed:
            pass  # stored as failed, with the chunk it stopped at
        except Exception as error:
            logger.exception("Contact import job %s failed", import_id)
            reason = (
                error.message if isinstance(error, ImportFileRejected) else f"{type(error).__name__}: {error}"
            )
            _job_fail(import_id, reason)


def _job_execute(contact_import: ContactImport) -> None:
    stored = Path(contact_import.stored_file)
    if not contact_import.stored_file or not stored.is_file():
        _job_fail(contact_import.pk, "The uploaded file is gone; upload it again.")
        return
    if contact_import.rows_total is None or contact_import.dry_run:
        contact_import.rows_total = _rows_counted(stored)
        ContactImport.objects.filter(pk=contact_import.pk).update(
            rows_total=contact_import.rows_total, progress_at=timezone.now()
        )
    report_path = _report_path_set(contact_import)
    resuming = contact_import.committed_row > 0 and not contact_import.dry_run
    progress = None if not contact_import.dry_run else _DryRunProgress(contact_import.pk)
    try:
        with report_path.open("a" if resuming else "w", newline="", encoding="utf-8") as report:
            import_resume(contact_import, stored, report=report, dry_run_progress=progress)
    finally:
        if progress:
            progress.close()
    if contact_import.status == Status.COMPLETED:
        # Only a completed import lets go of its file: a failed or cancelled one may resume.
        stored.unlink(missing_ok=True)
        ContactImport.objects.filter(pk=contact_import.pk).update(stored_file="")


def _report_path_set(contact_import: ContactImport) -> Path:
    """The per-row report's file for this run; a real import's replaces its preview's."""
    kind = "preview" if contact_import.dry_run else "import"
    directory = import_directory()
    directory.mkdir(parents=True, exist_ok=True)  # a worker may be the first to write to it
    report_path = directory / f"{kind}-{contact_import.pk}-report.csv"
    old = Path(contact_import.report_file) if contact_import.report_file else None
    if old and old != report_path:
        old.unlink(missing_ok=True)
    contact_import.report_file = str(report_path)
    ContactImport.objects.filter(pk=contact_import.pk).update(report_file=str(report_path))
    return report_path


def _rows_counted(path: Path) -> int:
    """The file's rows, for the progress bar: one pass of the CSV reader, no row checked."""
    with path.open("rb") as stream:
        import_file = ImportFile(stream)
        try:
            return sum(1 for _ in import_file.records())
        finally:
            import_file.close()


def _job_fail(import_id: int, reason: str) -> None:
    ContactImport.objects.filter(pk=import_id, status=Status.RUNNING).update(
        status=Status.FAILED, error=reason[:2000], completed_at=timezone.now()
    )


class _DryRunProgress:
    """A dry run is one transaction that is rolled back at its end, so its progress is written
    through a connection of its own, each write committed at once. Whether the job still runs is
    read on the run's connection, which sees a cancel as soon as it commits."""

    def __init__(self, import_id: int):
        self.import_id = import_id
        self._connection = None

    def __call__(self, rows_done: int) -> bool:
        if self._connection is None:
            self._connection = connections.create_connection("default")
        with self._connection.cursor() as cursor:
            cursor.execute(
                "UPDATE contacts_contactimport SET rows_done = %s, progress_at = %s "
                "WHERE id = %s AND status = 'running'",
                [rows_done, timezone.now(), self.import_id],
            )
        return ContactImport.objects.filter(pk=self.import_id, status=Status.RUNNING).exists()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


def contact_import_jobs_sweep(*, now: dt.datetime | None = None) -> int:
    """Mark running imports silent for CONTACT_IMPORT_LEASE seconds failed, with the reason, unless
    a live worker still holds their run lock; queue again the queued ones no worker took (the
    broker lost the message). Returns how many imports were marked failed."""
    lease = settings.CONTACT_IMPORT_LEASE
    return silent_jobs_sweep(
        ContactImport.objects.all(),
        namespace=RUN_LOCK_NAMESPACE,
        lease=lease,
        now=now or timezone.now(),
        reason=lambda rows_done: (
            f"The worker running this import stopped (no progress for {lease} "
            f"seconds) after {rows_done} rows. The rows before that are imported; resume the import to "
            "carry on from there."
        ),
        publish=_publish,
    )


def _run_lock(import_id: int):
    return run_lock(RUN_LOCK_NAMESPACE, import_id)
