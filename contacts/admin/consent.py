"""Consent in the admin, append-only: recorded through the contact page's inline (with
contacts.consent_services.consent_record), never changed or deleted; its history has a view-only list."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from contacts.models import Consent
from contacts.selectors import contacts_visible
from departments.actors import Actor
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    ReadOnlyHistoryAdmin,
    admin_actor,
)


def _consents_visible(queryset: QuerySet[Consent], actor: Actor) -> QuerySet[Consent]:
    """Every-department records and the actor's own departments' (contacts.selectors.consent_list)."""
    return queryset.filter(Q(department__isnull=True) | Q(department_id__in=actor.department_ids))


class ConsentForm(forms.ModelForm):
    """A new consent record on the contact page, checked as consent_record checks it."""

    # Set per request by ConsentInline.get_formset: the rules depend on who records.
    actor: Actor

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
        if kind == Consent.Kind.OPT_IN and cleaned.get("department") is None and not self.actor.is_cx_lead:
            # It would undo opt-outs other departments recorded.
            self.add_error("department", "Only a CX lead can record an opt-in for every department.")
        return cleaned


class ConsentInline(DepartmentScopedAdmin, admin.TabularInline):
    """Append-only: existing records are shown read-only; new ones may be added (consent_record)."""

    model = Consent
    form = ConsentForm
    fields = ["kind", "department", "channel", "until", "note", "source", "recorded_by", "created_at"]
    readonly_fields = ["source", "recorded_by", "created_at"]
    extra = 0
    can_delete = False

    def scope_queryset(self, queryset: QuerySet[Consent], actor: Actor) -> QuerySet[Consent]:
        return _consents_visible(queryset, actor)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Consent]:
        return super().get_queryset(request).select_related("department")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_formset(self, request: HttpRequest, obj=None, **kwargs):
        kwargs["form"] = type("ConsentForm", (ConsentForm,), {"actor": admin_actor(request)})
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "department":
            kwargs["empty_label"] = "All departments"
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Consent)
class ConsentAdmin(ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    """Consent history, view only. New records are added on the contact's page."""

    list_display = ["created_at", "contact", "kind", "scope_label", "until", "source", "recorded_by"]
    list_filter = ["kind", "source", "channel", ("department", DepartmentListFilter)]
    list_select_related = ["contact", "department"]
    search_fields = ["contact__name", "contact__identities__normalised"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]

    def scope_queryset(self, queryset: QuerySet[Consent], actor: Actor) -> QuerySet[Consent]:
        visible = contacts_visible(actor=actor).values("pk")
        return _consents_visible(queryset.filter(contact_id__in=visible), actor)

    @admin.display(description="scope")
    def scope_label(self, consent: Consent) -> str:
        return consent.scope_label
