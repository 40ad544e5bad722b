"""A survey's translations (issue 17): its name, intro, questions and invitation e-mail in another
language, chosen by the contact's locale (surveys/design/translations.py). A translation belongs to
one version of a survey, like its questions: sending freezes both, and the next version copies them."""

from __future__ import annotations

from django.db import models

from surveys.models.design import Survey


class SurveyTranslation(models.Model):
    """One survey version in one language. Every text left empty falls back to the survey's own
    (in `Survey.language`): a translation may cover only the questions, or only the e-mail."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(
        max_length=10, help_text='A language code, e.g. "de"; contacts whose locale is "de-AT" get it too.'
    )
    name = models.CharField(max_length=200, blank=True, help_text="The survey's title on its page.")
    intro = models.TextField(blank=True)
    email_subject = models.CharField(
        max_length=200, blank=True, help_text="Empty: the standard subject in this language."
    )
    email_body = models.TextField(
        blank=True,
        help_text="The invitation's message above the button; empty: the standard message in this language.",
    )
    # [{"text": …, "help_text": …, "choices": […]}, …] in the questions' order; an empty text (or a
    # list shorter than the questions) keeps the survey's own. A choice's translation only changes
    # its label: answers are stored as the survey's own choice, so results read one language.
    questions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["survey", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "language"], name="survey_translation_one_per_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey} ({self.language})"
