"""Overrides in the admin: a CX lead asks to let a send request (or named contacts in it) past a
frequency rule, before the request is screened; a second CX lead approves with the "Approve" action.
Both go through surveys/gatekeeper/overrides.py, as the API does. Department owners see their own
requests' overrides, read-only; nothing here is ever changed or deleted (it is the audit trail)."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import DepartmentScopedAdmin, admin_actor
from surveys.gatekeeper.overrides import (
    OPEN_STATUSES,
    override_approve,
    override_contacts_of,
    override_request,
    override_request_check,
)
from surveys.models import Override, SendRequest


class OverrideForm(forms.ModelForm):
    contact_ids = forms.CharField(
        label="Contacts",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="API ids of the contacts to let through, one a line; empty: every contact of the request.",
    )

    class Meta:
        model = Override
        fields = ["send_request", "rule", "reason"]
        widgets = {"reason": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["send_request"].queryset = SendRequest.objects.filter(status__in=OPEN_STATUSES)
        self.fields["send_request"].help_text = "A draft, or a request waiting for its screening."

    def clean(self) -> dict:
        cleaned = super().clean()
        send_request = cleaned.get("send_request")
        if send_request is None:
            return cleaned
        try:
            public_ids = [uuid.UUID(line.strip()) for line in cleaned.get("contact_ids", "").split() if line]
        except ValueError:
            raise ValidationError({"contact_ids": "Each line must be a contact's API id."}) from None
        try:
            cleaned["contacts"] = override_contacts_of(send_request, public_ids)
            override_request_check(
                actor=self.actor,
                send_request=send_request,
                reason=cleaned.get("reason", ""),
                contacts=cleaned["contacts"],
            )
        except ApplicationError as error:
            field = {"contacts": "contact_ids"}.get(error.extra.get("field"), error.extra.get("field"))
            raise ValidationError({field: error.message} if field else error.message) from None
        return cleaned


@admin.register(Override)
class OverrideAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "send_request__department"
    form = OverrideForm
    list_display = [
        "pk",
        "send_request",
        "rule_shown",
        "reason",
        "requested_by",
        "approved_by",
        "applied_contacts",
        "created_at",
    ]
    list_select_related = ["send_request__survey", "rule", "requested_by", "approved_by"]
    list_filter = [("approved_by", admin.EmptyFieldListFilter)]
    raw_id_fields = ["send_request"]
    actions = ["approve"]
    readonly_fields = ["requested_by", "approved_by", "approved_at", "applied_at", "applied_contacts"]

    def get_form(self, request: HttpRequest, obj: Override | None = None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        actor = admin_actor(request)

        class WithActor(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, actor=actor, **inner)

        return WithActor

    def get_fields(self, request: HttpRequest, obj: Override | None = None) -> list:
        if obj is None:
            return ["send_request", "rule", "contact_ids", "reason"]
        return ["send_request", "rule", "contacts_shown", "reason", "created_at", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Override | None = None) -> list:
        return [] if obj is None else self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return admin_actor(request).is_cx_lead

    def has_change_permission(self, request: HttpRequest, obj: Override | None = None) -> bool:
        return admin_actor(request).is_cx_lead  # for the Approve action; every field is read-only

    def has_delete_permission(self, request: HttpRequest, obj: Override | None = None) -> bool:
        return False

    @admin.display(description="rule")
    def rule_shown(self, override: Override) -> str:
        return str(override.rule) if override.rule_id else "every frequency rule"

    @admin.display(description="contacts")
    def contacts_shown(self, override: Override) -> str:
        named = [str(contact.public_id) for contact in override.contacts.all()]
        return "\n".join(named) or "every contact of the request"

    def save_model(self, request: HttpRequest, obj: Override, form, change: bool) -> None:
        if change:
            return
        saved = override_request(
            actor=admin_actor(request),
            send_request=form.cleaned_data["send_request"],
            reason=form.cleaned_data["reason"],
            rule=form.cleaned_data.get("rule"),
            contacts=form.cleaned_data["contacts"],
        )
        obj.pk = saved.pk
        obj.requested_by_id = saved.requested_by_id

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Nothing: override_request saved the named contacts."""

    @admin.action(description="Approve selected overrides", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Override]) -> None:
        actor = admin_actor(request)
        for override in queryset.select_related("send_request"):
            try:
                override_approve(actor=actor, override=override)
            except ApplicationError as error:
                self.message_user(request, f"Override #{override.pk}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"Override #{override.pk} approved.", messages.SUCCESS)
