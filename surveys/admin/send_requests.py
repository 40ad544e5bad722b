"""Send requests in the admin. A draft is created on a form of its own (department and survey limited
to the user's), then its pre-flight page shows what submitting would do, with Submit and Cancel
buttons. Everything that changes a request is a service call; the request's own page is view only."""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import dateformat, timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from contacts.models import Channel
from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    admin_actor,
    visible_departments,
)
from departments.models import Department
from surveys.admin.approvals import approval_context, approval_decide_view
from surveys.admin.audience_uploads import audience_upload_act, audience_upload_context, audience_upload_start
from surveys.admin.blocked_list import blocked_list_view
from surveys.admin.calendar import send_calendar_view
from surveys.admin.send_request_progress import delivery_context
from surveys.gatekeeper.audiences import REQUESTABLE_AUDIENCES
from surveys.gatekeeper.preflight import preflight_summary, screening_summary_rows, send_request_preflight
from surveys.gatekeeper.send_requests import send_request_cancel, send_request_create, send_request_submit
from surveys.models import PURPOSE_MAX_LENGTH, SendRequest, Survey


class OptionalJSONField(forms.JSONField):
    """A JSON field that starts empty rather than showing "null"."""

    def prepare_value(self, value: Any) -> Any:
        return "" if value is None else super().prepare_value(value)


