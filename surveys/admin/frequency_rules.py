"""Frequency rules in the admin: CX leads change them (through surveys.gatekeeper.frequency_rules,
every change a new version, kept inline); department owners may only look, at the rules that apply
to their departments: company-wide ones and their own departments' (another department's rule would
name that department and what it does)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from departments.actors import Actor
from departments.admin_scoping import DepartmentScopedAdmin, ReadOnlyHistoryAdmin, admin_actor
from surveys.gatekeeper.frequency_rules import (
    frequency_rule_create,
    frequency_rule_deactivate,
    frequency_rule_update,
)
from surveys.models import RULE_EDITABLE_FIELDS, FrequencyRule, FrequencyRuleVersion


class FrequencyRuleVersionInline(ReadOnlyHistoryAdmin, admin.TabularInline):
    model = FrequencyRuleVersion
    fields = ["version", "snapshot", "changed_by", "created_at"]
    readonly_fields = fields
    ordering = ["-version"]
    extra = 0
    verbose_name = "version"
    verbose_name_plural = "versions (every change is kept)"


@admin.register(FrequencyRule)
class FrequencyRuleAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    """CX leads write rules (through surveys.gatekeeper.frequency_rules); department owners only read
    the ones that apply to their departments."""

    list_display = [*RULE_EDITABLE_FIELDS, "version"]
    list_filter = ["is_active", "clock", "scope_channel", "scope_survey_kind"]
    list_select_related = ["scope_department"]
    search_fields = ["name"]
    readonly_fields = ["version", "created_at", "updated_at"]
    inlines = [FrequencyRuleVersionInline]
    actions = ["deactivate"]

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
