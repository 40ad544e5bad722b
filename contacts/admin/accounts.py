"""Accounts (companies and households) in the admin. A CX lead sees every account with everyone in
it and renames them or makes them households; a department owner sees, read-only, the accounts their
departments named (by the API or an import) with the number of their own contacts in each, so
nothing tells them of another department's people in the same account."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from contacts.account_selectors import account_members, accounts_visible
from contacts.models import Account
from departments.actors import Actor
from departments.admin_scoping import DepartmentScopedAdmin, admin_actor


@admin.register(Account)
class AccountAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    list_display = ["name", "kind", "external_id", "members", "created_at"]
    list_filter = ["kind"]
    search_fields = ["external_id", "name"]
    ordering = ["name", "pk"]
    fields = ["name", "kind", "external_id", "members", "created_at"]
    readonly_fields = ["members", "created_at"]

    def scope_queryset(self, queryset: QuerySet[Account], actor: Actor) -> QuerySet[Account]:
        return queryset.filter(pk__in=accounts_visible(actor=actor).values("pk"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return super().get_queryset(request).annotate(members=account_members(actor=admin_actor(request)))

    @admin.display(description="people", ordering="members")
    def members(self, account: Account) -> int:
        """Everyone in it for a CX lead; the owner's departments' contacts for an owner."""
        return account.members

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Accounts come into being when a department names one (contacts.account_services).
        return admin_actor(request).is_cx_lead and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Account | None = None) -> bool:
        return admin_actor(request).is_cx_lead and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Account | None = None) -> bool:
        return admin_actor(request).is_cx_lead and super().has_delete_permission(request, obj)
