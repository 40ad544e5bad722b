"""A survey's translations in its admin page (issue 17): one inline per language, saved with the
survey through surveys.design.surveys (SurveyAdmin.save_related), checked as the API checks them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from surveys.design.translations import TRANSLATION_TEXT_FIELDS, language_code_valid
from surveys.models import Survey, SurveyTranslation

QUESTIONS_HELP = (
    "One line per question, in the survey's order: the question, then optionally “ | ” and its help "
    "text, then “ | ” and its choices separated by “;”. An empty line keeps the survey's own question."
)


def questions_as_lines(entries: list[dict[str, Any]]) -> str:
    lines = []
    for entry in entries:
        parts = [entry.get("text", ""), entry.get("help_text", ""), "; ".join(entry.get("choices") or [])]
        while parts and not parts[-1]:
            parts.pop()
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def questions_from_lines(text: str) -> list[dict[str, Any]]:
    entries = []
    for line in text.splitlines():
        question, _, rest = line.partition("|")
        help_text, _, choices = rest.partition("|")
        entries.append(
            {
                "text": question.strip(),
                "help_text": help_text.strip(),
                "choices": [choice.strip() for choice in choices.split(";")] if choices.strip() else [],
            }
        )
    while entries and not any(entries[-1].values()):
        entries.pop()
    return entries


class SurveyTranslationForm(forms.ModelForm):
    questions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), required=False, help_text=QUESTIONS_HELP
    )

    class Meta:
        model = SurveyTranslation
        fields = ["language", *TRANSLATION_TEXT_FIELDS, "questions"]
        widgets = {
            "intro": forms.Textarea(attrs={"rows": 2}),
            "email_body": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["questions"] = questions_as_lines(self.instance.questions or [])

    def clean_language(self) -> str:
        code = self.cleaned_data["language"].strip().replace("_", "-")
        if not language_code_valid(code):
            raise forms.ValidationError("A language code such as “de” or “de-AT”.")
        return code

    def clean_questions(self) -> list[dict[str, Any]]:
        return questions_from_lines(self.cleaned_data.get("questions") or "")

    def validate_unique(self) -> None:
        # The formset checks languages are distinct; the service replaces them all when it saves.
        return None


class SurveyTranslationFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        own = (getattr(self.instance, "language", "") or "").lower()
        seen = set()
        for form in self.forms:
            if not form.cleaned_data or self._should_delete_form(form):
                continue
            code = (form.cleaned_data.get("language") or "").lower()
            if code == own:
                form.add_error(
                    "language", "This is the survey's own language: edit the survey's texts instead."
                )
            elif code in seen:
                form.add_error("language", "This language is translated twice.")
            seen.add(code)

    def translations(self, *, questions: int) -> list[dict[str, Any]]:
        """The kept translations as survey_create and survey_update take them, question entries cut
        to the survey's `questions`."""
        return [
            {
                "language": form.cleaned_data["language"],
                **{name: form.cleaned_data.get(name) or "" for name in TRANSLATION_TEXT_FIELDS},
                "questions": form.cleaned_data.get("questions", [])[:questions],
            }
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]


class SurveyTranslationInline(admin.StackedInline):
    model = SurveyTranslation
    form = SurveyTranslationForm
    formset = SurveyTranslationFormSet
    extra = 0
    verbose_name = "translation"
    classes = ["collapse"]

    def _editable(self, request: HttpRequest, obj: Survey | None) -> bool:
        # A translation is part of its survey, edited with it: whoever may add or change the survey
        # (still a draft, the current version) may edit its translations.
        if obj is not None and (obj.is_frozen or not obj.is_current):
            return False
        return request.user.has_perm("surveys.change_survey" if obj is not None else "surveys.add_survey")

    def has_view_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        return request.user.has_perm("surveys.view_survey")

    def has_add_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        return self._editable(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        return self._editable(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Survey | None = None) -> bool:
        return self._editable(request, obj)
