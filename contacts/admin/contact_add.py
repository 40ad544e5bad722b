"""The contact list's "Add contact" page: a person comes into one of the user's departments through
contacts.services.contact_upsert, exactly as through the API.

So an email or phone number another department knows is, here, simply a person new to this
department: the page answers the same whether or not anyone else knows them, and writes only this
department's view and the identities it supplied.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from contacts.errors import InvalidContact, InvalidIdentity
from contacts.models import DepartmentContact, Identity
from contacts.services import NAME_MAX_LENGTH, NOTES_MAX_LENGTH, contact_upsert
from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import admin_actor, visible_departments
from departments.models import Department

# The form field each kind of identity is typed in, to show a service's error next to it.
IDENTITY_FIELDS = {
    Identity.Kind.EMAIL: "email",
    Identity.Kind.PHONE: "phone",
    Identity.Kind.EXTERNAL: "external_id",
}


class ContactAddForm(forms.Form):
    department = forms.ModelChoiceField(
        queryset=Department.objects.none(), help_text="The department whose contacts the person joins."
    )
    email = forms.CharField(max_length=320, required=False)
    phone = forms.CharField(max_length=320, required=False)
    external_source = forms.CharField(
        max_length=60, required=False, help_text="The system of the external id."
    )
    external_id = forms.CharField(max_length=320, required=False, label="External id")
    name = forms.CharField(max_length=NAME_MAX_LENGTH, required=False)
    locale = forms.CharField(max_length=16, required=False, help_text="A language tag such as en or de-AT.")
    time_zone = forms.CharField(max_length=64, required=False, help_text="For example Europe/Berlin.")
    attributes = forms.JSONField(required=False, initial=dict, widget=forms.Textarea(attrs={"rows": 3}))
    notes = forms.CharField(
        max_length=NOTES_MAX_LENGTH, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, departments: QuerySet[Department], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments
        if departments.count() == 1:
            self.fields["department"].initial = departments.first()

    def clean(self) -> dict:
        cleaned = super().clean()
        if bool(cleaned.get("external_id")) != bool(cleaned.get("external_source")):
            self.add_error("external_id", "An external id and its source system go together.")
        if not any(cleaned.get(field) for field in IDENTITY_FIELDS.values()) and not self.errors:
            raise forms.ValidationError("Give an email address, a phone number or an external id.")
        return cleaned

    def identities(self) -> list[tuple[str, str, str]]:
        data = self.cleaned_data
        identities = [
            (Identity.Kind.EMAIL, "", data["email"]),
            (Identity.Kind.PHONE, "", data["phone"]),
            (Identity.Kind.EXTERNAL, data["external_source"], data["external_id"]),
        ]
        return [identity for identity in identities if identity[2]]

    def view_fields(self) -> dict[str, Any]:
        """The view's fields that were filled in; an empty one is "not given" (None)."""
        return {
            name: self.cleaned_data[name] or None
            for name in ("name", "locale", "time_zone", "attributes", "notes")
        }


def add_view(model_admin, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """GET: the form; POST: contact_upsert into the chosen department, then the person's page."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    form = ContactAddForm(request.POST or None, departments=visible_departments(request))
    if request.method == "POST" and form.is_valid():
        view = _upsert(model_admin, request, form)
        if view is not None:
            return HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[view.contact_id]))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Add contact",
        "opts": model_admin.opts,
        "form": form,
        **(extra_context or {}),
    }
    return TemplateResponse(request, "admin/contacts/contact/add.html", context)


def _upsert(model_admin, request: HttpRequest, form: ContactAddForm) -> DepartmentContact | None:
    department = form.cleaned_data["department"]
    try:
        view, created = contact_upsert(
            actor=admin_actor(request),
            department=department,
            identities=form.identities(),
            source=DepartmentContact.Source.ADMIN,
            **form.view_fields(),
        )
    except ApplicationError as error:
        form.add_error(_error_field(error), error.message)
        return None
    change = [{"added" if created else "changed": {"name": "contact view", "object": str(view)}}]
    if created:
        model_admin.log_addition(request, view.contact, change)
        model_admin.message_user(request, f"Added to {department}'s contacts.", messages.SUCCESS)
    else:
        model_admin.log_change(request, view.contact, change)
        model_admin.message_user(
            request,
            f"Already one of {department}'s contacts: its view has what you entered.",
            messages.SUCCESS,
        )
    return view


def _error_field(error: ApplicationError) -> str | None:
    """The form field a service's error is about, or None (above the form)."""
    if isinstance(error, InvalidContact):
        return next(iter(error.extra.get("fields", {})), None)
    if isinstance(error, InvalidIdentity):
        return IDENTITY_FIELDS.get(error.extra.get("kind"))
    return None
