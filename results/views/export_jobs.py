"""The admin's pages of an export job (results/services/export_jobs.py): a progress bar that
reloads itself while the job runs, Cancel, and the download once it is done. An export link whose
filter holds more than RESULTS_EXPORT_JOB_ROWS responses leads here (results/views/drilldown.py).
Another person's job answers 404, like a missing one."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from cxfeedback.exceptions import NotFound
from departments.admin_scoping import admin_actor
from results.errors import ExportJobRefused
from results.models import ExportJob
from results.selectors.export_jobs import export_filename, export_job_file, export_job_get
from results.services.export_jobs import export_job_cancel

VIEW_RESPONSES = "surveys.view_response"


def _checked(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW_RESPONSES):
        raise PermissionDenied


def job_url(job: ExportJob) -> str:
    return reverse("results:export-job", args=[job.public_id])


def _job(request: HttpRequest, public_id) -> ExportJob:
    _checked(request)
    try:
        return export_job_get(actor=admin_actor(request), public_id=public_id)
    except NotFound as error:
        raise Http404(error.message) from error


@require_GET
def export_job_page(request: HttpRequest, public_id) -> HttpResponse:
    job = _job(request, public_id)
    context = {
        **admin.site.each_context(request),
        "title": f"{job.get_kind_display()} export",
        "job": job,
        "cancel_url": reverse("results:export-job-cancel", args=[job.public_id]),
        "download_url": reverse("results:export-job-download", args=[job.public_id]),
    }
    return TemplateResponse(request, "results/export_job.html", context)


@require_POST
def export_job_cancel_view(request: HttpRequest, public_id) -> HttpResponse:
    job = _job(request, public_id)
    try:
        export_job_cancel(actor=admin_actor(request), public_id=job.public_id)
    except ExportJobRefused as error:
        messages.warning(request, error.message)
    else:
        messages.success(request, "Export cancelled.")
    return HttpResponseRedirect(job_url(job))


@require_GET
def export_job_download(request: HttpRequest, public_id) -> HttpResponse:
    _checked(request)
    try:
        job, path = export_job_file(actor=admin_actor(request), public_id=public_id)
    except NotFound as error:
        raise Http404(error.message) from error
    except ExportJobRefused as error:
        messages.warning(request, error.message)
        return HttpResponseRedirect(reverse("results:export-job", args=[public_id]))
    response = FileResponse(path.open("rb"), as_attachment=True, filename=export_filename(job))
    response["Content-Type"] = "text/csv; charset=utf-8"
    return response


export_job_page = admin.site.admin_view(export_job_page)
export_job_cancel_view = admin.site.admin_view(export_job_cancel_view)
export_job_download = admin.site.admin_view(export_job_download)
