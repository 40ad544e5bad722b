"""A send request's audience list uploaded as a background job (issue 19): the admin and the API store
the file and answer at once; a worker (surveys/tasks.py::run_audience_upload_task) does the rest.

The list is a contacts CSV, imported into the department as any contact import is, and its rows then
become the request's AudienceMember rows. So the job has two stages, each chunk by chunk:

1. importing: the upload's ContactImport, run by contact_import_job_run (contacts/importing/jobs.py)
   in this job's worker: its progress, resume after its last committed chunk, its issues;
2. the audience: the import's per-row report read back, CHUNK_ROWS lines a transaction,
   each chunk's members written with the request's row locked (lock order 3) and the lines read
   (`rows_done`) stored with them, so a run again (the broker's second delivery after a worker was
   killed, or a resume) carries on after them: no member twice, none missing. The first chunk
   removes the list uploaded before, in its own transaction.

States queued → running → completed, failed (with the reason) or cancelled, each change a
conditional UPDATE. Cancel stops the import or the audience at its next chunk. A dead worker: Celery
hands the task to another (acks_late); if nobody does, audience_uploads_sweep marks it failed, and
resuming it carries on. A request is not submitted while its latest upload has not completed
(audience_upload_finished_check, called by send_request_submit).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from contacts.importing.jobs import contact_import_job_run, contact_import_queue
from contacts.models import ContactImport
from cxfeedback.background_jobs import run_lock, silent_jobs_sweep
from cxfeedback.exceptions import ApplicationError, NotFound
from cxfeedback.publish import publish_on_commit
from departments.actors import Actor
from surveys.errors import (
    AudienceLocked,
    AudienceUploadRefused,
    AudienceUploadUnfinished,
    InvalidSendRequest,
)
from surveys.gatekeeper.audiences import audience_write, report_rows
from surveys.models import AudienceMember, AudienceUpload, SendRequest

logger = logging.getLogger(__name__)

Status = AudienceUpload.Status
ImportStatus = ContactImport.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)
IMPORT_ACTIVE = (ImportStatus.QUEUED, ImportStatus.RUNNING)
RUN_LOCK_NAMESPACE = 0x6175  # "au": audience uploads
# Report lines made audience rows per transaction, each storing the job's progress. Measured with
# 50,000 rows on 2 cores at load average 20: 5,000 took up to 2.7 s a chunk; 1,000 take 0.5 s on
# average (1.5 s at most), about what an import chunk of 1,000 rows takes there.
CHUNK_ROWS = 1000


class _Stopped(Exception):
    """The upload was cancelled (or given up) while it ran: the chunk being written is rolled back."""


class _Failed(Exception):
    """The upload cannot go on; its message is the reason stored on it."""


def audience_uploads_visible(*, actor: Actor) -> QuerySet[AudienceUpload]:
    uploads = AudienceUpload.objects.select_related("send_request", "contact_import__department")
    if actor.is_cx_lead:
        return uploads
    return uploads.filter(send_request__department_id__in=actor.department_ids)


def audience_upload_get(
    *, actor: Actor, send_request_id: uuid.UUID | str, upload_id: uuid.UUID | str
) -> AudienceUpload:
    """One upload of one request the actor may see; NotFound otherwise, the same for "not yours" and
    "nobody"."""
    found = (
        audience_uploads_visible(actor=actor)
        .filter(public_id=upload_id, send_request__public_id=send_request_id)
        .first()
    )
    if found is None:
        raise NotFound("No such audience upload.")
    return found


def audience_upload_latest(send_request: SendRequest) -> AudienceUpload | None:
    return AudienceUpload.objects.select_related("contact_import").filter(send_request=send_request).first()


def audience_upload_queue(*, actor: Actor, send_request: SendRequest, upload: UploadedFile) -> AudienceUpload:
    """Keep the file and queue the job that makes its rows the request's audience (after commit),
    replacing the list uploaded before once it runs. Raises NotFound, InvalidSendRequest (not an
    uploaded-list audience), AudienceLocked (not a draft), AudienceUploadUnfinished (an upload still
    runs), ImportFileRejected (too large, not text, a bad header, no rows: nothing is kept)."""
    if not actor.sees_department(send_request.department_id):
        raise NotFound(f"Send request {send_request.public_id} not found.")
    if send_request.audience_kind != SendRequest.AudienceKind.UPLOAD:
        raise InvalidSendRequest.on_field(
            "audience_kind", "only a request with an uploaded list takes a file."
        )
    with transaction.atomic():
        # Against a submit, and a second upload, meanwhile. Lock order 3 (surveys/gatekeeper/locks.py).
        locked = SendRequest.objects.select_for_update(of=("self",)).get(pk=send_request.pk)
        if locked.status != SendRequest.Status.DRAFT:
            raise AudienceLocked(f"The audience of a {locked.status} request cannot change.")
        running = AudienceUpload.objects.filter(send_request=locked, status__in=ACTIVE).first()
        if running is not None:
            raise AudienceUploadUnfinished(
                "An audience list is still being uploaded to this request; wait for it or cancel it first.",
                extra={"upload": str(running.public_id)},
            )
        contact_import = contact_import_queue(
            department=locked.department, upload=upload, actor=actor, dry_run=False, publish=False
        )
        job = AudienceUpload.objects.create(
            send_request=locked,
            contact_import=contact_import,
            created_by_id=actor.user_id,
            progress_at=timezone.now(),
        )
        _publish(job)
    return job


def audience_upload_cancel(
    *, actor: Actor, send_request_id: uuid.UUID | str, upload_id: uuid.UUID | str
) -> AudienceUpload:
    """Stop a queued or running upload at its next chunk (its import's contacts imported so far stay
    imported; the request is not submitted until a list is uploaded whole). Raises NotFound,
    AudienceUploadRefused (it has ended)."""
    job = audience_upload_get(actor=actor, send_request_id=send_request_id, upload_id=upload_id)
    now = timezone.now()
    with transaction.atomic():
        changed = AudienceUpload.objects.filter(pk=job.pk, status__in=ACTIVE).update(
            status=Status.CANCELLED, completed_at=now
        )
        ContactImport.objects.filter(pk=job.contact_import_id, status__in=IMPORT_ACTIVE).update(
            status=ImportStatus.CANCELLED, completed_at=now
        )
    job.refresh_from_db()
    if not changed:
        raise AudienceUploadRefused(f"This upload has ended already ({job.get_status_display().lower()}).")
    return job


def audience_upload_resume(
    *, actor: Actor, send_request_id: uuid.UUID | str, upload_id: uuid.UUID | str
) -> AudienceUpload:
    """Queue a failed or cancelled upload again: its import, then its audience, carry on after their
    last committed chunks. Raises NotFound, AudienceLocked (the request is no longer a draft),
    AudienceUploadRefused (not failed or cancelled, or a later upload exists)."""
    job = audience_upload_get(actor=actor, send_request_id=send_request_id, upload_id=upload_id)
    now = timezone.now()
    with transaction.atomic():
        locked = SendRequest.objects.select_for_update(of=("self",)).get(pk=job.send_request_id)  # order 3
        if locked.status != SendRequest.Status.DRAFT:
            raise AudienceLocked(f"The audience of a {locked.status} request cannot change.")
        if audience_upload_latest(locked).pk != job.pk:
            raise AudienceUploadRefused("A later upload replaced this one.")
        changed = AudienceUpload.objects.filter(
            pk=job.pk, status__in=(Status.FAILED, Status.CANCELLED)
        ).update(status=Status.QUEUED, error="", progress_at=now, completed_at=None)
        if not changed:
            status = job.get_status_display().lower()
            raise AudienceUploadRefused(
                f"Only a failed or cancelled upload runs again; this one is {status}."
            )
        ContactImport.objects.filter(
            pk=job.contact_import_id, status__in=(ImportStatus.FAILED, ImportStatus.CANCELLED)
        ).update(status=ImportStatus.QUEUED, error="", progress_at=now, completed_at=None)
        _publish(job)
    job.refresh_from_db()
    return job


def audience_upload_finished_check(send_request: SendRequest) -> None:
    """Raise AudienceUploadUnfinished if the request's latest audience upload has not completed.

    Checked before the submit's conditional UPDATE, without a lock: an upload queued in between
    finds the request submitted at its first chunk (which locks the request's row and checks it is
    a draft) and fails there, leaving the audience that was screened as it was."""
    latest = audience_upload_latest(send_request)
    if latest is None or latest.status == Status.COMPLETED:
        return
    if latest.active:
        message = "The audience list is still being uploaded; submit once the upload has completed."
    else:
        ended = "was cancelled" if latest.status == Status.CANCELLED else "failed"
        message = (
            f"The last audience upload {ended} before it ended, so the audience may be only a part of "
            "the file; resume it or upload the list again."
        )
    raise AudienceUploadUnfinished(message, extra={"upload": str(latest.public_id)})


def audience_upload_run(*, upload_id: int) -> None:
    """Run a queued upload (or resume one whose worker died) to its end: the import, then the
    audience. Marks it failed with the reason on an error; returns at once if another worker runs it
    or it has ended."""
    with run_lock(RUN_LOCK_NAMESPACE, upload_id) as mine:
        if not mine:
            return  # a second delivery of the task while the first still runs
        claimed = AudienceUpload.objects.filter(pk=upload_id, status__in=ACTIVE).update(
            status=Status.RUNNING, error="", progress_at=timezone.now()
        )
        if not claimed:
            return
        job = AudienceUpload.objects.select_related("contact_import").get(pk=upload_id)
        try:
            _import_stage(job)
            _audience_stage(job)
        except _Stopped:
            pass
        except _Failed as failure:
            _end(upload_id, Status.FAILED, str(failure))
        except ApplicationError as error:  # the request stopped being a draft
            _end(upload_id, Status.FAILED, error.message)
        except Exception as error:
            logger.exception("Audience upload %s failed", upload_id)
            _end(upload_id, Status.FAILED, f"{type(error).__name__}: {error}")


def _import_stage(job: AudienceUpload) -> None:
    """Run the upload's contact import, unless it has ended; if another worker runs it (the contact
    imports' sweeper queued it again), wait for it, showing this job is alive."""
    import_id = job.contact_import_id
    if job.contact_import.status in IMPORT_ACTIVE:
        contact_import_job_run(import_id=import_id)
    while ContactImport.objects.filter(pk=import_id, status__in=IMPORT_ACTIVE).exists():
        _alive(job)
        time.sleep(1)
    job.contact_import.refresh_from_db()
    status = job.contact_import.status
    if status == ImportStatus.CANCELLED:
        _end(job.pk, Status.CANCELLED, "Its contact import was cancelled.")
        raise _Stopped
    if status != ImportStatus.COMPLETED:
        raise _Failed(f"Its contact import stopped: {job.contact_import.error}")


