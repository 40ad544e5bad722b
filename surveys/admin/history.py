"""The gatekeeper's history in the admin: decisions (each with its explanation) and invitations,
read-only and scoped to the user's departments."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    ReadOnlyHistoryAdmin,
    admin_actor,
)
from surveys.gatekeeper.decisions import decision_explain
from surveys.models import Decision, Invitation


@admin.register(Decision)
class DecisionAdmin(ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "send_request__department"
    list_filter = ["allowed", "reason", ("send_request__department", DepartmentListFilter)]
    list_select_related = ["send_request__survey", "send_request__department", "rule", "contact"]
    search_fields = ["contact__name"]
    ordering = ["send_request", "contact_id"]

    def get_list_display(self, request: HttpRequest) -> list:
        return [
            "send_request",
            "contact",
            "allowed",
            "reason",
            "rule",
            "next_eligible_at",
            _explained(request),
        ]

    def get_fields(self, request: HttpRequest, obj: Decision | None = None) -> list:
        return [
            "send_request",
            "contact",
            "allowed",
            "reason",
            "rule",
            "rule_version",
            "next_eligible_at",
            "decided_at",
            _explained(request),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Decision | None = None) -> list:
        return self.get_fields(request, obj)


def _explained(request: HttpRequest):
    """A column explaining each decision to the user looking (never naming another department)."""
    viewer = admin_actor(request)

    def explanation(decision: Decision) -> str:
        return decision_explain(decision, viewer=viewer)

    explanation.short_description = "explanation"
    return explanation


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "department"
    list_display = ["pk", "contact", "survey", "channel", "status", "touched_at", "sent_at", "responded_at"]
    list_filter = ["status", "channel", ("department", DepartmentListFilter)]
    list_select_related = ["contact", "survey"]
    search_fields = ["contact__name"]
    date_hierarchy = "touched_at"
    exclude: list[str] = []

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invitation]:
        return super().get_queryset(request).order_by("-touched_at", "-pk")
