"""The contact list's merge actions: a CX lead merges two selected contacts (on the merge page,
surveys/admin/merges.py); a department owner proposes that two of their contacts are one person
(contacts.services.contact_merge_propose), and sees nothing of either beyond their own view."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from contacts.models import Contact
from contacts.services import contact_merge_propose
from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import admin_actor
from departments.models import Department


class ProposalForm(forms.Form):
    department = forms.ModelChoiceField(
        queryset=Department.objects.none(), help_text="Which of your departments asks."
    )
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why they are one person (a CX lead reads this before merging).",
    )

    def __init__(self, *args, departments: QuerySet[Department], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments
        if len(departments) == 1:
            self.fields["department"].initial = departments[0]


@admin.action(description="Merge the two selected contacts…")
def merge_selected(model_admin, request: HttpRequest, contacts: QuerySet[Contact]) -> HttpResponse | None:
    """To the merge page with the two contacts, the one known longest as the survivor."""
    pair = _two(model_admin, request, contacts)
    if pair is None:
        return None
    query = urlencode({"survivor": pair[0].public_id, "absorbed": pair[1].public_id})
    return HttpResponseRedirect(f"{reverse('admin:contacts_contactmerge_add')}?{query}")


@admin.action(description="Propose merging the two selected contacts…")
def propose_merge(model_admin, request: HttpRequest, contacts: QuerySet[Contact]) -> HttpResponse | None:
    """A page asking why (and for which department), then the proposal to the CX leads."""
    pair = _two(model_admin, request, contacts)
    if pair is None:
        return None
    actor = admin_actor(request)
    departments = Department.objects.filter(pk__in=actor.department_ids).order_by("name")
    form = ProposalForm(request.POST if "reason" in request.POST else None, departments=departments)
    if form.is_bound and form.is_valid():
        try:
            contact_merge_propose(
                actor=actor,
                department=form.cleaned_data["department"],
                public_ids=[str(contact.public_id) for contact in pair],
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as error:
            model_admin.message_user(request, error.message, messages.ERROR)
            return None
        model_admin.message_user(request, "Your proposal went to the CX leads, who decide whether to merge.")
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Propose a merge",
        "opts": model_admin.model._meta,
        "contacts": [(contact, model_admin.shown_name(contact)) for contact in pair],
        "form": form,
        "action": "propose_merge",
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/contacts/contact/propose_merge.html", context)


def _two(model_admin, request: HttpRequest, contacts: QuerySet[Contact]) -> list[Contact] | None:
    pair = sorted(contacts, key=lambda contact: (contact.created_at, contact.pk))
    if len(pair) != 2:
        model_admin.message_user(request, "Select exactly two contacts.", messages.WARNING)
        return None
    return pair
