"""Forms of the customer's pages: a survey form built from its questions, and the preference centre.

The survey form only reads what the browser sent into typed values (a number, a text, a list of
choices); whether the answers are acceptable — required, on the scale, among the choices — is
decided by surveys.public.responses.answers_clean, whose messages land back on the fields. So the
rules live in one place, and a non-web caller gets the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from surveys.errors import InvalidAnswers
from surveys.models import Question, QuestionKind
from surveys.public.preferences import SNOOZE_DAYS
from surveys.public.responses import CHOICE_KINDS, MAX_TEXT_CHARS

# A scale with more points than this is asked as a number field instead of a row of buttons.
MAX_SCALE_BUTTONS = 11

# What the ends of the standard scales mean (PRODUCT.md §3).
SCALE_ENDS = {
    QuestionKind.NPS: (gettext_lazy("not at all likely"), gettext_lazy("extremely likely")),
    QuestionKind.CSAT: (gettext_lazy("very dissatisfied"), gettext_lazy("very satisfied")),
    QuestionKind.CES: (gettext_lazy("strongly disagree"), gettext_lazy("strongly agree")),
}


def field_name(question: Question) -> str:
    return f"q{question.position}"


@dataclass
class QuestionView:
    """One question as the template draws it, with what the customer sent and any problem."""

    question: Question
    name: str
    widget: str  # "scale", "radio", "checkbox", "textarea" or "number"
    options: list[tuple[str, str, str]] = field(default_factory=list)  # value, label, hidden label
    ends: tuple[str, ...] | None = None  # what the lowest and highest points mean, e.g. "0 = …"
    selected: set[str] = field(default_factory=set)
    text: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def described_by(self) -> str:
        ids = []
        if self.question.help_text:
            ids.append(f"{self.name}-hint")
        if self.errors:
            ids.append(f"{self.name}-error")
        return " ".join(ids)

    @property
    def columns(self) -> int:
        """Buttons per row of a scale on a phone: all of up to 7 in one row, else two even rows."""
        points = len(self.options)
        return points if points <= 7 else (points + 1) // 2

    @property
    def first_id(self) -> str:
        """The id of the first input: where the error summary's link takes the customer."""
        return f"{self.name}-0" if self.is_group else self.name

    @property
    def max_length(self) -> int:
        return MAX_TEXT_CHARS

    @property
    def is_group(self) -> bool:
        """Radios and checkboxes: a fieldset whose legend is the question."""
        return self.widget in ("scale", "radio", "checkbox")


class SurveyForm(forms.Form):
    """The survey's questions as form fields named q<position>, none required at this level."""

    def __init__(self, questions: Sequence[Question], *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for question in self.questions:
            self.fields[field_name(question)] = _field_for(question)

    def answers(self) -> dict[int, Any]:
        """The typed answers by question position (after is_valid)."""
        return {question.position: self.cleaned_data.get(field_name(question)) for question in self.questions}

    def add_answer_errors(self, error: InvalidAnswers) -> None:
        by_position = {question.position: field_name(question) for question in self.questions}
        for position, messages in error.extra.get("questions", {}).items():
            for message in messages:
                self.add_error(by_position.get(position), message)

    def question_views(self) -> list[QuestionView]:
        return [self._view(question) for question in self.questions]

    def _view(self, question: Question) -> QuestionView:
        name = field_name(question)
        bound = self[name]
        raw = bound.value() if self.is_bound else None
        view = QuestionView(
            question=question, name=name, widget=_widget_for(question), errors=list(bound.errors)
        )
        if view.widget in ("textarea", "number"):
            view.text = "" if raw is None else str(raw)
            return view
        view.selected = (
            {str(value) for value in raw} if isinstance(raw, list) else ({str(raw)} if raw else set())
        )
        view.options = _options(question)
        if question.kind in SCALE_ENDS:
            low, high = question.scale
            view.ends = tuple(
                f"{value} = {meaning}"
                for value, meaning in zip((low, high), SCALE_ENDS[question.kind], strict=True)
            )
        return view


def _widget_for(question: Question) -> str:
    if question.kind == QuestionKind.FREE_TEXT:
        return "textarea"
    if question.kind == QuestionKind.SINGLE_CHOICE:
        return "radio"
    if question.kind == QuestionKind.MULTIPLE_CHOICE:
        return "checkbox"
    low, high = question.scale
    return "scale" if high - low + 1 <= MAX_SCALE_BUTTONS else "number"


def _field_for(question: Question) -> forms.Field:
    widget = _widget_for(question)
    if widget == "textarea":
        # The service reports a text that is too long; the browser is told the limit (maxlength).
        return forms.CharField(required=False, strip=True, max_length=MAX_TEXT_CHARS * 2)
    if widget == "number":
        return forms.IntegerField(required=False)
    choices = [(value, value) for value, _label, _hidden in _options(question)]
    if widget == "checkbox":
        return forms.MultipleChoiceField(required=False, choices=choices)
    if widget == "scale":
        return forms.TypedChoiceField(required=False, choices=choices, coerce=int, empty_value=None)
    return forms.ChoiceField(required=False, choices=choices)


def _options(question: Question) -> list[tuple[str, str, str]]:
    """(value, visible label, label for screen readers only) per option. The ends of a standard
    scale say what they mean to a screen reader; sighted customers read it under the scale."""
    if question.kind in CHOICE_KINDS:
        # A translated question (surveys/design/translations.py) labels its choices in the
        # contact's language; the value stays the survey's own choice.
        labels = getattr(question, "choice_labels", None) or question.choices
        return [(choice, label, "") for choice, label in zip(question.choices, labels, strict=True)]
    low, high = question.scale
    ends = SCALE_ENDS.get(question.kind)
    options = []
    for value in range(low, high + 1):
        hidden = ""
        if ends and value == low:
            hidden = str(ends[0])
        elif ends and value == high:
            hidden = str(ends[1])
        options.append((str(value), str(value), hidden))
    return options


class PreferencesForm(forms.Form):
    """One of the preference centre's three forms, told apart by the button's `action`."""

    ACTIONS = ("snooze", "opt_out", "channel")

    action = forms.ChoiceField(choices=[(action, action) for action in ACTIONS])
    days = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=[(str(days), str(days)) for days in SNOOZE_DAYS]
    )
    scope = forms.ChoiceField(
        required=False, choices=[("department", "department"), ("everyone", "everyone")]
    )
    channel = forms.ChoiceField(required=False, choices=[("email", "email"), ("sms", "sms")])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        needed = {"snooze": "days", "opt_out": "scope", "channel": "channel"}.get(cleaned.get("action"))
        if needed and not cleaned.get(needed):
            self.add_error(needed, _("Choose one of the options."))
        return cleaned
