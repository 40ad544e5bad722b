"""Results in the admin, scoped by role: follow-ups (a department owner works their own departments'
items; another department's is a 404), follow-up rules (CX leads write them, owners may look), and
responses with their answers as read-only history."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from contacts.admin.search import ContactSearchAdmin
from contacts.models import DepartmentContact
from cxfeedback.exceptions import ApplicationError
from departments.actors import Actor
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    ReadOnlyHistoryAdmin,
    admin_actor,
    visible_departments,
)
from departments.roles import CX_LEAD
from results.models import FollowUp, FollowUpRule
from results.selectors.followups import follow_up_contact_check
from results.selectors.responses import answer_display
from results.services.followups import follow_up_change_check, follow_up_update
from surveys.models import Answer, Response


class FollowUpForm(forms.ModelForm):
    # Set per request by FollowUpAdmin.get_form: the checks depend on who changes it.
    actor: Actor

    class Meta:
        model = FollowUp
        fields = ["status", "owner", "note"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        owner = cleaned.get("owner")
        try:
            follow_up_change_check(
                actor=self.actor,
                follow_up=FollowUp.objects.get(pk=self.instance.pk),  # as stored, not as edited
                status=cleaned["status"],
                owner_id=owner.pk if owner else None,
                now=timezone.now(),
            )
        except ApplicationError as error:
            field = next((name for name in ("status", "owner") if name in error.extra), None)
            self.add_error(field, error.message)
        return cleaned


@admin.register(FollowUp)
class FollowUpAdmin(ContactSearchAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    """Created only by a detractor's response; changed through results.services.followups."""

    department_path = "department"
    form = FollowUpForm
    list_display = ["pk", "contact_name", "department", "trigger", "status", "owner", "created_at"]
    list_filter = ["status", ("department", DepartmentListFilter)]
    list_select_related = ["contact", "department", "owner", "answer__question"]
    other_search_fields = ["note"]  # and the contact (ContactSearchAdmin)
    date_hierarchy = "created_at"
    editable_fields = ["status", "owner", "note"]

    def get_fields(self, request: HttpRequest, obj: FollowUp | None = None) -> list:
        before, after = self._readonly(request)
        return [*before, *self.editable_fields, *after]

    def get_readonly_fields(self, request: HttpRequest, obj: FollowUp | None = None) -> list:
        before, after = self._readonly(request)
        return [*before, *after]

    def _readonly(self, request: HttpRequest) -> tuple[list, list]:
        return (
            ["response_link", "timeline_link", "department", "trigger", _frequency_rules(request)],
            ["created_at", "closed_at"],
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[FollowUp]:
        # The customer as the follow-up's department names them (its view), never the person's own
        # name or another department's.
        view = DepartmentContact.objects.filter(
            contact=OuterRef("contact"), department=OuterRef("department")
        )
        return (
            super()
            .get_queryset(request)
            .select_related("response__survey", "department", "contact", "answer__question")
            .annotate(contact_view_name=Subquery(view.values("name")[:1]))
        )

    @admin.display(description="contact")
    def contact_name(self, follow_up: FollowUp) -> str:
        return follow_up.contact_view_name or str(follow_up.contact)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: FollowUp | None = None) -> bool:
        return False

    def get_form(self, request: HttpRequest, obj: FollowUp | None = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = admin_actor(request)
        return form

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "owner":
            # People who may own a follow-up: members of the user's departments, and CX leads.
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(
                    Q(departments__in=visible_departments(request))
                    | Q(groups__name=CX_LEAD)
                    | Q(is_superuser=True),
                    is_active=True,
                )
                .distinct()
                .order_by("username")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: FollowUp, form, change: bool) -> None:
        data = form.cleaned_data
        saved = follow_up_update(
            actor=admin_actor(request),
            follow_up=obj,
            status=data["status"],
            owner_id=data["owner"].pk if data.get("owner") else None,
            note=data["note"],
        )
        for field in FollowUp._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    @admin.display(description="detractor answer")
    def trigger(self, follow_up: FollowUp) -> str:
        return f"{follow_up.answer.question.get_kind_display()}: {follow_up.answer.value_number}"

    @admin.display(description="response")
    def response_link(self, follow_up: FollowUp) -> str:
        url = reverse("admin:surveys_response_change", args=[follow_up.response_id])
        return format_html('<a href="{}">{}</a>', url, follow_up.response.survey)

    @admin.display(description="contact")
    def timeline_link(self, follow_up: FollowUp) -> str:
        url = reverse("results:contact-timeline", args=[follow_up.contact_id])
        return format_html('<a href="{}">{} — timeline</a>', url, self.contact_name(follow_up))


def _frequency_rules(request: HttpRequest):
    """A read-only field saying whether the department may contact the customer now, for the user
    looking (results/services/followups.py); one per request, so fields and read-only fields agree."""
    field = getattr(request, "_follow_up_frequency_field", None)
    if field is not None:
        return field
    actor = admin_actor(request)

    def frequency_rules(follow_up: FollowUp) -> str:
        if follow_up.status == FollowUp.Status.CLOSED:
            return "—"
        check = follow_up_contact_check(actor=actor, follow_up=follow_up)
        if check is None:
            return "Not held back: a follow-up is a personal reply, not a survey; contact the customer now."
        return check.explanation

    frequency_rules.short_description = "frequency rules"
    request._follow_up_frequency_field = frequency_rules
    return frequency_rules


@admin.register(FollowUpRule)
class FollowUpRuleAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    """CX leads write follow-up rules; department owners only read the ones that apply to their
    surveys: the rules for every survey and those for their departments' surveys (another
    department's would name its survey)."""

    list_display = [
        "name",
        "is_active",
        "question_kind",
        "max_value",
        "survey",
        "waits_for_frequency_rules",
    ]
    list_filter = ["is_active", "question_kind", "waits_for_frequency_rules"]
    list_select_related = ["survey"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]

    def scope_queryset(self, queryset: QuerySet[FollowUpRule], actor: Actor) -> QuerySet[FollowUpRule]:
        return queryset.filter(Q(survey__isnull=True) | Q(survey__department_id__in=actor.department_ids))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return admin_actor(request).is_cx_lead and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: FollowUpRule | None = None) -> bool:
        return admin_actor(request).is_cx_lead and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: FollowUpRule | None = None) -> bool:
        return admin_actor(request).is_cx_lead and super().has_delete_permission(request, obj)


class AnswerInline(ReadOnlyHistoryAdmin, admin.TabularInline):
    model = Answer
    fields = ["question", "value"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Answer]:
        return super().get_queryset(request).select_related("question").order_by("question__position")

    @admin.display(description="answer")
    def value(self, answer: Answer) -> str | int:
        return answer_display(answer)


@admin.register(Response)
class ResponseAdmin(ContactSearchAdmin, ReadOnlyHistoryAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    """Read-only history; the drill-down pages (results/views/drilldown.py) show answers in bulk."""

    department_path = "department"
    list_display = ["pk", "submitted_at", "department", "survey", "channel", "contact"]
    list_filter = ["channel", ("department", DepartmentListFilter)]
    list_select_related = ["department", "survey", "contact"]
    date_hierarchy = "submitted_at"
    fields = ["invitation", "survey", "department", "contact", "channel", "locale", "submitted_at"]
    readonly_fields = fields
    inlines = [AnswerInline]
    show_full_result_count = False  # a count of a million responses on every page is not worth it
