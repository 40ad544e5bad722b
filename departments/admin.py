"""Departments and their API keys in the admin.

CX leads see and edit every department (members through a two-pane picker). Department owners
see only their own departments, read-only, and their departments' API keys, which they may create
and revoke. A key is created on the "Add API key" page, which shows the plain key exactly once on
the response page (never stored, never put in a message cookie); `manage.py create_api_key` does
the same from a shell.

Company settings (whether every department may send to every channel of a person, whether
follow-ups wait for the survey frequency rules) are one row that only CX leads see and change.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from contacts.errors import InvalidPhoneRegion
from contacts.normalise import phone_region_check
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    admin_actor,
    visible_departments,
)
from departments.models import ApiKey, CompanySettings, Department
from departments.services import api_key_create, api_keys_revoke


class DepartmentForm(forms.ModelForm):
    class Meta:
        model = Department
        fields = [
            "name",
            "slug",
            "members",
            "phone_region",
            "approval_threshold",
            "monthly_touch_budget",
            "daily_trigger_cap",
        ]

    def clean_phone_region(self) -> str:
        """The region upper-cased ("us" → "US"); one phonenumbers does not know is refused, so that
        no import falls back from a misspelt region without a word."""
        try:
            return phone_region_check(self.cleaned_data["phone_region"], field="phone_region")
        except InvalidPhoneRegion as error:
            raise forms.ValidationError(error.message.removeprefix("phone_region: ")) from error


@admin.register(Department)
class DepartmentAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "pk"
    form = DepartmentForm
    list_display = ["name", "slug", "phone_region", "member_count", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Department]:
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, department: Department) -> int:
        return department.member_count


class ApiKeyCreateForm(forms.Form):
    department = forms.ModelChoiceField(queryset=Department.objects.none())
    name = forms.CharField(max_length=100, required=False, help_text="What the key is for, e.g. “CRM sync”.")

    def __init__(self, *args, departments: QuerySet[Department], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments
        if departments.count() == 1:
            self.fields["department"].initial = departments.first()


@admin.register(ApiKey)
class ApiKeyAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "department"
    list_display = ["prefix", "name", "department", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("department", DepartmentListFilter), ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["department"]
    search_fields = ["prefix", "name"]
    fields = ["name", "prefix", "department", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "department", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Revoke, never delete: a revoked key still names the integration behind past requests.
        return False

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = api_keys_revoke(api_keys=queryset)
        self.message_user(request, f"Revoked {revoked} API key(s); they stop working now.", messages.SUCCESS)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """Create a key with api_key_create and show it once; the admin's model form would need a hash."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiKeyCreateForm(request.POST or None, departments=visible_departments(request))
        plain_key = None
        if request.method == "POST" and form.is_valid():
            api_key, plain_key = api_key_create(
                department=form.cleaned_data["department"], name=form.cleaned_data["name"]
            )
            self.log_addition(request, api_key, [{"added": {}}])
        context = {
            **self.admin_site.each_context(request),
            "title": "Your new API key" if plain_key else "Add API key",
            "opts": self.opts,
            "form": form,
            "plain_key": plain_key,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/departments/apikey/create.html", context)


@admin.register(CompanySettings)
class CompanySettingsAdmin(admin.ModelAdmin):
    """The one row of company settings (CompanySettings.current()), for CX leads only: the list
    opens that row, which is never added by hand, never a second time, never deleted."""

    list_display = ["__str__", "share_contact_channels", "follow_ups_wait_for_frequency_rules", "updated_at"]
    fields = [
        "share_contact_channels",
        "follow_ups_wait_for_frequency_rules",
        "approval_threshold",
        "updated_at",
    ]
    readonly_fields = ["updated_at"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin_actor(request).is_cx_lead and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: CompanySettings | None = None) -> bool:
        return admin_actor(request).is_cx_lead and super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: CompanySettings | None = None) -> bool:
        return admin_actor(request).is_cx_lead and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the row is made when first read (CompanySettings.current)

    def has_delete_permission(self, request: HttpRequest, obj: CompanySettings | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return redirect("admin:departments_companysettings_change", CompanySettings.current().pk)
