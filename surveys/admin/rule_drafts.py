"""Rule drafts and simulations in the admin, for CX leads only (issue 15, item 4).

A draft starts from the rules list ("Copy to a new draft") or empty; its rules are edited inline
(nothing live changes); its page compares each with the live rule in words and has the buttons:
Simulate (the last N days, in the background), Publish, Discard. A simulation's page shows its
progress bar, refreshing itself until it is done, then the report. Every change is a service call
(surveys/gatekeeper/rule_drafts.py, simulations.py). Department owners have no permission on either
model: the pages answer 403.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import admin_actor
from surveys.errors import InvalidFrequencyRule
from surveys.gatekeeper.frequency_rules import frequency_rule_fields_clean
from surveys.gatekeeper.rule_drafts import (
    DRAFT_RULE_FIELDS,
    draft_compare,
    draft_rule_add,
    draft_rule_copy,
    draft_rule_update,
    rule_draft_create,
    rule_draft_discard,
    rule_draft_publish,
    value_in_words,
)
from surveys.gatekeeper.simulations import DEFAULT_DAYS, rule_simulation_start
from surveys.models import DraftRule, RuleDraft, RuleSimulation


class CxLeadOnlyAdmin:
    """Mixed into a ModelAdmin: nobody but a CX lead sees it, whatever their model permissions."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin_actor(request).is_cx_lead and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin_actor(request).is_cx_lead and super().has_view_permission(request, obj)


class DraftRuleForm(forms.ModelForm):
    """Checks the fields as the rules' service does, so a bad value is a message in words on its field
    (not a constraint's name, nor an error once the draft is saved)."""

    def clean(self) -> dict:
        cleaned = super().clean()
        try:
            frequency_rule_fields_clean(
                {name: cleaned[name] for name in DRAFT_RULE_FIELDS if name in cleaned}
            )
        except InvalidFrequencyRule as error:
            field = error.extra["field"]
            self.add_error(field, error.message.removeprefix(f"{field}: ").capitalize())
        return cleaned


class DraftRuleInline(admin.TabularInline):
    model = DraftRule
    form = DraftRuleForm
    fields = ["rule", "base_version", *DRAFT_RULE_FIELDS]
    readonly_fields = ["rule", "base_version"]
    extra = 0
    can_delete = False
    verbose_name = "rule as the draft has it"
    verbose_name_plural = (
        "rules of the draft (a copy of a live rule, or new; switch one off with “is active”)"
    )

    def has_add_permission(self, request: HttpRequest, obj: RuleDraft | None = None) -> bool:
        return obj is not None and obj.status == RuleDraft.Status.OPEN

    def has_change_permission(self, request: HttpRequest, obj: RuleDraft | None = None) -> bool:
        return obj is not None and obj.status == RuleDraft.Status.OPEN