def _audience_stage(job: AudienceUpload) -> None:
    total = job.contact_import.counts.get("rows", 0)
    if job.rows_total is None:
        job.rows_total = total
        AudienceUpload.objects.filter(pk=job.pk).update(rows_total=total, progress_at=timezone.now())
    with Path(job.contact_import.report_file).open(newline="", encoding="utf-8") as report:
        rows = islice(report_rows(report), job.rows_done, None)  # after the lines committed before
        while chunk := list(islice(rows, CHUNK_ROWS)):
            _audience_chunk(job, chunk)
        if job.rows_done == 0:
            _audience_chunk(job, [])  # a file of no row still replaces the list uploaded before
    if job.rows_done != total:
        # The import writes a chunk's report lines just after it commits it: a worker killed between
        # the two leaves rows imported with no line, and so no way to tell their contacts here.
        raise _Failed(
            f"The import's report lists {job.rows_done} of its {total} rows (its worker stopped between "
            "writing rows and reporting them); upload the list again."
        )
    AudienceUpload.objects.filter(pk=job.pk, status=Status.RUNNING).update(
        status=Status.COMPLETED, completed_at=timezone.now(), progress_at=timezone.now()
    )


def _audience_chunk(job: AudienceUpload, chunk: list[tuple[int, str]]) -> None:
    """Write a chunk's members and store the lines read with them, in one transaction."""
    with transaction.atomic():
        # Against a submit or a cancel of the request meanwhile: the screening must read the
        # audience it was shown. Lock order 3 (surveys/gatekeeper/locks.py).
        locked = SendRequest.objects.select_for_update(of=("self",)).get(pk=job.send_request_id)
        if locked.status != SendRequest.Status.DRAFT:
            raise AudienceLocked(
                f"The request was {locked.status} meanwhile: its audience no longer changes."
            )
        if job.rows_done == 0:
            AudienceMember.objects.filter(send_request=locked).delete()  # the list uploaded before
        written = audience_write(locked, ((row, contact) for row, contact in chunk if contact))
        still_running = AudienceUpload.objects.filter(pk=job.pk, status=Status.RUNNING).update(
            rows_done=job.rows_done + len(chunk), members=job.members + written, progress_at=timezone.now()
        )
        if not still_running:
            raise _Stopped
    job.rows_done += len(chunk)
    job.members += written


