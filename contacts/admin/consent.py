"""Consent in the admin, append-only: recorded through the contact page's inline (with
contacts.consent_services.consent_record), never changed or deleted; its history has a view-only list.

The same rules as the API: a department owner records for their own departments only (the source
is always "admin"), and sees their departments' records whole, records for every department as
contacts.consent_selectors.consent_shown shows them (no note, no recorder, to the hour), and never
another department's."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone

from contacts.admin.search import ContactSearchAdmin
from contacts.consent_selectors import consent_shown, consents_visible
from contacts.models import Consent
from contacts.selectors import contacts_visible
from departments.actors import Actor
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    ReadOnlyHistoryAdmin,
    admin_actor,
)

OWN_DEPARTMENT_ONLY = "Only a CX lead records consent for every department; choose your department."


class ConsentForm(forms.ModelForm):
    """A new consent record on the contact page, checked as consent_record checks it (who may leave
    the department empty: ConsentInline.formfield_for_foreignkey)."""

    class Meta:
        model = Consent
        fields = ["kind", "department", "channel", "until", "note"]

    def clean(self) -> dict:
        """The checks of contacts.consent_services.consent_record, as form errors next to the fields."""
        cleaned = super().clean()
        kind, until = cleaned.get("kind"), cleaned.get("until")
        if kind == Consent.Kind.SNOOZE and until is None:
            self.add_error("until", "A snooze needs the time it ends.")
        elif kind == Consent.Kind.SNOOZE and until <= timezone.now():
            self.add_error("until", "A snooze must end in the future.")
        elif kind and kind != Consent.Kind.SNOOZE and until is not None:
            self.add_error("until", "Only a snooze has an end; an opt-out lasts until an opt-in.")
        return cleaned


class ConsentFormSet(BaseInlineFormSet):
    """The contact page's consent rows: the existing ones as consent_shown shows them to the user."""

    actor: Actor  # set per request by ConsentInline.get_formset

    def get_queryset(self) -> list[Consent]:
        # A list of shown copies, not the queryset: Django's formset only counts, indexes and
        # iterates it. Copied once, so each row keeps one instance.
        if not hasattr(self, "_shown"):
            self._shown = [consent_shown(consent, actor=self.actor) for consent in super().get_queryset()]
        return self._shown


class ConsentInline(DepartmentScopedAdmin, admin.TabularInline):
    """Append-only: existing records are shown read-only; new ones may be added (consent_record)."""

    model = Consent
    form = ConsentForm
    formset = ConsentFormSet
    fields = ["kind", "department", "channel", "until", "note", "source", "recorded_by", "created_at"]
    readonly_fields = ["source", "recorded_by", "created_at"]
    extra = 0
    can_delete = False

    def scope_queryset(self, queryset: QuerySet[Consent], actor: Actor) -> QuerySet[Consent]:
        return consents_visible(queryset, actor=actor)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Consent]:
        return super().get_queryset(request).select_related("department")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        kwargs["formset"] = type("ConsentFormSet", (ConsentFormSet,), {"actor": admin_actor(request)})
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "department":
            kwargs.update(_department_choice(admin_actor(request)))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _department_choice(actor: Actor) -> dict:
    """The department field of a new record: a CX lead may leave it empty (every department); an
    owner picks one of their own (the choices are scoped), preselected when they have one."""
    if actor.is_cx_lead:
        return {"empty_label": "All departments"}
    choice = {"required": True, "error_messages": {"required": OWN_DEPARTMENT_ONLY}}
    if len(actor.department_ids) == 1:
        (choice["initial"],) = actor.department_ids
    return choice


class ConsentChangeList(ChangeList):
    """The consent history's page of records, each as consent_shown shows it to the user."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        actor = admin_actor(request)
        self.result_list = [consent_shown(consent, actor=actor) for consent in self.result_list]


@admin.register(Consent)
class ConsentAdmin(ContactSearchAdmin, ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    """Consent history, view only. New records are added on the contact's page."""

    list_display = ["created_at", "contact", "kind", "scope_label", "until", "source", "recorded_by"]
    list_filter = ["kind", "source", "channel", ("department", DepartmentListFilter)]
    list_select_related = ["contact", "department"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]

    def scope_queryset(self, queryset: QuerySet[Consent], actor: Actor) -> QuerySet[Consent]:
        visible = contacts_visible(actor=actor).values("pk")
        return consents_visible(queryset.filter(contact_id__in=visible), actor=actor)

    def get_changelist(self, request: HttpRequest, **kwargs) -> type[ChangeList]:
        return ConsentChangeList

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Consent:
        return consent_shown(super().get_object(request, object_id, from_field), actor=admin_actor(request))

    @admin.display(description="scope")
    def scope_label(self, consent: Consent) -> str:
        return consent.scope_label
