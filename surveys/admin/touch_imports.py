"""Touch imports in the admin: a department owner (or CX lead) uploads a CSV of touches another tool
sent; it is queued as a background job (surveys/external/imports.py), never run in the request. The
list and the import's page show its state, a progress bar, counts and the rows refused (by row and
column); Cancel and Resume are actions. An owner sees their departments' imports only."""

from __future__ import annotations

import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import DepartmentScopedAdmin, admin_actor, visible_departments
from surveys.external.import_rows import CONTACT_COLUMNS, REQUIRED, header_read
from surveys.external.imports import touch_import_cancel, touch_import_queue, touch_import_resume
from surveys.models import TouchImport


class TouchImportUploadForm(forms.ModelForm):
    file = forms.FileField(
        help_text=f"CSV, UTF-8. Columns: {', '.join(REQUIRED)}, and the contact by one of "
        f"{', '.join(CONTACT_COLUMNS)}. Each row is recorded once, by source_tool and external_id."
    )

    class Meta:
        model = TouchImport
        fields = ["department"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        start = upload.read(65536)
        upload.seek(0)
        try:
            header_read(io.StringIO(start.decode("utf-8-sig", errors="replace")))
        except ApplicationError as error:
            raise ValidationError(error.message) from None
        return upload


@admin.register(TouchImport)
class TouchImportAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "department"
    list_display = ["filename", "department", "status", "progress_bar", "counted", "created_at"]
    list_filter = ["status", "department"]
    list_select_related = ["department"]
    ordering = ["-created_at", "-pk"]
    actions = ["cancel_selected", "resume_selected"]
    readonly_fields = ["filename", "department", "status", "progress_bar", "counted", "refused", "error"]

    def get_form(self, request: HttpRequest, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TouchImportUploadForm
            form = super().get_form(request, obj, **kwargs)
            form.base_fields["department"].queryset = visible_departments(request)
            return form
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return ["department", "file"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: TouchImport, form, change: bool) -> None:
        job = touch_import_queue(
            department=form.cleaned_data["department"],
            upload=form.cleaned_data["file"],
            actor=admin_actor(request),
        )
        obj.__dict__.update({key: value for key, value in job.__dict__.items() if not key.startswith("_")})
        obj._state.adding = False

    @admin.display(description="progress")
    def progress_bar(self, job: TouchImport) -> str:
        total = job.rows_total or 0
        percent = (
            min(100, job.rows_done * 100 // total) if total else (100 if job.status == "completed" else 0)
        )
        return format_html(
            '<progress value="{}" max="100"></progress> {} of {} rows', percent, job.rows_done, total or "?"
        )

    @admin.display(description="counts")
    def counted(self, job: TouchImport) -> str:
        counts = {"recorded": 0, "replayed": 0, "rejected": 0} | job.counts
        return ", ".join(f"{name} {value}" for name, value in counts.items())

    @admin.display(description="rows refused (the first 100)")
    def refused(self, job: TouchImport) -> str:
        return format_html_join(
            "",
            "<div>row {}, column {}: {}</div>",
            ((i["row"], i["column"], i["message"]) for i in job.issues),
        )

    @admin.action(description="Cancel the selected imports (at their next chunk)")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[TouchImport]) -> None:
        self._each(request, queryset, touch_import_cancel, "cancelled")

    @admin.action(description="Resume the selected failed or cancelled imports")
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[TouchImport]) -> None:
        self._each(request, queryset, touch_import_resume, "queued again")

    def _each(self, request: HttpRequest, queryset: QuerySet[TouchImport], service, done: str) -> None:
        actor = admin_actor(request)
        for job in queryset:
            try:
                service(actor=actor, public_id=job.public_id)
                self.message_user(request, f"{job}: {done}.", messages.SUCCESS)
            except ApplicationError as error:
                self.message_user(request, f"{job}: {error.message}", messages.WARNING)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
