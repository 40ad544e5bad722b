"""Which language a contact reads a survey in, and the survey's texts in it (issue 17).

A survey is written in its own language (`Survey.language`) and may have translations
(`SurveyTranslation`), one per language. A contact whose locale is "de-AT" gets the "de-AT"
translation, else the "de" one, else the survey's own texts; any text a translation leaves empty
is the survey's own. The invitation e-mail (surveys/delivery/messages.py) and the survey page
(surveys/public/views.py) both choose here, so the e-mail and the questions never disagree.

A sent survey is frozen, and so are its translations (an edit makes the next version with them
copied), so each process reads a frozen survey's translations once.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import get_supported_language_variant

from contacts.models import DepartmentContact
from surveys.errors import InvalidSurvey
from surveys.models import Invitation, Question, Survey, SurveyTranslation

TRANSLATION_TEXT_FIELDS = ("name", "intro", "email_subject", "email_body")


def language_match(locale: str, languages: Iterable[str]) -> str | None:
    """The one of `languages` a contact with `locale` reads: the locale itself ("de-AT"), else its
    base language ("de"); None when neither is there. Case and "_" or "-" do not matter."""
    wanted = (locale or "").strip().replace("_", "-").lower()
    if not wanted:
        return None
    by_code = {language.lower(): language for language in languages}
    return by_code.get(wanted) or by_code.get(wanted.split("-")[0])


@dataclass(frozen=True)
class SurveyTexts:
    """What a contact reads of a survey: in `language`, the translation's texts where it has them,
    else the survey's own. Empty `email_subject` and `email_body` mean the standard ones."""

    language: str
    name: str
    intro: str
    email_subject: str = ""
    email_body: str = ""
    questions: tuple[dict[str, Any], ...] = field(default=())


def survey_texts(survey: Survey, *, locale: str) -> SurveyTexts:
    """The survey's texts for a contact with `locale` (no query for a sent survey after the first)."""
    translations = survey_translations(survey)
    chosen = language_match(locale, [survey.language, *translations])
    own = SurveyTexts(language=survey.language, name=survey.name, intro=survey.intro)
    translation = translations.get(chosen) if chosen != survey.language else None
    if translation is None:
        return own
    return SurveyTexts(
        language=translation.language,
        name=translation.name or survey.name,
        intro=translation.intro or survey.intro,
        email_subject=translation.email_subject,
        email_body=translation.email_body,
        questions=tuple(translation.questions or ()),
    )


def survey_translations(survey: Survey) -> dict[str, SurveyTranslation]:
    """The survey's translations by language: read once per process for a sent (frozen) survey."""
    if survey.frozen_at is not None:
        return _frozen_survey_translations(survey.pk)
    return {translation.language: translation for translation in survey.translations.all()}


@functools.lru_cache(maxsize=1024)
def _frozen_survey_translations(survey_id: int) -> dict[str, SurveyTranslation]:
    return {t.language: t for t in SurveyTranslation.objects.filter(survey_id=survey_id)}


def survey_as_read(survey: Survey, texts: SurveyTexts) -> Survey:
    """A copy of the survey with the name and intro the contact reads (the original may be shared)."""
    survey = copy.copy(survey)
    survey.name, survey.intro = texts.name, texts.intro
    return survey


def questions_translated(questions: Sequence[Question], texts: SurveyTexts) -> list[Question]:
    """The questions as the contact reads them: copies (the originals may be shared between
    requests) with the translation's text and help text, and `choice_labels` for the choices; a
    choice's value stays the survey's own, so answers are stored in one language."""
    translated = []
    for question, entry in zip(questions, _padded(texts.questions, len(questions), {}), strict=True):
        question = copy.copy(question)
        question.text = entry.get("text") or question.text
        question.help_text = entry.get("help_text") or question.help_text
        labels = _padded(entry.get("choices") or [], len(question.choices), "")
        question.choice_labels = [
            label or choice for choice, label in zip(question.choices, labels, strict=True)
        ]
        translated.append(question)
    return translated


