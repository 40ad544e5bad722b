"""The contact book in the admin: the contact list and the contact page.

A department owner sees each person their departments know through their departments' views: the
view's name, locale, time zone, attributes and notes (edited on the page), the identities their
departments supplied, when their department first knew the person, and their consent records;
never the person's own fields, another department's view or identities, or another department's
staff in the page's history. A CX lead sees the whole person: their own fields, every identity
with who supplied it, every department's view. A person is added through contact_upsert
(contact_add.py), as through the API.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import PAGE_VAR
from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from contacts.admin import contact_add, import_pages, merge_actions
from contacts.admin.consent import ConsentInline
from contacts.admin.identities import IdentityInline, identities_as_supplied, identities_save
from contacts.admin.search import ContactSearchAdmin
from contacts.consent_services import consent_record
from contacts.models import Consent, Contact, DepartmentAccount, DepartmentContact, Identity
from contacts.selectors import contacts_visible
from contacts.services import LOCALE_MAX_LENGTH, LOCALE_PATTERN, NOTES_MAX_LENGTH
from departments.actors import Actor
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    admin_actor,
    log_entries_visible,
)


class ContactViewForm(forms.ModelForm):
    """A department's view of the person, checked as contact_upsert checks the same fields."""

    notes = forms.CharField(
        max_length=NOTES_MAX_LENGTH, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    class Meta:
        model = DepartmentContact
        fields = ["name", "locale", "time_zone", "attributes", "notes"]

    def clean_locale(self) -> str:
        locale = self.cleaned_data["locale"].strip()
        if locale and (len(locale) > LOCALE_MAX_LENGTH or not LOCALE_PATTERN.match(locale)):
            raise forms.ValidationError(f"{locale!r} is not a language tag (for example en or de-AT).")
        return locale

    def clean_attributes(self) -> dict:
        attributes = self.cleaned_data["attributes"]
        if attributes is None:
            return {}
        if not isinstance(attributes, dict):
            raise forms.ValidationError('Attributes are a JSON object, such as {"tier": "gold"}.')
        return attributes


class DepartmentContactInline(DepartmentScopedAdmin, admin.StackedInline):
    """The departments' views of the person: an owner sees and edits their own departments' views
    only; a CX lead sees every department's. A view comes with the person (add page, import, API):
    none is added or removed here."""

    model = DepartmentContact
    form = ContactViewForm
    department_path = "department"
    fields = [
        "department",
        "name",
        "locale",
        "time_zone",
        "attributes",
        "notes",
        "source",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["department", "source", "created_at", "updated_at"]
    extra = 0
    can_delete = False
    verbose_name = "department's view"
    verbose_name_plural = "departments' views"

    def get_queryset(self, request: HttpRequest) -> QuerySet[DepartmentContact]:
        return super().get_queryset(request).select_related("department").order_by("department__name")

    def has_add_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return False


def _views_save(formset) -> None:
    """The views changed on the page, stamped with the time (the API shows it as updated_at)."""
    for view in formset.save(commit=False):
        view.updated_at = timezone.now()
        view.save()


@admin.register(Contact)
class ContactAdmin(ContactSearchAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    """People as the user sees them: an owner, through their departments' views; a CX lead, whole."""

    contact_path = ""  # ContactSearchAdmin: the rows are the contacts themselves
    inlines = [IdentityInline, DepartmentContactInline, ConsentInline]
    actions = [merge_actions.merge_selected, merge_actions.propose_merge]
    autocomplete_fields = ["account"]  # a CX lead's field (an owner's page shows account_shown)

    def get_actions(self, request: HttpRequest) -> dict:
        # A CX lead merges; a department owner proposes (surveys/merges.py, contacts/services.py).
        actions = super().get_actions(request)
        actions.pop("propose_merge" if admin_actor(request).is_cx_lead else "merge_selected", None)
        return actions

    def scope_queryset(self, queryset: QuerySet[Contact], actor: Actor) -> QuerySet[Contact]:
        # One definition of "the contacts a department owner sees", shared with the API.
        return queryset.filter(pk__in=contacts_visible(actor=actor).values("pk"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        """With what the user sees of each person prefetched: `shown_views` and `shown_identities`
        (an owner: their departments' only) and, for an owner, `known_since`."""
        actor = admin_actor(request)
        contacts = super().get_queryset(request)
        views = DepartmentContact.objects.select_related("department").order_by("department__name", "pk")
        identities = Identity.objects.order_by("pk")
        if actor.is_cx_lead:
            identities = identities.annotate(shown_value=F("value"))
        else:
            views = views.filter(department_id__in=actor.department_ids)
            identities = identities_as_supplied(identities, actor.department_ids)
            first_view = views.filter(contact=OuterRef("pk")).order_by("created_at", "pk")
            contacts = contacts.annotate(known_since=Subquery(first_view.values("created_at")[:1]))
            named = DepartmentAccount.objects.filter(
                account_id=OuterRef("account_id"), department_id__in=actor.department_ids
            )
            contacts = contacts.annotate(account_named=Exists(named))
        return contacts.select_related("account").prefetch_related(
            Prefetch("department_links", queryset=views, to_attr="shown_views"),
            Prefetch("identities", queryset=identities, to_attr="shown_identities"),
        )

    def get_ordering(self, request: HttpRequest) -> list:
        if admin_actor(request).is_cx_lead:
            return ["-pk"]
        # The order their departments met people, not the order anyone did: the person's own id
        # would tell which of them another department knew first.
        return [F("known_since").desc(nulls_last=True)]

    def get_list_display(self, request: HttpRequest) -> list[str]:
        if admin_actor(request).is_cx_lead:
            return [
                "__str__",
                "name",
                "identity_list",
                "locale",
                "time_zone",
                "known_to",
                "created_at",
                "merged_into",
            ]
        return ["shown_name", "identity_list", "shown_locale", "shown_time_zone", "first_known"]

    def get_list_filter(self, request: HttpRequest) -> list:
        departments = ("department_links__department", DepartmentListFilter)
        # The person's own locale is the CX lead's: an owner filters by their departments only.
        return ["locale", departments] if admin_actor(request).is_cx_lead else [departments]

    def lookup_in_scope(self, lookup: str, value: str, actor: Actor) -> bool:
        # Every other lookup on a contact reads the person's own fields (name, attributes, created_at)
        # or other departments' views and identities: an owner filters by their own departments only.
        return lookup.startswith("department_links__department") and super().lookup_in_scope(
            lookup, value, actor
        )

    def get_fields(self, request: HttpRequest, obj: Contact | None = None) -> list[str]:
        if admin_actor(request).is_cx_lead:
            return [
                "api_id",
                "name",
                "locale",
                "time_zone",
                "attributes",
                "account",
                "created_at",
                "updated_at",
                "merged_into",
            ]
        return ["api_id", "first_known", "account_shown"]

    def get_readonly_fields(self, request: HttpRequest, obj: Contact | None = None) -> list[str]:
        return ["api_id", "created_at", "updated_at", "first_known", "merged_into", "account_shown"]

    @admin.display(description="account")
    def account_shown(self, contact: Contact) -> str:
        """The person's account if the owner's departments named it (get_queryset's account_named)."""
        account = contact.account
        return f"{account.name} ({account.external_id})" if getattr(contact, "account_named", False) else "-"

    @admin.display(description="name")
    def shown_name(self, contact: Contact) -> str:
        return _distinct(view.name for view in contact.shown_views) or str(contact)

    @admin.display(description="locale")
    def shown_locale(self, contact: Contact) -> str:
        return _distinct(view.locale for view in contact.shown_views)

    @admin.display(description="time zone")
    def shown_time_zone(self, contact: Contact) -> str:
        return _distinct(view.time_zone for view in contact.shown_views)

    @admin.display(description="known since", ordering="known_since")
    def first_known(self, contact: Contact):
        """When the user's departments first knew the person (their first view)."""
        return contact.known_since

    @admin.display(description="identities")
    def identity_list(self, contact: Contact) -> str:
        return ", ".join(identity.shown_value for identity in contact.shown_identities)

    @admin.display(description="known to")
    def known_to(self, contact: Contact) -> str:
        return ", ".join(view.department.name for view in contact.shown_views)

    @admin.display(description="API id")
    def api_id(self, contact: Contact) -> str:
        return str(contact.public_id)

    def autocomplete_label(self, request: HttpRequest, contact: Contact) -> str:
        """How the person is named in autocomplete answers (cxfeedback/admin_site.py): as the user's
        departments name them; for a CX lead, by their own name."""
        if admin_actor(request).is_cx_lead:
            return contact.name or str(contact)
        return self.shown_name(contact)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        return contact_add.add_view(self, request, extra_context)

    def save_model(self, request: HttpRequest, obj: Contact, form: forms.ModelForm, change: bool) -> None:
        # An owner's page holds nothing of the person's own row: what they change is in the inlines.
        if admin_actor(request).is_cx_lead:
            super().save_model(request, obj, form, change)

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        """The person's history as the user may read it (departments.admin_scoping.log_entries_visible):
        an owner never sees what another department's staff or a CX lead changed."""
        response = super().history_view(request, object_id, extra_context)
        actor = admin_actor(request)
        if actor.is_cx_lead or not isinstance(response, TemplateResponse):
            return response
        entries = log_entries_visible(response.context_data["action_list"].paginator.object_list, actor)
        paginator = self.get_paginator(request, entries, 100)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        response.context_data.update(
            action_list=page,
            page_range=paginator.get_elided_page_range(page.number),
            pagination_required=paginator.count > 100,
        )
        return response

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is Identity:
            return identities_save(formset, actor=admin_actor(request), contact=form.instance)
        if formset.model is DepartmentContact:
            return _views_save(formset)
        if formset.model is not Consent:
            return super().save_formset(request, form, formset, change)
        # New consent records only (existing ones are read-only), written by the one service that
        # appends consent, so they are recorded exactly as the API and the public pages record them.
        formset.new_objects = [
            consent_record(
                actor=admin_actor(request),
                contact=form.instance,
                kind=consent.kind,
                department=consent.department,
                channel=consent.channel,
                until=consent.until,
                source=Consent.Source.ADMIN,
                note=consent.note,
            )
            for consent in formset.save(commit=False)
        ]
        return None

    def get_urls(self):
        # The CSV import pages (contacts/import_pages.py), before the admin's catch-all object URLs.
        return import_pages.import_urls(self) + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # The "Import CSV" button (templates/admin/contacts/contact/change_list.html).
        can_import = request.user.has_perm(import_pages.PERMISSION)
        import_url = reverse(f"admin:{import_pages.UPLOAD_URL_NAME}") if can_import else None
        return super().changelist_view(
            request, extra_context={**(extra_context or {}), "import_url": import_url}
        )


def _distinct(values) -> str:
    """The views' values, each once (an owner of two departments may have two views of a person)."""
    return ", ".join(dict.fromkeys(value for value in values if value))
