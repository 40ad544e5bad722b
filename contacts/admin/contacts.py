"""The contact book in the admin: the contact list (searched by identities, normalised too), the
add form naming the department that brings a contact in, and the contact page with its identities,
departments and consent."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from contacts.admin import import_pages
from contacts.admin.consent import ConsentInline
from contacts.admin.identities import IdentityInline
from contacts.consent_services import consent_record
from contacts.errors import InvalidIdentity
from contacts.models import Consent, Contact, DepartmentContact, Identity
from contacts.normalise import normalise_email, normalise_phone
from contacts.selectors import contacts_visible
from departments.actors import Actor
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    ReadOnlyHistoryAdmin,
    admin_actor,
    visible_departments,
)
from departments.models import Department


class DepartmentContactInline(ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.TabularInline):
    """Which departments know the contact: for an owner, only their own departments."""

    model = DepartmentContact
    department_path = "department"
    fields = ["department", "source", "created_at"]
    readonly_fields = fields
    verbose_name = "known to department"
    verbose_name_plural = "known to departments"

    def get_queryset(self, request: HttpRequest) -> QuerySet[DepartmentContact]:
        return super().get_queryset(request).select_related("department")


class ContactAddForm(forms.ModelForm):
    """The add form: which of the user's departments brings the contact in (a CX lead may leave it empty)."""

    departments: QuerySet[Department]  # set per request by ContactAdmin.get_form
    department_required: bool

    department = forms.ModelChoiceField(
        queryset=Department.objects.none(), help_text="The department that knows this contact."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = self.departments
        self.fields["department"].required = self.department_required


@admin.register(Contact)
class ContactAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    """The contacts the user's departments know, with their identities, departments and consent."""

    list_display = ["__str__", "identity_list", "locale", "time_zone", "known_to", "created_at"]
    list_filter = ["locale", ("department_links__department", DepartmentListFilter)]
    search_fields = ["name", "identities__value", "identities__normalised"]
    search_help_text = "Name, email address, phone number or external id (also matched normalised)."
    readonly_fields = ["created_at", "updated_at"]
    date_hierarchy = "created_at"
    inlines = [IdentityInline, DepartmentContactInline, ConsentInline]

    def scope_queryset(self, queryset: QuerySet[Contact], actor: Actor) -> QuerySet[Contact]:
        # One definition of "the contacts a department owner sees", shared with the API.
        return queryset.filter(pk__in=contacts_visible(actor=actor).values("pk"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        actor = admin_actor(request)
        links = DepartmentContact.objects.select_related("department").order_by("department__name")
        if not actor.is_cx_lead:
            links = links.filter(department_id__in=actor.department_ids)
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch("identities", queryset=Identity.objects.order_by("pk")),
                Prefetch("department_links", queryset=links),
            )
        )

    @admin.display(description="identities")
    def identity_list(self, contact: Contact) -> str:
        return ", ".join(identity.value for identity in contact.identities.all())

    @admin.display(description="known to")
    def known_to(self, contact: Contact) -> str:
        return ", ".join(link.department.name for link in contact.department_links.all())

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Contact], search_term: str):
        """Also find the contact whose identity normalises like the search term ("Anna.M@GMail.com",
        "030 1234567"), as imports match them."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        normalised = _search_term_normalised(search_term)
        if normalised:
            same_person = Identity.objects.filter(contact=OuterRef("pk"), normalised__in=normalised)
            results |= queryset.filter(Exists(same_person))
        return results, may_have_duplicates

    def get_inline_instances(self, request: HttpRequest, obj: Contact | None = None):
        inlines = super().get_inline_instances(request, obj)
        # A new contact is known to no department yet: the add form names the one it joins.
        return [
            inline for inline in inlines if obj is not None or not isinstance(inline, DepartmentContactInline)
        ]

    def get_form(self, request: HttpRequest, obj: Contact | None = None, change: bool = False, **kwargs):
        if obj is None:
            attributes = {
                "departments": visible_departments(request),
                "department_required": not admin_actor(request).is_cx_lead,
            }
            kwargs["form"] = type("ContactAddForm", (ContactAddForm,), attributes)
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: Contact, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        department = form.cleaned_data.get("department") if not change else None
        if department is not None:
            DepartmentContact.objects.get_or_create(
                department=department, contact=obj, defaults={"source": DepartmentContact.Source.ADMIN}
            )

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
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


def _search_term_normalised(search_term: str) -> list[str]:
    """The search term as a normalised email or phone number, if it reads as one."""
    term = search_term.strip()
    if not term or len(term) > 320:  # the longest identity there is
        return []
    forms_of_term = []
    for normalise in (normalise_email, normalise_phone):
        try:
            forms_of_term.append(normalise(term))
        except InvalidIdentity:
            continue
    return forms_of_term