@admin.register(RuleDraft)
class RuleDraftAdmin(CxLeadOnlyAdmin, admin.ModelAdmin):
    list_display = ["name", "status", "created_by", "created_at", "closed_at"]
    list_filter = ["status"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    readonly_fields = ["status", "created_by", "created_at", "closed_at"]
    inlines = [DraftRuleInline]
    change_form_template = "admin/surveys/ruledraft/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: RuleDraft | None = None) -> list[str]:
        return [*self.readonly_fields, "name"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: RuleDraft | None = None) -> bool:
        return False  # discarded, and kept with its simulations

    def save_model(self, request: HttpRequest, obj: RuleDraft, form, change: bool) -> None:
        if not change:
            created = rule_draft_create(actor=admin_actor(request), name=form.cleaned_data["name"])
            obj.pk, obj.created_at, obj.created_by_id = created.pk, created.created_at, created.created_by_id

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        """Each rule added or changed inline, through the services; the formset's own record of
        what it saved is filled in for the admin's change message."""
        actor = admin_actor(request)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if not inline_form.has_changed():
                continue
            fields = {name: inline_form.cleaned_data[name] for name in DRAFT_RULE_FIELDS}
            if inline_form.instance.pk is None:
                formset.new_objects.append(draft_rule_add(actor=actor, draft=form.instance, **fields))
                continue
            changed = {name: fields[name] for name in inline_form.changed_data if name in fields}
            draft_rule = DraftRule.objects.get(pk=inline_form.instance.pk)
            draft_rule_update(actor=actor, draft_rule=draft_rule, **changed)
            formset.changed_objects.append((draft_rule, list(changed)))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        draft = get_object_or_404(RuleDraft, pk=object_id) if self.has_view_permission(request) else None
        context = dict(extra_context or {})
        if draft is not None:
            context["comparison"] = _comparison(draft)
            context["simulations"] = draft.simulations.order_by("-created_at")[:10]
            context["default_days"] = DEFAULT_DAYS
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_urls(self):
        def view(name: str, function) -> Any:
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(require_POST(function)),
                name=f"surveys_ruledraft_{name}",
            )

        return [
            view("simulate", self.simulate_view),
            view("publish", self.publish_view),
            view("discard", self.discard_view),
            *super().get_urls(),
        ]

    def _draft(self, request: HttpRequest, object_id: str) -> RuleDraft:
        if not self.has_view_permission(request):
            raise Http404  # as another department's object: not whether it exists
        return get_object_or_404(RuleDraft, pk=object_id)

    def _back(self, draft: RuleDraft) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:surveys_ruledraft_change", args=[draft.pk]))

    def simulate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        draft = self._draft(request, object_id)
        days = request.POST.get("days", "")
        try:
            simulation = rule_simulation_start(
                actor=admin_actor(request), draft=draft, days=int(days) if days.isdigit() else -1
            )
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return self._back(draft)
        return HttpResponseRedirect(reverse("admin:surveys_rulesimulation_change", args=[simulation.pk]))

    def _act(self, request: HttpRequest, object_id: str, action, done: str) -> HttpResponse:
        draft = self._draft(request, object_id)
        try:
            action(actor=admin_actor(request), draft=draft)
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return self._back(draft)

    def publish_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._act(
            request, object_id, rule_draft_publish, "Published: each rule's new version applies from now."
        )

    def discard_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._act(request, object_id, rule_draft_discard, "Discarded: nothing live changed.")


@admin.action(
    description="Copy to a new draft (to change or switch off, and simulate)", permissions=["change"]
)
def copy_to_draft(modeladmin, request: HttpRequest, queryset) -> HttpResponse:
    """The frequency rules list's action: a new draft holding a copy of each selected rule."""
    actor = admin_actor(request)
    rules = list(queryset.order_by("pk"))
    draft = rule_draft_create(actor=actor, name=f"Changes to {', '.join(rule.name for rule in rules)}"[:200])
    for rule in rules:
        draft_rule_copy(actor=actor, draft=draft, rule=rule)
    return HttpResponseRedirect(reverse("admin:surveys_ruledraft_change", args=[draft.pk]))


def _comparison(draft: RuleDraft) -> list[dict]:
    """Per rule of the draft, its changes in words: "window: 30 days → 45 days"."""
    return [
        {
            "name": draft_rule.name,
            "kind": "new rule" if draft_rule.rule_id is None else f"changes “{draft_rule.rule.name}”",
            "changes": [
                f"{change.field.replace('_', ' ')}: "
                + (
                    value_in_words(change.draft)
                    if draft_rule.rule_id is None
                    else f"{value_in_words(change.live)} → {value_in_words(change.draft)}"
                )
                for change in changes
            ],
        }
        for draft_rule, changes in draft_compare(draft)
    ]


@admin.register(RuleSimulation)
class RuleSimulationAdmin(CxLeadOnlyAdmin, admin.ModelAdmin):
    list_display = ["draft", "days", "state", "done", "total", "created_at", "finished_at"]
    list_filter = ["state"]
    list_select_related = ["draft"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started from a draft's page

    def has_change_permission(self, request: HttpRequest, obj: RuleSimulation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RuleSimulation | None = None) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        simulation = get_object_or_404(RuleSimulation.objects.select_related("draft"), pk=object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Simulation of “{simulation.draft.name}”",
            "simulation": simulation,
            "report": simulation.report if simulation.state == RuleSimulation.State.DONE else None,
            "running": simulation.state in (RuleSimulation.State.QUEUED, RuleSimulation.State.RUNNING),
        }
        return TemplateResponse(request, "admin/surveys/rulesimulation/report.html", context)
