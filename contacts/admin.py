"""The contact book in the admin, scoped by role.

A department owner sees the contacts their departments know (a DepartmentContact row), and of each
contact only their own departments' links and consent records (plus every-department ones); a CX
lead sees everything. Identities are typed as given and normalised on save; the normalised form is
never edited by hand. Consent is append-only: recorded through the contact page's inline (with
contacts.services.consent_record), never changed or deleted. Imports and their issues are history.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from contacts import admin_import
from contacts.errors import InvalidIdentity
from contacts.models import Consent, Contact, ContactImport, ContactImportIssue, DepartmentContact, Identity
from contacts.normalise import normalise_email, normalise_identity, normalise_phone
from contacts.selectors import contacts_visible
from contacts.services import consent_record
from departments.actors import Actor
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    ReadOnlyHistoryAdmin,
    admin_actor,
    visible_departments,
)
from departments.models import Department


def _consents_visible(queryset: QuerySet[Consent], actor: Actor) -> QuerySet[Consent]:
    """Every-department records and the actor's own departments' (contacts.selectors.consent_list)."""
    return queryset.filter(Q(department__isnull=True) | Q(department_id__in=actor.department_ids))


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
    model = Identity
    form = IdentityForm
    formset = IdentityFormSet
    fields = ["kind", "source", "value", "normalised", "created_at"]
    readonly_fields = ["normalised", "created_at"]
    extra = 0


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


class ConsentForm(forms.ModelForm):
    # Set per request by ConsentInline.get_formset: the rules depend on who records.
    actor: Actor

    class Meta:
        model = Consent
        fields = ["kind", "department", "channel", "until", "note"]

    def clean(self) -> dict:
        """The checks of contacts.services.consent_record, as form errors next to the fields."""
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
        # The CSV import pages (contacts/admin_import.py), before the admin's catch-all object URLs.
        return admin_import.import_urls(self) + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # The "Import CSV" button (templates/admin/contacts/contact/change_list.html).
        can_import = request.user.has_perm(admin_import.PERMISSION)
        import_url = reverse(f"admin:{admin_import.UPLOAD_URL_NAME}") if can_import else None
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


@admin.register(ContactImport)
class ContactImportAdmin(ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    """Imports are history: started from the contact list's "Import CSV" page, shown here."""

    department_path = "department"
    list_display = ["created_at", "filename", "department", "status", "counts_summary", "created_by"]
    list_filter = ["status", ("department", DepartmentListFilter)]
    list_select_related = ["department", "created_by"]
    fields = [
        "department",
        "filename",
        "status",
        "counts_summary",
        "import_page",
        "issues_link",
        "error",
        "created_by",
        "api_key",
        "created_at",
        "completed_at",
    ]
    readonly_fields = fields

    @admin.display(description="counts")
    def counts_summary(self, contact_import: ContactImport) -> str:
        return " · ".join(
            f"{name.replace('_', ' ')} {count}" for name, count in contact_import.counts.items()
        )

    @admin.display(description="import page")
    def import_page(self, contact_import: ContactImport) -> str:
        # The result page, or the preview with its "Confirm" button while the import is only previewed.
        url = reverse(f"admin:{admin_import.RESULT_URL_NAME}", args=[contact_import.pk])
        return format_html('<a href="{}">Outcomes, first issues and the per-row report</a>', url)

    @admin.display(description="issues")
    def issues_link(self, contact_import: ContactImport) -> str:
        count = contact_import.issues.count()
        if not count:
            return "none"
        url = reverse("admin:contacts_contactimportissue_changelist")
        return format_html(
            '<a href="{}?contact_import__id__exact={}">{} issue(s)</a>', url, contact_import.pk, count
        )


@admin.register(ContactImportIssue)
class ContactImportIssueAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    """Rows an import left out. Conflicts (identities of two contacts in one row) wait for a CX lead,
    who merges the contacts and marks the issue resolved; nothing else about an issue changes."""

    department_path = "contact_import__department"
    list_display = ["contact_import", "row_number", "kind", "column", "reason", "resolved"]
    list_filter = ["kind", "resolved", ("contact_import__department", DepartmentListFilter)]
    list_select_related = ["contact_import__department"]
    actions = ["mark_resolved"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ContactImportIssue | None = None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj: ContactImportIssue | None = None) -> list[str]:
        fields = ["contact_import", "row_number", "kind", "column", "reason", "data", "resolved"]
        # The contacts a conflicting row names may be known only to other departments.
        return [*fields, "conflicting_contacts"] if admin_actor(request).is_cx_lead else fields

    def get_readonly_fields(self, request: HttpRequest, obj: ContactImportIssue | None = None) -> list[str]:
        return [field for field in self.get_fields(request, obj) if field != "resolved"]

    @admin.display(description="contacts")
    def conflicting_contacts(self, issue: ContactImportIssue):
        links = [(reverse("admin:contacts_contact_change", args=[pk]), pk) for pk in issue.contact_ids]
        return format_html_join(", ", '<a href="{}">Contact #{}</a>', links) or "—"

    @admin.action(description="Mark selected issues resolved", permissions=["change"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[ContactImportIssue]) -> None:
        updated = queryset.filter(resolved=False).update(resolved=True)
        self.message_user(request, f"Marked {updated} issue(s) resolved.", messages.SUCCESS)
