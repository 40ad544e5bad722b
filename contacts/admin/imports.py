"""Contact imports in the admin: each import's history, and the rows it left out (issues), which a
CX lead marks resolved once the contacts of a conflict are merged."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from contacts.admin import import_pages
from contacts.models import ContactImport, ContactImportIssue
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    ReadOnlyHistoryAdmin,
    admin_actor,
)


@admin.register(ContactImport)
class ContactImportAdmin(ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    """Imports are history: started from the contact list's "Import CSV" page, shown here."""

    department_path = "department"
    list_display = [
        "created_at",
        "filename",
        "department",
        "status",
        "progress",
        "counts_summary",
        "created_by",
    ]
    list_filter = ["status", ("department", DepartmentListFilter)]
    list_select_related = ["department", "created_by"]
    fields = [
        "department",
        "filename",
        "phone_region",
        "status",
        "progress",
        "counts_summary",
        "import_page",
        "issues_link",
        "error",
        "created_by",
        "api_key",
        "created_at",
        "completed_at",
    ]
    readonly_fields = fields

    @admin.display(description="progress")
    def progress(self, contact_import: ContactImport) -> str:
        total = contact_import.rows_total
        return (
            f"{contact_import.rows_done} of {total} rows"
            if total is not None
            else f"{contact_import.rows_done} rows"
        )

    @admin.display(description="counts")
    def counts_summary(self, contact_import: ContactImport) -> str:
        return " · ".join(
            f"{name.replace('_', ' ')} {count}" for name, count in contact_import.counts.items()
        )

    @admin.display(description="import page")
    def import_page(self, contact_import: ContactImport) -> str:
        # The result page, or the preview with its "Confirm" button while the import is only previewed.
        url = reverse(f"admin:{import_pages.RESULT_URL_NAME}", args=[contact_import.pk])
        return format_html('<a href="{}">Outcomes, first issues and the per-row report</a>', url)

    @admin.display(description="issues")
    def issues_link(self, contact_import: ContactImport) -> str:
        count = contact_import.issues.count()
        if not count:
            return "none"
        url = reverse("admin:contacts_contactimportissue_changelist")
        return format_html(
            '<a href="{}?contact_import__id__exact={}">{} issue(s)</a>', url, contact_import.pk, count
        )


@admin.register(ContactImportIssue)
class ContactImportIssueAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    """Rows an import left out, and rows it imported with a warning (a phone cell left out, a number
    read by a guess). Conflicts (identities of two contacts in one row) wait for a CX lead, who merges
    the contacts and marks the issue resolved; nothing else about an issue changes."""

    department_path = "contact_import__department"
    list_display = ["contact_import", "row_number", "kind", "column", "reason", "resolved"]
    list_filter = ["kind", "resolved", ("contact_import__department", DepartmentListFilter)]
    list_select_related = ["contact_import__department"]
    actions = ["mark_resolved"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ContactImportIssue | None = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: ContactImportIssue | None = None) -> list[str]:
        fields = ["contact_import", "row_number", "kind", "column", "reason", "data", "resolved"]
        # The contacts a conflicting row names may be known only to other departments.
        return [*fields, "conflicting_contacts"] if admin_actor(request).is_cx_lead else fields

    def get_readonly_fields(self, request: HttpRequest, obj: ContactImportIssue | None = None) -> list[str]:
        return [field for field in self.get_fields(request, obj) if field != "resolved"]

    @admin.display(description="contacts")
    def conflicting_contacts(self, issue: ContactImportIssue):
        links = [(reverse("admin:contacts_contact_change", args=[pk]), pk) for pk in issue.contact_ids]
        return format_html_join(", ", '<a href="{}">Contact #{}</a>', links) or "—"

    @admin.action(description="Mark selected issues resolved", permissions=["change"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[ContactImportIssue]) -> None:
        updated = queryset.filter(resolved=False).update(resolved=True)
        self.message_user(request, f"Marked {updated} issue(s) resolved.", messages.SUCCESS)