class SendRequestCreateForm(forms.Form):
    department = forms.ModelChoiceField(queryset=Department.objects.none())
    survey = forms.ModelChoiceField(queryset=Survey.objects.none(), help_text="Current versions only.")
    channel = forms.ChoiceField(choices=Channel.choices)
    audience_kind = forms.ChoiceField(
        choices=[(kind, SendRequest.AudienceKind(kind).label) for kind in REQUESTABLE_AUDIENCES],
        label="Audience",
    )
    audience_file = forms.FileField(required=False, help_text="Uploaded list: a contacts CSV.")
    audience_filter = OptionalJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": '{"tier": "gold"}'}),
        help_text='Filtered contacts: the attributes to match, e.g. {"tier": "gold"}.',
    )
    earliest_send_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty: now. UTC.",
    )
    latest_send_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty: no deadline. UTC.",
    )
    priority = forms.IntegerField(min_value=0, max_value=10, initial=5)
    purpose = forms.CharField(
        max_length=PURPOSE_MAX_LENGTH, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, departments: QuerySet, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments
        self.fields["survey"].queryset = (
            Survey.objects.filter(department__in=departments, is_current=True)
            .select_related("department")
            .order_by("department__name", "name")
        )
        self.fields["survey"].label_from_instance = lambda survey: f"{survey} — {survey.department}"
        if departments.count() == 1:
            self.fields["department"].initial = departments.first()

    def clean(self) -> dict:
        cleaned = super().clean()
        upload = cleaned.get("audience_kind") == SendRequest.AudienceKind.UPLOAD
        if upload and not cleaned.get("audience_file"):
            self.add_error("audience_file", "Choose the CSV file with the audience.")
        if not upload and cleaned.get("audience_file"):
            self.add_error("audience_file", "Only an uploaded-list audience takes a file.")
        return cleaned


class AudienceUploadForm(forms.Form):
    audience_file = forms.FileField(label="Audience CSV", help_text="Replaces the list uploaded before.")


def _form_error(form: forms.Form, error: ApplicationError, aliases: dict[str, str] | None = None) -> None:
    """Show a service's error next to the field it names (extra["field"]), or above the form."""
    field = (aliases or {}).get(error.extra.get("field"), error.extra.get("field"))
    form.add_error(field if field in form.fields else None, error.message)


@admin.register(SendRequest)
class SendRequestAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    """View only: a request changes through its pre-flight page's buttons (services), never a form."""

    department_path = "department"
    # What, to whom and where it stands first: on a laptop screen the last columns scroll out of view.
    list_display = [
        "survey",
        "audience",
        "status",
        "preflight_link",
        "department",
        "channel",
        "earliest_send_at",
        "priority",
    ]
    list_filter = ["status", "channel", "audience_kind", ("department", DepartmentListFilter)]
    list_select_related = ["survey", "department"]
    search_fields = ["survey__name", "purpose"]
    date_hierarchy = "created_at"
    readonly_fields = ["preflight_link", "decisions_link"]

    def has_change_permission(self, request: HttpRequest, obj: SendRequest | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SendRequest | None = None) -> bool:
        return False

    def _may_act(self, request: HttpRequest) -> bool:
        """Submit, cancel and upload: for whoever may change requests (owners and CX leads)."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.display(description="audience", ordering="audience_kind")
    def audience(self, send_request: SendRequest) -> str:
        return send_request.get_audience_kind_display()

    @admin.display(description="pre-flight")
    def preflight_link(self, send_request: SendRequest) -> str:
        url = reverse("admin:surveys_sendrequest_preflight", args=[send_request.pk])
        label = "Pre-flight" if send_request.status == SendRequest.Status.DRAFT else "Report & progress"
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="decisions")
    def decisions_link(self, send_request: SendRequest) -> str:
        return format_html('<a href="{}">Decisions</a>', _decisions_url(send_request))

    def get_urls(self):
        def view(name: str, function) -> Any:
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(function),
                name=f"surveys_sendrequest_{name}",
            )

        calendar = self.admin_site.admin_view(require_GET(send_calendar_view))
        return [
            # Before the admin's own URLs, whose "<object_id>/" would take "calendar/" for an id.
            path("calendar/", calendar, name="surveys_sendrequest_calendar"),
            view("preflight", require_GET(self.preflight_view)),
            view("submit", require_POST(self.submit_view)),
            view("cancel", require_POST(self.cancel_view)),
            view("audience", require_POST(self.audience_view)),
            view("audience-cancel", require_POST(partial(self.audience_act_view, action="cancel"))),
            view("audience-resume", require_POST(partial(self.audience_act_view, action="resume"))),
            view("blocked", require_GET(partial(blocked_list_view, self))),
            view("approve", require_POST(partial(approval_decide_view, self, decision="approve"))),
            view("reject", require_POST(partial(approval_decide_view, self, decision="reject"))),
            *super().get_urls(),
        ]

    def _request_or_404(self, request: HttpRequest, object_id: str) -> SendRequest:
        return get_object_or_404(self.get_queryset(request), pk=object_id)

    def _to_preflight(self, send_request: SendRequest) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:surveys_sendrequest_preflight", args=[send_request.pk]))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """Create a draft with send_request_create (and its uploaded list), then show its pre-flight."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SendRequestCreateForm(
            request.POST or None, request.FILES or None, departments=visible_departments(request)
        )
        if request.method == "POST" and form.is_valid():
            send_request = self._create(request, form)
            if send_request is not None:
                return self._to_preflight(send_request)
        context = {
            **self.admin_site.each_context(request),
            "title": "New send request",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/surveys/sendrequest/create.html", context)

    def _create(self, request: HttpRequest, form: SendRequestCreateForm) -> SendRequest | None:
        data = form.cleaned_data
        actor = admin_actor(request)
        try:
            send_request = send_request_create(
                actor=actor,
                department=data["department"],
                survey=data["survey"],
                channel=data["channel"],
                audience_kind=data["audience_kind"],
                audience_filter=data["audience_filter"],
                earliest_send_at=data["earliest_send_at"],
                latest_send_at=data["latest_send_at"],
                priority=data["priority"],
                purpose=data["purpose"],
            )
        except ApplicationError as error:
            _form_error(form, error)
            return None
        self.log_addition(request, send_request, [{"added": {}}])
        if data["audience_file"]:
            # The draft stays even if the file is refused: the pre-flight page takes another one.
            audience_upload_start(self, request, send_request, data["audience_file"])
        return send_request

    def preflight_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET only: the pre-flight report (reads, reserves nothing) with Submit and Cancel buttons."""
        send_request = self._request_or_404(request, object_id)
        report, report_error = None, None
        if send_request.status == SendRequest.Status.DRAFT:
            try:
                report = preflight_summary(send_request_preflight(send_request=send_request))
            except ApplicationError as error:
                report_error = error.message
        may_act = self._may_act(request)
        finished = send_request.status in (SendRequest.Status.COMPLETED, SendRequest.Status.CANCELLED)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Pre-flight: {send_request}",
            "opts": self.opts,
            "original": send_request,
            "send_request": send_request,
            "report": report,
            "report_error": report_error,
            "summary": _summary_rows(send_request),
            "screened": screening_summary_rows(send_request),
            "can_submit": may_act and send_request.status == SendRequest.Status.DRAFT and report is not None,
            "can_cancel": may_act and not finished,
            "upload_form": AudienceUploadForm()
            if may_act
            and send_request.status == SendRequest.Status.DRAFT
            and send_request.audience_kind == SendRequest.AudienceKind.UPLOAD
            else None,
            "decisions_url": _decisions_url(send_request),
            **approval_context(request, send_request),
            **delivery_context(send_request),
            **audience_upload_context(send_request, may_act=may_act),
        }
        return TemplateResponse(request, "admin/surveys/sendrequest/preflight.html", context)

    def _act(self, request: HttpRequest, object_id: str, action, done: str) -> HttpResponse:
        send_request = self._request_or_404(request, object_id)
        if not self._may_act(request):
            raise PermissionDenied
        try:
            action(send_request=send_request, actor=admin_actor(request))
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.log_change(request, send_request, [{"changed": {"fields": ["status"]}}])
            self.message_user(request, done, messages.SUCCESS)
        return self._to_preflight(send_request)

    def submit_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._act(
            request,
            object_id,
            send_request_submit,
            "Submitted: the gatekeeper is deciding every contact now.",
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._act(
            request, object_id, send_request_cancel, "Cancelled; invitations not yet sent are released."
        )

    def audience_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        send_request = self._request_or_404(request, object_id)
        if not self._may_act(request):
            raise PermissionDenied
        form = AudienceUploadForm(request.POST, request.FILES)
        if form.is_valid():
            audience_upload_start(self, request, send_request, form.cleaned_data["audience_file"])
        else:
            self.message_user(request, "Choose a CSV file to upload.", messages.ERROR)
        return self._to_preflight(send_request)

    def audience_act_view(self, request: HttpRequest, object_id: str, *, action: str) -> HttpResponse:
        """Cancel or resume the request's audience upload, then back to its pre-flight page."""
        send_request = self._request_or_404(request, object_id)
        if not self._may_act(request):
            raise PermissionDenied
        audience_upload_act(self, request, send_request, action=action)
        return self._to_preflight(send_request)


def _decisions_url(send_request: SendRequest) -> str:
    return f"{reverse('admin:surveys_decision_changelist')}?send_request__id__exact={send_request.pk}"


def _moment(at) -> str:
    return dateformat.format(timezone.localtime(at), "j M Y, H:i e")


def _summary_rows(send_request: SendRequest) -> list[tuple[str, Any]]:
    """The request's own fields, for the top of the pre-flight page."""
    latest = _moment(send_request.latest_send_at) if send_request.latest_send_at else "no deadline"
    rows: list[tuple[str, Any]] = [
        ("Survey", send_request.survey),
        ("Department", send_request.department),
        ("Channel", send_request.get_channel_display()),
        ("Audience", send_request.get_audience_kind_display()),
        ("Send window", f"{_moment(send_request.earliest_send_at)} to {latest}"),
        ("Priority", send_request.priority),
        ("Purpose", send_request.purpose or "—"),
        ("Status", send_request.get_status_display()),
    ]
    if send_request.audience_kind == SendRequest.AudienceKind.FILTER:
        rows.insert(4, ("Filter", send_request.audience_filter))
    if send_request.audience_kind == SendRequest.AudienceKind.UPLOAD:
        rows.insert(4, ("Uploaded rows", send_request.audience.count()))
    return rows
