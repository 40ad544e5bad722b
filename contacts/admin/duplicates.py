"""Duplicate searches and suggestions in the admin, for CX leads only (they compare every
department's customers; a department owner's request is refused, as for the audit log).

- Searches: "Search all contacts" on the list starts one in the background; the list and each
  search's page show its progress (the page reloads itself while it runs); "Run again" for a
  failed or cancelled one, "Cancel" for one that runs.
- Suggestions: the review queue, open ones best first, each with its score and evidence field by
  field. "Accept (merge)" opens the merge page (surveys/admin/merges.py) with the pair filled in,
  the older contact kept, so the CX lead sees what merging does (a frequency rule the person would
  be over) before confirming; "Reject" records who, when and why, and the pair is never
  suggested again.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from contacts.duplicates.selectors import evidence_summary, search_progress, suggestion_evidence
from contacts.duplicates.services import (
    duplicate_search_cancel,
    duplicate_search_rerun,
    duplicate_search_start,
    duplicate_suggestion_reject,
)
from contacts.models import DuplicateSearch, DuplicateSuggestion
from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import admin_actor


class CxLeadOnly:
    """Visible to CX leads only; nothing is added, changed or deleted through the admin's forms:
    services do every change."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin_actor(request).is_cx_lead

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return admin_actor(request).is_cx_lead

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _call(admin_page: admin.ModelAdmin, request: HttpRequest, service, success: str, **kwargs) -> None:
    try:
        service(actor=admin_actor(request), **kwargs)
        admin_page.message_user(request, success, messages.SUCCESS)
    except ApplicationError as error:
        admin_page.message_user(request, error.message, messages.ERROR)


