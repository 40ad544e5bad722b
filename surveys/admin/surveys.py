"""Surveys in the admin: built with inline questions and translations, saved through
surveys.design.surveys (so the admin checks questions exactly as the API does). A sent (frozen) survey
is view only; its "Edit as new version" button makes the next version. "New NPS / CSAT / CES survey"
start from a template. "Preview" shows the invitation and the survey page and sends a test
(surveys/admin/survey_previews.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import (
    DepartmentListFilter,
    DepartmentScopedAdmin,
    admin_actor,
    visible_departments,
)
from departments.models import Department
from surveys.admin.survey_previews import SurveyPreviewAdmin
from surveys.admin.survey_translations import SurveyTranslationFormSet, SurveyTranslationInline
from surveys.design.surveys import (
    SURVEY_TEMPLATES,
    question_clean,
    survey_create,
    survey_create_from_template,
    survey_update,
)
from surveys.errors import InvalidQuestion
from surveys.models import Question, Survey


class QuestionForm(forms.ModelForm):
    """One question; checked by the service's own question_clean, so admin and API agree."""

    choices = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 30}),
        required=False,
        help_text="Choice questions: one choice per line.",
    )
    position = forms.IntegerField(min_value=1, required=False, help_text="Order; empty: at the end.")

    class Meta:
        model = Question
        fields = ["position", "kind", "text", "help_text", "required", "scale_min", "scale_max", "choices"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and isinstance(self.instance.choices, list):
            self.initial["choices"] = "\n".join(self.instance.choices)

    def clean_choices(self) -> list[str]:
        return [line for line in self.cleaned_data.get("choices", "").splitlines() if line.strip()]

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors or not cleaned.get("kind"):
            return cleaned
        position = cleaned.get("position") or self.prefix_position
        fields = {name: cleaned.get(name) for name in ("kind", "text", "help_text", "required")}
        fields |= {"scale_min": cleaned.get("scale_min"), "scale_max": cleaned.get("scale_max")}
        fields["choices"] = cleaned.get("choices") or []
        try:
            cleaned.update(question_clean(fields, position=position))
        except InvalidQuestion as error:
            field = error.extra["field"]
            self.add_error(field if field in self.fields else None, error.message)
        return cleaned

    @property
    def prefix_position(self) -> int:
        return int(self.prefix.rsplit("-", 1)[-1]) + 1

    def validate_unique(self) -> None:
        # Positions are renumbered by the service when it saves; the formset checks they are distinct.
        return None


class QuestionFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        positions = [
            form.cleaned_data.get("position")
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        given = [position for position in positions if position]
        if len(given) != len(set(given)):
            raise forms.ValidationError("Two questions have the same position.")
        if not positions:
            raise forms.ValidationError("A survey needs at least one question.")

    def questions(self) -> list[dict[str, Any]]:
        """The kept questions in order, as survey_create and survey_update take them."""
        kept = [
            (form.cleaned_data.get("position") or 10**6, index, form.cleaned_data)
            for index, form in enumerate(self.forms)
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        fields = ("kind", "text", "help_text", "required", "scale_min", "scale_max", "choices")
        return [{name: data.get(name) for name in fields} for _, _, data in sorted(kept, key=lambda k: k[:2])]


class QuestionInline(admin.StackedInline):
    model = Question
    form = QuestionForm
    formset = QuestionFormSet
    ordering = ["position"]
    extra = 0
    min_num = 1

    def get_extra(self, request: HttpRequest, obj: Survey | None = None, **kwargs) -> int:
        return 0 if obj is not None else 1

    def _editable(self, obj: Survey | None) -> bool:
        return obj is None or (obj.is_current and not obj.is_frozen)

    def has_add_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(Survey)
class SurveyAdmin(SurveyPreviewAdmin, DepartmentScopedAdmin, admin.ModelAdmin):
    department_path = "department"
    list_display = ["name", "version", "department", "kind", "question_count", "is_current", "frozen_at"]
    list_filter = ["is_current", "kind", ("department", DepartmentListFilter)]
    list_select_related = ["department"]
    search_fields = ["name"]
    fields = ["department", "name", "kind", "language", "intro", "link_valid_days", "burden_weight"]
    readonly_fields = ["family_id", "version", "is_current", "frozen_at", "created_at", "updated_at"]
    inlines = [QuestionInline, SurveyTranslationInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Survey]:
        return super().get_queryset(request).annotate(question_count=Count("questions"))

    @admin.display(description="questions", ordering="question_count")
    def question_count(self, survey: Survey) -> int:
        return survey.question_count

    def get_fields(self, request: HttpRequest, obj: Survey | None = None) -> list[str]:
        return self.fields if obj is None else [*self.fields, *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Survey | None = None) -> list[str]:
        # The department is chosen once: a survey's answers belong to the department that sent it.
        return [] if obj is None else ["department", *self.readonly_fields]

    def has_change_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        # Sent surveys are frozen and old versions are history: view only ("Edit as new version").
        if obj is not None and (obj.is_frozen or not obj.is_current):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        if obj is not None and (obj.is_frozen or not obj.is_current):
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _function, name, description = actions["delete_selected"]
            actions["delete_selected"] = (type(self).delete_unsent_selected, name, description)
        return actions

    def delete_unsent_selected(self, request: HttpRequest, queryset: QuerySet[Survey]) -> HttpResponse | None:
        """Django's "Delete selected", refused with a message when a sent survey or an old version is
        among them: those keep the answers and requests that name them, and Django's own page would
        only say the user may not delete them."""
        kept = list(
            queryset.filter(Q(frozen_at__isnull=False) | Q(is_current=False)).order_by("name", "version")
        )
        if kept:
            names = ", ".join(f"“{survey.name}” (version {survey.version})" for survey in kept)
            self.message_user(
                request,
                f"Nothing was deleted: sent surveys and old versions are kept with their answers ({names}).",
                messages.ERROR,
            )
            return None
        return delete_selected(self, request, queryset)

    def save_model(self, request: HttpRequest, obj: Survey, form, change: bool) -> None:
        """Saved in save_related, where the questions are known: one service call for both."""

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        questions = next(formset for formset in formsets if isinstance(formset, QuestionFormSet)).questions()
        translations = next(f for f in formsets if isinstance(f, SurveyTranslationFormSet))
        data = form.cleaned_data
        fields = {name: data[name] for name in ("name", "kind", "language", "intro", "link_valid_days")}
        fields["burden_weight"] = data["burden_weight"]
        fields["translations"] = translations.translations(questions=len(questions))
        actor = admin_actor(request)
        if change:
            saved = survey_update(actor=actor, survey=form.instance, questions=questions, **fields)
        else:
            saved = survey_create(actor=actor, department=data["department"], questions=questions, **fields)
        for field in Survey._meta.concrete_fields:  # so the admin's redirect and log name the saved row
            setattr(form.instance, field.attname, getattr(saved, field.attname))
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/new-version/",
                self.admin_site.admin_view(self.new_version_view),
                name="surveys_survey_new_version",
            ),
            path(
                "from-template/<str:template>/",
                self.admin_site.admin_view(self.from_template_view),
                name="surveys_survey_from_template",
            ),
        ]
        return urls + self.preview_urls() + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        templates = [
            (reverse("admin:surveys_survey_from_template", args=[key]), f"New {key.upper()} survey")
            for key in SURVEY_TEMPLATES
        ]
        context = {
            **(extra_context or {}),
            "survey_templates": templates if self.has_add_permission(request) else [],
        }
        return super().changelist_view(request, extra_context=context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        survey = self.get_object(request, object_id)
        context = {**(extra_context or {})}
        if survey is not None and survey.is_frozen and survey.is_current and self.has_add_permission(request):
            context["new_version_url"] = reverse("admin:surveys_survey_new_version", args=[survey.pk])
        if survey is not None:
            context["preview_url"] = reverse("admin:surveys_survey_preview", args=[survey.pk])
        return super().change_view(request, object_id, form_url, extra_context=context)

    def new_version_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: make the next version of a frozen survey (questions copied) and open it for editing."""
        survey = get_object_or_404(self.get_queryset(request), pk=object_id)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:surveys_survey_change", args=[survey.pk]))
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            new = survey_update(actor=admin_actor(request), survey=survey)
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:surveys_survey_change", args=[survey.pk]))
        self.log_addition(request, new, [{"added": {"name": "version", "object": str(new)}}])
        self.message_user(request, f"Version {new.version} created; edit it and send it.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:surveys_survey_change", args=[new.pk]))

    def from_template_view(self, request: HttpRequest, template: str) -> HttpResponse:
        """GET: a form (department, name); POST: create a survey from the built-in template."""
        if template not in SURVEY_TEMPLATES:
            raise Http404("No such template.")
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SurveyFromTemplateForm(request.POST or None, departments=visible_departments(request))
        if request.method == "POST" and form.is_valid():
            survey = survey_create_from_template(
                actor=admin_actor(request),
                department=form.cleaned_data["department"],
                template=template,
                name=form.cleaned_data["name"] or None,
            )
            self.log_addition(request, survey, [{"added": {}}])
            self.message_user(
                request, f"“{survey}” created from the {template.upper()} template.", messages.SUCCESS
            )
            return HttpResponseRedirect(reverse("admin:surveys_survey_change", args=[survey.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"New {template.upper()} survey",
            "opts": self.opts,
            "form": form,
            "template_questions": SURVEY_TEMPLATES[template]["questions"],
        }
        return TemplateResponse(request, "admin/surveys/survey/from_template.html", context)


class SurveyFromTemplateForm(forms.Form):
    department = forms.ModelChoiceField(queryset=Department.objects.none())
    name = forms.CharField(max_length=200, required=False, help_text="Empty: the template's name.")

    def __init__(self, *args, departments: QuerySet, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = departments
        if departments.count() == 1:
            self.fields["department"].initial = departments.first()
