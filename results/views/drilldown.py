"""Drill-down pages for department owners and CX leads (inside the admin's login): single responses
with their answers, one contact's timeline, and the CSV exports. Everything is read through the
actor-scoped selectors, so a department owner sees their own departments' part only."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.admin_scoping import admin_actor
from results import exports
from results.filters import ResultsFilter, ResultsFilterForm
from results.models import ExportJob
from results.selectors.export_jobs import export_is_large
from results.selectors.responses import response_page
from results.selectors.timeline import contact_timeline
from results.services.export_jobs import export_job_queue
from results.views.export_jobs import job_url

# The permission that lets a user read responses at all; the selectors then narrow what they see.
VIEW_RESPONSES = "surveys.view_response"


def results_page(view):
    """Staff login (the admin's), the responses permission, GET only."""

    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_perm(VIEW_RESPONSES):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    checked.__name__ = view.__name__
    checked.__doc__ = view.__doc__
    return admin.site.admin_view(require_GET(checked))


def _filter_form(request: HttpRequest) -> ResultsFilterForm:
    # Always bound: every field is optional, so no parameters at all is the default filter.
    return ResultsFilterForm(request.GET, actor=admin_actor(request))


def _results_filter(form: ResultsFilterForm) -> ResultsFilter | None:
    """The form's filter (the last 365 days unless a period is given); None for invalid input."""
    return form.results_filter() if form.is_valid() else None


def _page(request: HttpRequest, template: str, context: dict) -> TemplateResponse:
    context = {**admin.site.each_context(request), **context}
    return TemplateResponse(request, f"results/{template}", context)


@results_page
def responses(request: HttpRequest) -> HttpResponse:
    """Responses with their answers, newest first, filtered, a page at a time (keyset)."""
    form = _filter_form(request)
    results_filter = _results_filter(form)
    page = None
    if results_filter is not None:
        page = response_page(
            actor=admin_actor(request), results_filter=results_filter, cursor=request.GET.get("after")
        )
    query = request.GET.copy()
    query.pop("after", None)
    return _page(
        request,
        "responses.html",
        {
            "title": "Responses",
            "form": form,
            "results_filter": results_filter,
            "page": page,
            "filter_query": query.urlencode(),
            "is_first_page": "after" not in request.GET,
        },
    )


@results_page
def timeline(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Everything that happened between the company and one contact, oldest first."""
    try:
        result = contact_timeline(actor=admin_actor(request), contact_id=contact_id)
    except NotFound as error:
        raise Http404(error.message) from error
    return _page(
        request,
        "timeline.html",
        {"title": f"Timeline: {result.contact}", "timeline": result, "contact": result.contact},
    )


@results_page
def export_responses(request: HttpRequest) -> HttpResponse:
    """Every response in the filter as CSV, streamed; a large export becomes a background job."""
    form = _filter_form(request)
    results_filter = _results_filter(form)
    if results_filter is None:
        return HttpResponseBadRequest(_form_errors(form), content_type="text/plain; charset=utf-8")
    actor = admin_actor(request)
    if export_is_large(actor=actor, results_filter=results_filter):
        return _export_job_start(actor, results_filter, ExportJob.Kind.RESPONSES)
    rows = exports.response_rows(actor, results_filter)
    return _csv(exports.csv_chunks(rows), f"responses-{results_filter.start}-to-{results_filter.end}.csv")


@results_page
def export_summary(request: HttpRequest) -> HttpResponse:
    """The summary tables (by department, by survey) in the filter as CSV."""
    form = _filter_form(request)
    results_filter = _results_filter(form)
    if results_filter is None:
        return HttpResponseBadRequest(_form_errors(form), content_type="text/plain; charset=utf-8")
    actor = admin_actor(request)
    if export_is_large(actor=actor, results_filter=results_filter):
        return _export_job_start(actor, results_filter, ExportJob.Kind.SUMMARY)
    rows = exports.summary_rows(actor, results_filter)
    return _csv(exports.csv_chunks(rows), f"summary-{results_filter.start}-to-{results_filter.end}.csv")


def _export_job_start(actor: Actor, results_filter: ResultsFilter, kind: str) -> HttpResponse:
    """More than RESULTS_EXPORT_JOB_ROWS responses: a background job, and its page with the progress."""
    job = export_job_queue(actor=actor, results_filter=results_filter, kind=kind)
    return HttpResponseRedirect(job_url(job))


def _csv(chunks, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _form_errors(form: ResultsFilterForm) -> str:
    return "\n".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
