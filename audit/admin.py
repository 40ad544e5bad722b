"""The audit log in the admin: read-only, and for CX leads only (departments/roles.py gives the
view permission to CX leads alone)."""

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AdminAction, AuditEntry
from departments.admin_scoping import ReadOnlyHistoryAdmin
from departments.roles import is_cx_lead


class CxLeadOnly:
    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_cx_lead(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_cx_lead(request.user)


@admin.register(AuditEntry)
class AuditEntryAdmin(CxLeadOnly, ReadOnlyHistoryAdmin, admin.ModelAdmin):
    list_display = ["at", "action", "actor", "object_type", "object_id", "summary"]
    list_filter = ["action", "object_type"]
    list_select_related = ["user"]
    search_fields = ["actor", "object_id", "summary"]
    date_hierarchy = "at"
    fields = ["at", "action", "actor", "user", "object_type", "object_id", "summary", "details"]


@admin.register(AdminAction)
class AdminActionAdmin(CxLeadOnly, ReadOnlyHistoryAdmin, admin.ModelAdmin):
    list_display = ["action_time", "user", "action_flag", "content_type", "object_id", "object_repr"]
    list_filter = ["action_flag", "content_type"]
    list_select_related = ["user", "content_type"]
    search_fields = ["object_id", "object_repr", "user__username"]
    date_hierarchy = "action_time"
    fields = [
        "action_time",
        "user",
        "action_flag",
        "content_type",
        "object_id",
        "object_repr",
        "change_message",
    ]
