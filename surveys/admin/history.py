"""The gatekeeper's history in the admin: decisions (each with its explanation) and invitations,
read-only and scoped to the user's departments; searched by contact as the user sees the contact.
A department owner sees next-eligible times rounded up to the hour, as the API shows them."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import display_for_value
from django.db.models import QuerySet
from django.http import HttpRequest

from contacts.admin.search import ContactSearchAdmin
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    ReadOnlyHistoryAdmin,
    admin_actor,
)
from surveys.delivery.progress import invitation_hold
from surveys.gatekeeper.decisions import decision_explain, next_eligible_shown
from surveys.models import Decision, Invitation


@admin.register(Decision)
class DecisionAdmin(ContactSearchAdmin, ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "send_request__department"
    list_filter = ["allowed", "reason", ("send_request__department", DepartmentListFilter)]
    list_select_related = ["send_request__survey", "send_request__department", "rule", "contact"]
    # Not the contacts' primary keys: they would tell which contacts some other department knew first.
    ordering = ["send_request", "contact__public_id"]

    def get_list_display(self, request: HttpRequest) -> list:
        return [
            "send_request",
            "contact",
            "allowed",
            "reason",
            "rule",
            _next_eligible(request),
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
            _next_eligible(request),
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


def _next_eligible(request: HttpRequest):
    """A column with each decision's next-eligible time as the user may see it: for anyone but a CX
    lead rounded up to the hour, since the exact time is another department's send plus a window."""
    field = getattr(request, "_decision_next_eligible_field", None)
    if field is not None:  # one per request, so fields and read-only fields name the same column
        return field
    viewer = admin_actor(request)

    @admin.display(description="next eligible at", ordering="next_eligible_at")
    def next_eligible_at(decision: Decision) -> str:
        # Formatted here: the admin shows a read-only callable's value as str(), not as a date.
        return display_for_value(next_eligible_shown(decision.next_eligible_at, viewer=viewer), "-")

    request._decision_next_eligible_field = next_eligible_at
    return next_eligible_at


@admin.register(Invitation)
class InvitationAdmin(ContactSearchAdmin, ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "department"
    list_display = [
        "pk",
        "contact",
        "survey",
        "channel",
        "status",
        "why",
        "touched_at",
        "sent_at",
        "responded_at",
    ]
    list_filter = ["status", "channel", ("department", DepartmentListFilter)]
    list_select_related = ["contact", "survey"]
    date_hierarchy = "touched_at"
    exclude: list[str] = []

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invitation]:
        return super().get_queryset(request).order_by("-touched_at", "-pk")

    @admin.display(description="why")
    def why(self, invitation: Invitation) -> str:
        """A queued invitation's hold (quiet hours, planned, retrying, waiting for a sender); a failed
        or cancelled one's reason."""
        return invitation_hold(invitation) or invitation.failure_reason or "—"
