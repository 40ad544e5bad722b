"""The admin's CSV import: upload → preview (a dry run: counts and the first issues, nothing
written) → confirm (the real import of the same stored file) → result.

The preview and the import run as background jobs (contacts/importing/jobs.py): while one is queued
or running, its pages lead to a progress page, which polls a small JSON view and moves on to the
preview or the result when the job ends; it offers Cancel, and a failed or cancelled import offers
Resume on its result page. No request waits on a whole file.

ContactAdmin.get_urls puts `import_urls(self)` before its own URLs, so the pages live under
/admin/contacts/contact/import/. A department owner imports into their own departments and sees
only their own imports; anyone else's import id answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.errors import InvalidPhoneRegion
from contacts.importing import (
    ALLOWED_COLUMNS,
    ImportFileRejected,
    contact_import_cancel,
    contact_import_confirm,
    contact_import_queue,
    contact_import_resume,
)
from contacts.importing.jobs import ACTIVE
from contacts.models import Contact, ContactImport, ContactImportIssue
from contacts.normalise import phone_region_check
from cxfeedback.exceptions import Conflict
from departments.admin_scoping import admin_actor, visible_departments
from departments.models import Department

# The URL names, in the admin namespace ("admin:contacts_contact_import" is the upload page).
UPLOAD_URL_NAME = "contacts_contact_import"
PREVIEW_URL_NAME = "contacts_contact_import_preview"
CONFIRM_URL_NAME = "contacts_contact_import_confirm"
RESULT_URL_NAME = "contacts_contact_import_result"
REPORT_URL_NAME = "contacts_contact_import_report"
PROGRESS_URL_NAME = "contacts_contact_import_progress"
PROGRESS_JSON_URL_NAME = "contacts_contact_import_progress_json"
CANCEL_URL_NAME = "contacts_contact_import_cancel"
RESUME_URL_NAME = "contacts_contact_import_resume"
ISSUES_SHOWN = 50
PERMISSION = "contacts.add_contactimport"

View = Callable[..., HttpResponse]


def import_urls(model_admin: ModelAdmin) -> list[URLPattern]:
    """The import pages, for ContactAdmin.get_urls (place them before the admin's own URLs)."""

    def wrap(view: View) -> View:
        def bound(request: HttpRequest, **kwargs) -> HttpResponse:
            return view(request, model_admin=model_admin, **kwargs)

        return model_admin.admin_site.admin_view(bound)

    return [
        path("import/", wrap(import_upload_view), name=UPLOAD_URL_NAME),
        path("import/<int:import_id>/", wrap(import_preview_view), name=PREVIEW_URL_NAME),
        path("import/<int:import_id>/confirm/", wrap(import_confirm_view), name=CONFIRM_URL_NAME),
        path("import/<int:import_id>/result/", wrap(import_result_view), name=RESULT_URL_NAME),
        path("import/<int:import_id>/report.csv", wrap(import_report_view), name=REPORT_URL_NAME),
        path("import/<int:import_id>/progress/", wrap(import_progress_view), name=PROGRESS_URL_NAME),
        path(
            "import/<int:import_id>/progress.json",
            wrap(import_progress_json_view),
            name=PROGRESS_JSON_URL_NAME,
        ),
        path("import/<int:import_id>/cancel/", wrap(import_cancel_view), name=CANCEL_URL_NAME),
        path("import/<int:import_id>/resume/", wrap(import_resume_view), name=RESUME_URL_NAME),
    ]


class ImportUploadForm(forms.Form):
    department = forms.ModelChoiceField(queryset=Department.objects.none(), empty_label=None)
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 or Windows-1252, separated by commas or semicolons, with a header row.",
    )
    phone_region = forms.CharField(
        label="Phone region",
        required=False,
        max_length=100,
        help_text="The country (two-letter code, such as US) of the phone numbers written without a "
        "country code, unless a row's country column names one. Empty: the department's phone region; "
        "if it has none, the company default, and each such number is flagged.",
    )

    def __init__(self, *args, departments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments

    def clean_phone_region(self) -> str:
        try:
            return phone_region_check(self.cleaned_data["phone_region"], field="phone_region")
        except InvalidPhoneRegion as error:
            raise forms.ValidationError(error.message.removeprefix("phone_region: ")) from error


@require_http_methods(["GET", "POST"])
def import_upload_view(request: HttpRequest, *, model_admin: ModelAdmin) -> HttpResponse:
    _check_permission(request)
    form = ImportUploadForm(
        request.POST or None, request.FILES or None, departments=visible_departments(request)
    )
    if request.method == "POST" and form.is_valid():
        try:
            contact_import = contact_import_queue(
                department=form.cleaned_data["department"],
                upload=form.cleaned_data["file"],
                actor=admin_actor(request),
                dry_run=True,
                phone_region=form.cleaned_data["phone_region"],
            )
        except ImportFileRejected as error:
            form.add_error("file", error.message)
        else:
            return HttpResponseRedirect(_url(PROGRESS_URL_NAME, contact_import))
    context = {"form": form, "allowed_columns": ALLOWED_COLUMNS, "title": "Import contacts from CSV"}
    return _render(request, model_admin, "admin/contacts/import_upload.html", context)


@require_GET
def import_preview_view(request: HttpRequest, *, model_admin: ModelAdmin, import_id: int) -> HttpResponse:
    contact_import = _import_for(request, import_id)
    if contact_import.status in ACTIVE:
        return HttpResponseRedirect(_url(PROGRESS_URL_NAME, contact_import))
    if contact_import.status != ContactImport.Status.PREVIEWED:
        return HttpResponseRedirect(_url(RESULT_URL_NAME, contact_import))
    context = _import_context(contact_import, title=f"Preview of {contact_import.filename or 'the file'}")
    return _render(request, model_admin, "admin/contacts/import_preview.html", context)


@require_POST
def import_confirm_view(request: HttpRequest, *, model_admin: ModelAdmin, import_id: int) -> HttpResponse:
    contact_import = _import_for(request, import_id)
    try:
        contact_import_confirm(contact_import=contact_import, actor=admin_actor(request))
    except Conflict as error:
        messages.warning(request, error.message)
        return HttpResponseRedirect(_url(RESULT_URL_NAME, contact_import))
    return HttpResponseRedirect(_url(PROGRESS_URL_NAME, contact_import))


@require_GET
def import_progress_view(request: HttpRequest, *, model_admin: ModelAdmin, import_id: int) -> HttpResponse:
    contact_import = _import_for(request, import_id)
    if contact_import.status not in ACTIVE:
        return HttpResponseRedirect(_ended_url(contact_import))
    kind = "Preview" if contact_import.dry_run else "Import"
    context = {
        "title": f"{kind} of {contact_import.filename or 'a file'}",
        "contact_import": contact_import,
        "progress": _progress(contact_import),
        "progress_json_url": _url(PROGRESS_JSON_URL_NAME, contact_import),
        "cancel_url": _url(CANCEL_URL_NAME, contact_import),
    }
    return _render(request, model_admin, "admin/contacts/import_progress.html", context)


@require_GET
def import_progress_json_view(
    request: HttpRequest, *, model_admin: ModelAdmin, import_id: int
) -> JsonResponse:
    """What the progress page polls: the state, rows done of total, and where to go once it ended."""
    contact_import = _import_for(request, import_id)
    ended = contact_import.status not in ACTIVE
    return JsonResponse(
        {
            "status": contact_import.status,
            "status_display": contact_import.get_status_display(),
            **_progress(contact_import),
            "next_url": _ended_url(contact_import) if ended else "",
        }
    )


@require_POST
def import_cancel_view(request: HttpRequest, *, model_admin: ModelAdmin, import_id: int) -> HttpResponse:
    contact_import = _import_for(request, import_id)
    try:
        contact_import = contact_import_cancel(actor=admin_actor(request), import_id=contact_import.pk)
    except Conflict as error:
        messages.warning(request, error.message)
    else:
        messages.success(request, "Cancelled. Rows imported before it stopped stay imported.")
    return HttpResponseRedirect(_ended_url(contact_import))


@require_POST
def import_resume_view(request: HttpRequest, *, model_admin: ModelAdmin, import_id: int) -> HttpResponse:
    contact_import = _import_for(request, import_id)
    try:
        contact_import_resume(actor=admin_actor(request), import_id=contact_import.pk)
    except Conflict as error:
        messages.warning(request, error.message)
        return HttpResponseRedirect(_url(RESULT_URL_NAME, contact_import))
    return HttpResponseRedirect(_url(PROGRESS_URL_NAME, contact_import))


@require_GET
def import_result_view(request: HttpRequest, *, model_admin: ModelAdmin, import_id: int) -> HttpResponse:
    contact_import = _import_for(request, import_id)
    if contact_import.status in ACTIVE:
        return HttpResponseRedirect(_url(PROGRESS_URL_NAME, contact_import))
    if contact_import.status == ContactImport.Status.PREVIEWED:
        return HttpResponseRedirect(_url(PREVIEW_URL_NAME, contact_import))
    context = _import_context(contact_import, title=f"Import of {contact_import.filename or 'a file'}")
    context["issues_url"] = (
        reverse("admin:contacts_contactimportissue_changelist")
        + f"?contact_import__id__exact={contact_import.pk}"
    )
    resumable = contact_import.status in (ContactImport.Status.FAILED, ContactImport.Status.CANCELLED)
    context["resume_url"] = (
        _url(RESUME_URL_NAME, contact_import) if resumable and contact_import.stored_file else ""
    )
    return _render(request, model_admin, "admin/contacts/import_result.html", context)


@require_GET
def import_report_view(request: HttpRequest, *, model_admin: ModelAdmin, import_id: int) -> FileResponse:
    contact_import = _import_for(request, import_id)
    report = Path(contact_import.report_file) if contact_import.report_file else None
    if report is None or not report.is_file():
        raise Http404("This import has no per-row report.")
    name = f"import-{contact_import.pk}-{'preview' if contact_import.status == 'previewed' else 'report'}.csv"
    return FileResponse(report.open("rb"), as_attachment=True, filename=name, content_type="text/csv")


def _check_permission(request: HttpRequest) -> None:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied


def _import_for(request: HttpRequest, import_id: int) -> ContactImport:
    """The import if the user may see it; 404 otherwise, so ids say nothing about other departments."""
    _check_permission(request)
    contact_import = (
        ContactImport.objects.select_related("department", "created_by").filter(pk=import_id).first()
    )
    if contact_import is None or not admin_actor(request).sees_department(contact_import.department_id):
        raise Http404("No such import.")
    return contact_import


def _import_context(contact_import: ContactImport, *, title: str) -> dict:
    counts = contact_import.counts
    outcomes = [
        ("Rows read", counts.get("rows", 0)),
        ("New contacts", counts.get("created", 0)),
        ("Matched to a known contact", counts.get("matched", 0)),
        ("Matched, with new identities added", counts.get("identities_added", 0)),
        ("Of the matched: details updated", counts.get("updated", 0)),
        (
            "Imported with a warning (a cell left out, a number read by a guess)",
            counts.get("with_warnings", 0),
        ),
        ("Invalid rows (not imported)", counts.get("invalid", 0)),
        ("Conflicts for a CX lead (not imported)", counts.get("conflict", 0)),
    ]
    return {
        "title": title,
        "contact_import": contact_import,
        "outcomes": outcomes,
        "issues": _issues_shown(contact_import),
        "issue_total": contact_import.issues.count(),
        "report_url": _url(REPORT_URL_NAME, contact_import) if contact_import.report_file else "",
        "confirm_url": _url(CONFIRM_URL_NAME, contact_import),
        "upload_url": reverse(f"admin:{UPLOAD_URL_NAME}"),
    }


def _progress(contact_import: ContactImport) -> dict:
    done, total = contact_import.rows_done, contact_import.rows_total
    percent = min(100, done * 100 // total) if total else 0
    return {"rows_done": done, "rows_total": total, "percent": percent}


def _ended_url(contact_import: ContactImport) -> str:
    if contact_import.status in ACTIVE:
        return _url(PROGRESS_URL_NAME, contact_import)
    previewed = contact_import.status == ContactImport.Status.PREVIEWED
    return _url(PREVIEW_URL_NAME if previewed else RESULT_URL_NAME, contact_import)


def _issues_shown(contact_import: ContactImport) -> list[ContactImportIssue]:
    """The first rows left out, then the first imported with a warning: where nobody named a phone
    region every national number has a warning, and the rows to fix must not drown among them."""
    issues = contact_import.issues.all()
    shown = list(issues.exclude(kind=ContactImportIssue.Kind.WARNING)[:ISSUES_SHOWN])
    if len(shown) < ISSUES_SHOWN:
        shown += issues.filter(kind=ContactImportIssue.Kind.WARNING)[: ISSUES_SHOWN - len(shown)]
    return shown


def _render(request: HttpRequest, model_admin: ModelAdmin, template: str, context: dict) -> HttpResponse:
    base = {**model_admin.admin_site.each_context(request), "opts": Contact._meta}
    return render(request, template, {**base, **context})


def _url(name: str, contact_import: ContactImport) -> str:
    return reverse(f"admin:{name}", args=[contact_import.pk])
