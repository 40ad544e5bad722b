"""A contact's identities in the admin: typed as given and normalised on save, never by hand, and
each one belongs to one contact only."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from contacts.errors import InvalidIdentity
from contacts.models import Identity
from contacts.normalise import normalise_identity


class IdentityForm(forms.ModelForm):
    """Kind, source and value as typed; `normalised` is computed here, so it can never be hand-edited."""

    class Meta:
        model = Identity
        fields = ["kind", "source", "value"]

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
        owner_id = (
            Identity.objects.filter(kind=kind, source=source, normalised=normalised)
            .exclude(pk=self.instance.pk)
            .values_list("contact_id", flat=True)
            .first()
        )
        if owner_id is not None and owner_id == self.instance.contact_id:
            self.add_error("value", "This contact already has this identity.")
        elif owner_id is not None:
            # Which contact it is stays unsaid: it may be known only to another department.
            self.add_error("value", "This identity belongs to another contact; a CX lead can merge the two.")
        cleaned["source"], cleaned["value"] = source, value.strip()
        self.instance.normalised = normalised
        return cleaned


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


class IdentityInline(admin.TabularInline):
    """The contact page's identities, their normalised form shown, not edited."""

    model = Identity
    form = IdentityForm
    formset = IdentityFormSet
    fields = ["kind", "source", "value", "normalised", "created_at"]
    readonly_fields = ["normalised", "created_at"]
    extra = 0
