"""A contact's identities in the admin: typed as given and normalised on save, never by hand, and
each one belongs to one person.

A department owner sees the identities their departments supplied (contacts/supplies.py), as their
department wrote them and since their department has them; one they add is recorded as supplied by
their departments that know the person. A CX lead sees every identity, with who supplied it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest

from contacts.errors import InvalidIdentity
from contacts.models import Contact, DepartmentContact, DepartmentIdentity, Identity
from contacts.normalise import normalise_identity
from contacts.supplies import as_supplied, identities_supply, supplied_by
from departments.actors import Actor
from departments.admin_scoping import DepartmentScopedAdmin, admin_actor


def identities_as_supplied(identities: QuerySet[Identity], department_ids) -> QuerySet[Identity]:
    """The identities these departments supplied, each with `shown_value` (as the first of them to
    supply it wrote it) and `shown_since` (when that was). Identity.value and created_at are the
    first writer's, of any department: shown to another, they would say someone had it first."""
    return identities.filter(supplied_by(department_ids)).annotate(
        shown_value=as_supplied(department_ids), shown_since=as_supplied(department_ids, "created_at")
    )


class IdentityForm(forms.ModelForm):
    """Kind, source and value as typed; `normalised` is computed here, so it can never be hand-edited."""

    # Set per request by IdentityInline.get_formset: what "already there" means depends on who adds.
    actor: Actor

    class Meta:
        model = Identity
        fields = ["kind", "source", "value"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The person's identity this form adds to the owner's departments, if the person has it already.
        self.supplied_identity: Identity | None = None
        if hasattr(self.instance, "shown_value"):
            # An owner's existing rows are view only (no change permission): shown, never saved.
            self.instance.value, self.instance.created_at = (
                self.instance.shown_value,
                self.instance.shown_since,
            )

    def clean(self) -> dict:
        cleaned = super().clean()
        kind, value, source = cleaned.get("kind"), cleaned.get("value"), (cleaned.get("source") or "").strip()
        if not kind or not value:
            return cleaned
        if kind == Identity.Kind.EXTERNAL and not source:
            self.add_error("source", "An external id needs the source system it comes from.")
        if kind != Identity.Kind.EXTERNAL and source:
            self.add_error("source", "Only an external id has a source system.")
        try:
            normalised = normalise_identity(kind, value)
        except InvalidIdentity as error:
            self.add_error("value", error.message)
            return cleaned
        existing = (
            Identity.objects.filter(kind=kind, source=source, normalised=normalised)
            .exclude(pk=self.instance.pk)
            .first()
        )
        if existing is not None and existing.contact_id != self.instance.contact_id:
            # Which contact it is stays unsaid: it may be known only to another department.
            self.add_error("value", "This identity belongs to another contact; a CX lead can merge the two.")
        elif existing is not None and self._seen(existing):
            self.add_error("value", "This contact already has this identity.")
        elif existing is not None:
            # The person has it from another department: to this one it is new, and now supplied.
            self.supplied_identity = existing
        cleaned["source"], cleaned["value"] = source, value.strip()
        self.instance.normalised = normalised
        return cleaned

    def _seen(self, identity: Identity) -> bool:
        if self.actor.is_cx_lead:
            return True
        return Identity.objects.filter(supplied_by(self.actor.department_ids), pk=identity.pk).exists()


class IdentityFormSet(forms.BaseInlineFormSet):
    """The identities of one contact page: none listed twice."""

    def clean(self) -> None:
        super().clean()
        seen: set[tuple[str, str, str]] = set()
        for form in self.forms:
            if self._should_delete_form(form) or not form.instance.normalised:
                continue
            key = (form.instance.kind, form.instance.source, form.instance.normalised)
            if key in seen:
                raise forms.ValidationError(f"{form.instance.value} is listed twice (as the same identity).")
            seen.add(key)


class IdentityInline(DepartmentScopedAdmin, admin.TabularInline):
    """The contact page's identities, their normalised form shown, not edited."""

    model = Identity
    form = IdentityForm
    formset = IdentityFormSet
    readonly_fields = ["normalised", "created_at", "supplied_by_departments"]
    extra = 0

    def scope_queryset(self, queryset: QuerySet[Identity], actor: Actor) -> QuerySet[Identity]:
        return identities_as_supplied(queryset, actor.department_ids)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Identity]:
        identities = super().get_queryset(request).order_by("pk")
        if not admin_actor(request).is_cx_lead:
            return identities
        suppliers = DepartmentIdentity.objects.select_related("department").order_by("created_at", "pk")
        return identities.select_related("department").prefetch_related(
            Prefetch("suppliers", queryset=suppliers)
        )

    def get_fields(self, request: HttpRequest, obj: Contact | None = None) -> list[str]:
        fields = ["kind", "source", "value", "normalised", "created_at"]
        return [*fields, "supplied_by_departments"] if admin_actor(request).is_cx_lead else fields

    def get_formset(self, request: HttpRequest, obj: Contact | None = None, **kwargs):
        kwargs["form"] = type("IdentityForm", (IdentityForm,), {"actor": admin_actor(request)})
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="supplied by")
    def supplied_by_departments(self, identity: Identity) -> str:
        """Which departments supplied it, the first one first, with how each wrote it where that differs."""
        first = [identity.department.name] if identity.department_id else []
        return (
            ", ".join(
                first
                + [
                    supply.department.name
                    + (f" (as {supply.value})" if supply.value and supply.value != identity.value else "")
                    for supply in identity.suppliers.all()
                ]
            )
            or "—"
        )


def identities_save(formset: IdentityFormSet, *, actor: Actor, contact: Contact) -> None:
    """Save the contact page's identities. A CX lead's are saved as typed; an owner's new ones (they
    change none) are recorded as supplied by their departments that know the person, and one the
    person has already (from another department) is only recorded as supplied."""
    if actor.is_cx_lead:
        formset.save()
        return
    forms_by_instance = {id(form.instance): form for form in formset.extra_forms}
    department_ids = list(
        DepartmentContact.objects.filter(contact=contact, department_id__in=actor.department_ids)
        .order_by("department_id")
        .values_list("department_id", flat=True)
    )
    supplied = []
    for identity in formset.save(commit=False):
        form = forms_by_instance[id(identity)]
        if form.supplied_identity is not None:
            identity = form.supplied_identity
        else:
            identity.department_id = department_ids[0] if department_ids else None
            identity.save()
        for department_id in department_ids:
            identities_supply(department_id, [(identity.pk, form.cleaned_data["value"])])
        supplied.append(identity)
    formset.new_objects = supplied
