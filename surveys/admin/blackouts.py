"""Blackouts in the admin: the events that stop surveys to a contact or an account (an open
complaint, a ticket, an outage, a cancellation), opened and closed through the API by their
external id. A department owner sees their departments' blackouts, a CX lead all of them; they are
filtered by state (open, closed and still blocking, ended) and closed with the "Close" action,
which goes through surveys.gatekeeper.blackouts as the API does. Nothing is added, edited or
deleted here: a blackout is the opener's system's record."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from departments.admin_scoping import DepartmentScopedAdmin
from surveys.gatekeeper.blackouts import blackout_close
from surveys.models import Blackout


class BlackoutStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [
            ("open", "Open"),
            ("closed", "Closed"),
            ("blocking", "Closed, still blocking"),
            ("ended", "Ended"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Blackout]) -> QuerySet[Blackout]:
        still_blocking = Q(closed_at__isnull=False) & Q(closed_at__gt=timezone.now() - F("tail"))
        return {
            "open": queryset.filter(closed_at__isnull=True),
            "closed": queryset.filter(closed_at__isnull=False),
            "blocking": queryset.filter(still_blocking),
            "ended": queryset.filter(closed_at__isnull=False).exclude(still_blocking),
        }.get(self.value(), queryset)


@admin.register(Blackout)
class BlackoutAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "department"
    list_display = [
        "external_id",
        "kind",
        "department",
        "covers",
        "opened_at",
        "closed_at",
        "ends_at",
        "state",
    ]
    list_filter = [BlackoutStateFilter, "kind", "department"]
    list_select_related = ["department", "contact", "account"]
    search_fields = ["external_id"]
    ordering = ["-opened_at", "-pk"]
    date_hierarchy = "opened_at"
    actions = ["close_selected"]
    fields = [
        "external_id",
        "kind",
        "department",
        "covers",
        "summary",
        "opened_at",
        "closed_at",
        "tail",
        "ends_at",
    ]
    readonly_fields = fields

    @admin.display(description="contact or account")
    def covers(self, blackout: Blackout) -> str:
        if blackout.account_id:
            return f"Account {blackout.account.external_id or blackout.account.name}"
        return str(blackout.contact)

    @admin.display(description="blocks surveys until")
    def ends_at(self, blackout: Blackout):
        return blackout.ends_at or "while open"

    @admin.display(description="state")
    def state(self, blackout: Blackout) -> str:
        if blackout.closed_at is None:
            return "open"
        return "closed, still blocking" if blackout.ends_at > timezone.now() else "ended"

    @admin.action(description="Close the selected blackouts (surveys stay blocked for their tail)")
    def close_selected(self, request: HttpRequest, queryset: QuerySet[Blackout]) -> None:
        open_ones = list(queryset.filter(closed_at__isnull=True).select_related("department"))
        for blackout in open_ones:
            blackout_close(department=blackout.department, external_id=blackout.external_id)
        self.message_user(request, f"Closed {len(open_ones)} blackout(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Blackout | None = None) -> bool:
        # View only, but the close action needs the change permission on the list.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Blackout | None = None) -> bool:
        return False