def _alive(job: AudienceUpload) -> None:
    if not AudienceUpload.objects.filter(pk=job.pk, status=Status.RUNNING).update(progress_at=timezone.now()):
        raise _Stopped


def _end(upload_id: int, status: str, reason: str) -> None:
    AudienceUpload.objects.filter(pk=upload_id, status=Status.RUNNING).update(
        status=status, error=reason[:2000], completed_at=timezone.now()
    )


def _publish(job: AudienceUpload) -> None:
    from surveys.tasks import run_audience_upload_task

    publish_on_commit(run_audience_upload_task, job.pk)


def audience_uploads_sweep(*, now: dt.datetime | None = None) -> int:
    """Mark running uploads silent for CONTACT_IMPORT_LEASE seconds (the lease of every import job)
    failed, with the reason, unless a live worker holds their run lock; queue again the queued ones
    no worker took (the broker lost the message). Returns how many were marked failed."""
    lease = settings.CONTACT_IMPORT_LEASE
    return silent_jobs_sweep(
        AudienceUpload.objects.all(),
        namespace=RUN_LOCK_NAMESPACE,
        lease=lease,
        now=now or timezone.now(),
        reason=lambda rows_done: (
            f"The worker running this upload stopped (no progress for {lease} "
            "seconds). What it committed is kept; resume the upload to carry on from there."
        ),
        publish=_publish,
    )