@admin.register(DuplicateSearch)
class DuplicateSearchAdmin(CxLeadOnly, admin.ModelAdmin):
    list_display = ["created_at", "scope", "status", "progress", "found", "requested_by", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["requested_by", "contact_import"]
    fields = ["scope", "status", "progress", "total", "done", "found", "error", "requested_by"]
    fields += ["created_at", "started_at", "finished_at"]
    readonly_fields = fields
    actions = ["run_again", "cancel"]
    change_list_template = "admin/contacts/duplicatesearch/change_list.html"
    change_form_template = "admin/contacts/duplicatesearch/change_form.html"

    @admin.display(description="over")
    def scope(self, search: DuplicateSearch) -> str:
        if search.contact_import_id is None:
            return "all contacts"
        return f"the contacts of import #{search.contact_import_id}, against all contacts"

    @admin.display(description="progress")
    def progress(self, search: DuplicateSearch) -> str:
        percent, words = search_progress(search)
        return format_html('<progress value="{}" max="100"></progress> {}% · {}', percent, percent, words)

    def get_urls(self):
        start = self.admin_site.admin_view(self.start_view)
        return [path("start/", start, name="contacts_duplicatesearch_start"), *super().get_urls()]

    def start_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            search = duplicate_search_start(actor=admin_actor(request))
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:contacts_duplicatesearch_changelist"))
        self.message_user(request, "The search runs in the background; this page shows how far it got.")
        return HttpResponseRedirect(reverse("admin:contacts_duplicatesearch_change", args=[search.pk]))

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra = {"start_url": reverse("admin:contacts_duplicatesearch_start")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        search = self.get_object(request, object_id)
        active = search is not None and search.status in (
            DuplicateSearch.Status.QUEUED,
            DuplicateSearch.Status.RUNNING,
        )
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "refresh": active})

    @admin.action(description="Run again (failed or cancelled searches)")
    def run_again(self, request: HttpRequest, queryset: QuerySet[DuplicateSearch]) -> None:
        for search in queryset:
            _call(
                self,
                request,
                duplicate_search_rerun,
                f"Search {search.pk} is queued again.",
                search_id=search.pk,
            )

    @admin.action(description="Cancel (after the current step)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[DuplicateSearch]) -> None:
        for search in queryset:
            _call(
                self,
                request,
                duplicate_search_cancel,
                f"Search {search.pk} is cancelled.",
                search_id=search.pk,
            )


class ReviewStatusFilter(admin.SimpleListFilter):
    """Open suggestions unless asked otherwise: the review queue is what a CX lead comes for."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [*DuplicateSuggestion.Status.choices, (self.ALL, "All")]

    def choices(self, changelist):
        chosen = self.value() or DuplicateSuggestion.Status.OPEN
        for value, label in self.lookup_choices:
            yield {
                "selected": chosen == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        chosen = self.value() or DuplicateSuggestion.Status.OPEN
        if chosen == self.ALL:
            return queryset
        if chosen == DuplicateSuggestion.Status.OPEN:
            # A pair one of whose records was merged into someone else cannot be accepted: the
            # next search suggests the record it went into instead.
            queryset = queryset.filter(first__merged_into__isnull=True, second__merged_into__isnull=True)
        return queryset.filter(status=chosen)


@admin.register(DuplicateSuggestion)
class DuplicateSuggestionAdmin(CxLeadOnly, admin.ModelAdmin):
    list_display = ["pair", "score_shown", "evidence_shown", "source", "status", "created_at"]
    list_filter = [ReviewStatusFilter]
    list_select_related = ["first", "second", "proposed_by_department"]
    fields = ["first_contact", "second_contact", "score_shown", "status", "source", "reason"]
    fields += ["search", "reviewed_by", "reviewed_at", "review_note", "created_at"]
    readonly_fields = fields
    actions = ["accept", "reject"]
    change_form_template = "admin/contacts/duplicatesuggestion/change_form.html"

    @admin.display(description="contacts")
    def pair(self, suggestion: DuplicateSuggestion) -> str:
        return f"{suggestion.first} and {suggestion.second}"

    @admin.display(description="first contact")
    def first_contact(self, suggestion: DuplicateSuggestion) -> str:
        return _contact_link(suggestion.first)

    @admin.display(description="second contact")
    def second_contact(self, suggestion: DuplicateSuggestion) -> str:
        return _contact_link(suggestion.second)

    @admin.display(description="score", ordering="score")
    def score_shown(self, suggestion: DuplicateSuggestion) -> str:
        return "—" if suggestion.score is None else f"{suggestion.score:.1%}"

    @admin.display(description="evidence")
    def evidence_shown(self, suggestion: DuplicateSuggestion) -> str:
        return evidence_summary(suggestion) or "—"

    @admin.display(description="found by")
    def source(self, suggestion: DuplicateSuggestion) -> str:
        if suggestion.proposed_by_department_id:
            return f"proposed by {suggestion.proposed_by_department}"
        return "duplicate search" if suggestion.search_id else "—"

    def get_urls(self):
        reject = self.admin_site.admin_view(self.reject_view)
        return [
            path("<int:suggestion_id>/reject/", reject, name="contacts_duplicatesuggestion_reject"),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        suggestion = self.get_object(request, object_id)
        extra = {}
        if suggestion is not None and self.has_view_permission(request):
            extra["evidence"] = suggestion_evidence(actor=admin_actor(request), suggestion=suggestion)
            if suggestion.status == DuplicateSuggestion.Status.OPEN:
                extra["merge_url"] = merge_url(suggestion)
                extra["reject_url"] = reverse(
                    "admin:contacts_duplicatesuggestion_reject", args=[suggestion.pk]
                )
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def reject_view(self, request: HttpRequest, suggestion_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise Http404("No such suggestion.")  # an object's page: "not found", as for any id
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        note = request.POST.get("note", "")
        _call(
            self,
            request,
            duplicate_suggestion_reject,
            "Rejected: never suggested again.",
            suggestion_id=suggestion_id,
            note=note,
        )
        return HttpResponseRedirect(reverse("admin:contacts_duplicatesuggestion_changelist"))

    @admin.action(description="Accept (merge)… one at a time, with its preview")
    def accept(self, request: HttpRequest, queryset: QuerySet[DuplicateSuggestion]) -> HttpResponse | None:
        suggestions = list(queryset.select_related("first", "second")[:2])
        if len(suggestions) != 1 or suggestions[0].status != DuplicateSuggestion.Status.OPEN:
            self.message_user(
                request,
                "Choose one open suggestion: each merge is shown before it is made.",
                messages.WARNING,
            )
            return None
        return HttpResponseRedirect(merge_url(suggestions[0]))

    @admin.action(description="Reject (never suggest these pairs again)")
    def reject(self, request: HttpRequest, queryset: QuerySet[DuplicateSuggestion]) -> None:
        for suggestion in queryset:
            _call(
                self,
                request,
                duplicate_suggestion_reject,
                f"Rejected: {suggestion}.",
                suggestion_id=suggestion.pk,
            )


def merge_url(suggestion: DuplicateSuggestion) -> str:
    """The merge page with the pair filled in: the contact known longest stays."""
    survivor, absorbed = sorted((suggestion.first, suggestion.second), key=lambda c: (c.created_at, c.pk))
    score = "" if suggestion.score is None else f", score {suggestion.score:.0%}"
    query = urlencode(
        {
            "survivor": survivor.public_id,
            "absorbed": absorbed.public_id,
            "reason": f"Duplicate suggestion #{suggestion.pk}{score}",
        }
    )
    return f"{reverse('admin:contacts_contactmerge_add')}?{query}"


def _contact_link(contact) -> str:
    return format_html(
        '<a href="{}">{}</a> {}',
        reverse("admin:contacts_contact_change", args=[contact.pk]),
        contact,
        contact.name,
    )
