"""A send request's audience upload in the admin: the file is queued as a background job
(surveys/gatekeeper/audience_uploads.py), and the request's pre-flight page shows the job: a progress
bar that refreshes while it runs, Cancel, Resume after a failure, and once it completed, its counts
(audience rows, rows left out) with a link to its contact import's result."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import HttpRequest
from django.urls import reverse

from contacts.admin.import_pages import RESULT_URL_NAME
from cxfeedback.background_jobs import percent_done
from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import admin_actor
from surveys.gatekeeper.audience_uploads import (
    audience_upload_cancel,
    audience_upload_latest,
    audience_upload_queue,
    audience_upload_resume,
)
from surveys.models import AudienceUpload, SendRequest

REFRESH_SECONDS = 2  # the job stores its progress about every second


def audience_upload_context(send_request: SendRequest, *, may_act: bool) -> dict[str, Any]:
    """The pre-flight page's upload part: the request's latest upload, with its progress."""
    job = audience_upload_latest(send_request)
    if job is None:
        return {"audience_upload": None}
    contact_import = job.contact_import
    total = contact_import.rows_total
    if job.rows_total is None:
        stage, done = "Importing the file's contacts", contact_import.rows_done
    else:
        stage, done = "Making the imported rows the audience", job.rows_done
    counts = contact_import.counts
    context: dict[str, Any] = {
        "audience_upload": {
            "job": job,
            "filename": contact_import.filename,
            "stage": stage,
            "rows_done": done,
            "rows_total": total,
            "percent": percent_done(
                contact_import.rows_done + job.rows_done,
                2 * total if total else None,
                completed=job.status == AudienceUpload.Status.COMPLETED,
            ),
            "left_out": counts.get("invalid", 0) + counts.get("conflict", 0),
            "import_url": reverse(f"admin:{RESULT_URL_NAME}", args=[contact_import.pk]),
            # Submit waits for a completed upload (audience_upload_finished_check).
            "unfinished": job.status != AudienceUpload.Status.COMPLETED,
            "can_cancel": may_act and job.active,
            "can_resume": may_act
            and send_request.status == SendRequest.Status.DRAFT
            and job.status in (AudienceUpload.Status.FAILED, AudienceUpload.Status.CANCELLED),
        }
    }
    if job.active:
        context["refresh_seconds"] = REFRESH_SECONDS
    return context


def audience_upload_start(
    model_admin: ModelAdmin, request: HttpRequest, send_request: SendRequest, upload
) -> None:
    """Queue the upload and say so; the pre-flight page then follows it."""
    try:
        audience_upload_queue(actor=admin_actor(request), send_request=send_request, upload=upload)
    except ApplicationError as error:
        model_admin.message_user(request, f"The audience file was not taken: {error.message}", messages.ERROR)
        return
    model_admin.message_user(
        request,
        "Audience file received: its rows are being imported, as the progress bar below shows. "
        "The request can be submitted once the upload has completed.",
        messages.SUCCESS,
    )


def audience_upload_act(
    model_admin: ModelAdmin, request: HttpRequest, send_request: SendRequest, *, action: str
) -> None:
    """Cancel or resume the request's latest upload, saying what happened."""
    job = audience_upload_latest(send_request)
    if job is None:
        model_admin.message_user(request, "This request has no audience upload.", messages.ERROR)
        return
    service, done = {
        "cancel": (audience_upload_cancel, "Audience upload cancelled."),
        "resume": (audience_upload_resume, "Audience upload queued again: it carries on where it stopped."),
    }[action]
    try:
        service(actor=admin_actor(request), send_request_id=send_request.public_id, upload_id=job.public_id)
    except ApplicationError as error:
        model_admin.message_user(request, error.message, messages.ERROR)
    else:
        model_admin.message_user(request, done, messages.SUCCESS)
