"""Merges in the admin, for CX leads: the merge page (two contacts, what merging them would do,
a reason), the list of merges with who, when and why, and "Unmerge" on a merge's page. Everything
goes through surveys/merges.py, as the API does. Department owners never see this page; they
propose a merge from their contact list (contacts/admin/merge_actions.py)."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from contacts.models import Contact, ContactMerge
from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import admin_actor
from surveys.merges import contact_merge, contact_merge_preview, contact_unmerge


class MergeForm(forms.Form):
    survivor = forms.UUIDField(label="Keep", help_text="The API id of the contact that stays.")
    absorbed = forms.UUIDField(label="Merge into it", help_text="The API id of the contact merged into it.")
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why they are one person: kept with the merge, and in the audit log.",
    )


@admin.register(ContactMerge)
class ContactMergeAdmin(admin.ModelAdmin):
    list_display = ["__str__", "merged_by", "created_at", "reason", "rules_exceeded", "unmerged_at"]
    list_select_related = ["survivor", "absorbed", "merged_by"]
    list_filter = [("unmerged_at", admin.EmptyFieldListFilter)]
    fields = ["survivor", "absorbed", "merged_by", "created_at", "reason", "rules_exceeded", "rows_moved"]
    fields += ["unmerged_at", "unmerged_by"]
    readonly_fields = fields

    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin_actor(request).is_cx_lead

    def has_view_permission(self, request: HttpRequest, obj: ContactMerge | None = None) -> bool:
        return admin_actor(request).is_cx_lead

    def has_add_permission(self, request: HttpRequest) -> bool:
        return admin_actor(request).is_cx_lead

    def has_change_permission(self, request: HttpRequest, obj: ContactMerge | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ContactMerge | None = None) -> bool:
        return False  # history: undone by Unmerge, never deleted

    @admin.display(description="rules exceeded")
    def rules_exceeded(self, merge: ContactMerge) -> str:
        return "; ".join(f"{r['name']}: {r['touches']} of {r['limit']}" for r in merge.over_rules) or "none"

    @admin.display(description="rows moved")
    def rows_moved(self, merge: ContactMerge) -> str:
        return ", ".join(f"{label}: {len(ids)}" for label, ids in merge.moved.items()) or "none"

    def get_urls(self):
        unmerge = self.admin_site.admin_view(self.unmerge_view)
        return [
            path("<int:merge_id>/unmerge/", unmerge, name="contacts_contactmerge_unmerge"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        """The merge page: GET with two contacts shows the preview; POST with a reason merges."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        actor = admin_actor(request)
        form = MergeForm(request.POST or request.GET or None)
        preview = None
        if form.is_bound and form.is_valid():
            try:
                survivor, absorbed = (
                    Contact.objects.get(public_id=form.cleaned_data[name])
                    for name in ("survivor", "absorbed")
                )
                preview = contact_merge_preview(actor=actor, survivor_id=survivor.pk, absorbed_id=absorbed.pk)
                if request.method == "POST":
                    merge = contact_merge(
                        actor=actor,
                        survivor_id=survivor.pk,
                        absorbed_id=absorbed.pk,
                        reason=form.cleaned_data["reason"],
                    )
                    self.message_user(request, f"Merged: {merge}.", messages.SUCCESS)
                    return HttpResponseRedirect(
                        reverse("admin:contacts_contactmerge_change", args=[merge.pk])
                    )
            except Contact.DoesNotExist:
                form.add_error(None, "No contact has that API id.")
            except ApplicationError as error:
                form.add_error(None, error.message)
        swapped = None
        if preview is not None:
            swapped = "?" + urlencode(
                {"survivor": preview.absorbed.public_id, "absorbed": preview.survivor.public_id}
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Merge two contacts",
            "opts": self.model._meta,
            "form": form,
            "preview": preview,
            "swapped": swapped,
        }
        return TemplateResponse(request, "admin/contacts/contactmerge/merge.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        merge = self.get_object(request, object_id)
        can_unmerge = merge is not None and merge.unmerged_at is None and admin_actor(request).is_cx_lead
        extra = {
            "unmerge_url": reverse("admin:contacts_contactmerge_unmerge", args=[merge.pk])
            if can_unmerge
            else None
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def unmerge_view(self, request: HttpRequest, merge_id: int) -> HttpResponse:
        if not admin_actor(request).is_cx_lead:
            raise Http404  # as for every page naming another's object: not found
        if request.method != "POST":
            raise PermissionDenied
        merge = get_object_or_404(ContactMerge, pk=merge_id)
        try:
            contact_unmerge(actor=admin_actor(request), merge_id=merge.pk)
            self.message_user(
                request, f"Unmerged: {merge.absorbed} has its own records again.", messages.SUCCESS
            )
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:contacts_contactmerge_change", args=[merge.pk]))
