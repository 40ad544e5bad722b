"""Frequency rules in the admin: CX leads change them (through surveys.gatekeeper.frequency_rules,
every change a new version, kept inline); department owners may only look, at the rules that apply
to their departments: company-wide ones and their own departments' (another department's rule would
name that department and what it does)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from departments.actors import Actor
from departments.admin_scoping import DepartmentScopedAdmin, ReadOnlyHistoryAdmin, admin_actor
from surveys.admin.rule_drafts import copy_to_draft
from surveys.errors import InvalidFrequencyRule
from surveys.gatekeeper.frequency_rules import (
    frequency_rule_create,
    frequency_rule_deactivate,
    frequency_rule_fields_clean,
    frequency_rule_update,
)
from surveys.gatekeeper.rule_history import VersionDescribed, versions_described
from surveys.models import RULE_EDITABLE_FIELDS, FrequencyRule, FrequencyRuleVersion


class FrequencyRuleVersionInline(ReadOnlyHistoryAdmin, admin.TabularInline):
    """Each version as what changed, in words, with the rule's name as it was then."""

    model = FrequencyRuleVersion
    fields = ["version", "name_then", "changes", "changed_by", "created_at"]
    readonly_fields = fields
    ordering = ["-version"]
    extra = 0
    verbose_name = "version"
    verbose_name_plural = "versions (every change is kept)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[FrequencyRuleVersion]:
        return super().get_queryset(request).select_related("changed_by")

    def _described(self, version: FrequencyRuleVersion) -> VersionDescribed:
        # An inline is made afresh for each request: the rule's versions are described once per page.
        described = getattr(self, "_by_version", None)
        if described is None:
            versions = FrequencyRuleVersion.objects.filter(rule_id=version.rule_id)
            described = self._by_version = {row.version.pk: row for row in versions_described(versions)}
        return described[version.pk]

    @admin.display(description="name then")
    def name_then(self, version: FrequencyRuleVersion) -> str:
        return self._described(version).name

    @admin.display(description="what changed")
    def changes(self, version: FrequencyRuleVersion) -> str:
        return "; ".join(self._described(version).changes)


class FrequencyRuleForm(forms.ModelForm):
    """Checks the fields as the service does, so a bad value is a message in words on its field."""

    def clean(self) -> dict:
        cleaned = super().clean()
        fields = {name: cleaned[name] for name in RULE_EDITABLE_FIELDS if name in cleaned}
        try:
            frequency_rule_fields_clean(fields)
        except InvalidFrequencyRule as error:
            field = error.extra["field"]
            problem = error.message.removeprefix(f"{field}: ")
            self.add_error(field, problem[:1].upper() + problem[1:])
        return cleaned


@admin.register(FrequencyRule)
class FrequencyRuleAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    """CX leads write rules (through surveys.gatekeeper.frequency_rules); department owners only read
    the ones that apply to their departments."""

    form = FrequencyRuleForm
    list_display = [*RULE_EDITABLE_FIELDS, "version"]
    list_filter = ["is_active", "clock", "scope_channel", "scope_survey_kind"]
    list_select_related = ["scope_department"]
    search_fields = ["name"]
    readonly_fields = ["version", "created_at", "updated_at"]
    inlines = [FrequencyRuleVersionInline]
    actions = ["deactivate", copy_to_draft]

    def scope_queryset(self, queryset: QuerySet[FrequencyRule], actor: Actor) -> QuerySet[FrequencyRule]:
        return queryset.filter(
            Q(scope_department__isnull=True) | Q(scope_department__in=actor.department_ids)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return admin_actor(request).is_cx_lead and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: FrequencyRule | None = None) -> bool:
        return admin_actor(request).is_cx_lead and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: FrequencyRule | None = None) -> bool:
        # Decisions name the rule that made them: deactivate instead.
        return False

    def save_model(self, request: HttpRequest, obj: FrequencyRule, form, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in form.cleaned_data if name in RULE_EDITABLE_FIELDS}
        actor = admin_actor(request)
        if change:
            saved = frequency_rule_update(actor=actor, rule=obj, **fields)
        else:
            saved = frequency_rule_create(actor=actor, **fields)
        for field in FrequencyRule._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    @admin.action(description="Deactivate selected rules", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[FrequencyRule]) -> None:
        actor = admin_actor(request)
        for rule in queryset.filter(is_active=True):
            frequency_rule_deactivate(actor=actor, rule=rule)
        self.message_user(request, "Deactivated; each change is kept as a new version.", messages.SUCCESS)