def _padded(items: Sequence[Any], length: int, filler: Any) -> list[Any]:
    return [*items[:length], *([filler] * (length - len(items)))]


def contact_locale(invitation: Invitation) -> str:
    """The contact's locale as the invitation's department knows it: its view's, else the person's."""
    view_locale = (
        DepartmentContact.objects.filter(
            department_id=invitation.department_id, contact_id=invitation.contact_id
        )
        .values_list("locale", flat=True)
        .first()
    )
    return view_locale or invitation.contact.locale


def translations_clean(
    translations: Sequence[Mapping[str, Any]], *, language: str, questions: int
) -> list[dict[str, Any]]:
    """A survey's translations checked: a language code the site knows the base of (or any
    two-letter code), not the survey's own and not twice; question entries no more than the
    questions. Raises InvalidSurvey naming the translation and field."""
    seen = {language.lower()}
    cleaned = []
    for index, translation in enumerate(translations, start=1):
        code = (translation.get("language") or "").strip().replace("_", "-")
        where = f"translations[{index}]"
        if not language_code_valid(code):
            raise InvalidSurvey(
                f"{where}.language: a language code such as “de” or “de-AT”.", extra={"field": "translations"}
            )
        if code.lower() in seen:
            raise InvalidSurvey(
                f"{where}.language: “{code}” is the survey's own language or translated twice.",
                extra={"field": "translations"},
            )
        seen.add(code.lower())
        entries = translation.get("questions") or []
        if len(entries) > questions:
            raise InvalidSurvey(
                f"{where}.questions: {len(entries)} entries for {questions} questions.",
                extra={"field": "translations"},
            )
        texts = {name: (translation.get(name) or "").strip() for name in TRANSLATION_TEXT_FIELDS}
        cleaned.append({"language": code, **texts, "questions": [_entry_clean(entry) for entry in entries]})
    return cleaned


def language_code_valid(code: str) -> bool:
    """A language code such as "de" or "de-AT": a two-letter one, or one the site's texts speak."""
    base, _, region = code.partition("-")
    if not (
        base.isalpha() and 2 <= len(base) <= 3 and (not region or (region.isalnum() and len(region) <= 4))
    ):
        return False
    try:
        get_supported_language_variant(base)
    except LookupError:
        return len(base) == 2  # a language the site's own texts do not speak still gets its questions
    return True


def _entry_clean(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": (entry.get("text") or "").strip()[:500],
        "help_text": (entry.get("help_text") or "").strip()[:500],
        "choices": [(choice or "").strip()[:200] for choice in entry.get("choices") or []],
    }


def translations_write(survey: Survey, translations: Sequence[dict[str, Any]]) -> None:
    """Replace the survey's translations (cleaned by translations_clean); inside the caller's transaction."""
    survey.translations.all().delete()
    SurveyTranslation.objects.bulk_create(SurveyTranslation(survey=survey, **t) for t in translations)


def translations_of(survey: Survey) -> list[dict[str, Any]]:
    """The survey's translations as translations_write takes them (to copy into its next version)."""
    fields = ("language", *TRANSLATION_TEXT_FIELDS, "questions")
    return [{name: getattr(t, name) for name in fields} for t in survey.translations.order_by("language")]


def translations_after_edit(
    current: Survey,
    changes: dict[str, Any],
    questions: list[dict[str, Any]] | None,
    translations: Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]] | None:
    """The edited survey's translations, checked against its questions and language after the
    edit (surveys/design/surveys.py survey_update): as given, else its own; None when nothing they
    depend on changes."""
    if translations is None and questions is None and "language" not in changes:
        return None
    count = len(questions) if questions is not None else current.questions.count()
    if translations is None:
        translations = [{**t, "questions": t["questions"][:count]} for t in translations_of(current)]
    return translations_clean(
        translations, language=changes.get("language", current.language), questions=count
    )
