"""Storing a customer's answers: exactly one response per invitation, never lost once acknowledged.

The public survey page (surveys/public/views.py) calls `response_submit` and shows "thank you" only after it
returned, that is after the statement that stores the response committed. Messages are translated
(gettext): the caller sets the customer's language.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, connection
from django.utils import timezone
from django.utils.translation import gettext as _

from cxfeedback.exceptions import ApplicationError
from results.services.followups import follow_up_on_submit
from surveys.delivery.invitation_status import MARK_ANSWERED, MARK_OPENED, invitation_mark_opened
from surveys.errors import AlreadyAnswered, InvalidAnswers, InvitationExpired
from surveys.models import SCALE_KINDS, Answer, Invitation, Question, QuestionKind, Response
from surveys.public.selectors import survey_questions

# A free-text answer longer than this is not an answer to a survey question.
MAX_TEXT_CHARS = 5000


CHOICE_KINDS = (QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE)


# What a caller gives per question: a number for scales, a text, a list of choices; None, "" or []
# for no answer.
AnswerValue = int | str | list[str] | None


class _Invalid(Exception):
    pass


def response_submit(
    *,
    invitation: Invitation,
    answers: Mapping[int, AnswerValue],
    now: dt.datetime | None = None,
    locale: str = "",
) -> Response:
    """Store the answers (keyed by question position) as the invitation's one response and mark the
    invitation answered, all in one statement, so together or not at all.

    Raises InvalidAnswers naming each question whose answer is missing or not allowed,
    AlreadyAnswered if the invitation has a response, InvitationExpired if it cannot be answered
    (any more).
    """
    now = now or timezone.now()
    cleaned = answers_clean(survey_questions(invitation.survey), answers)
    parameters = {
        "invitation": invitation.pk,
        "now": now,
        "locale": locale,
        "questions": [answer.question_id for answer in cleaned],
        "numbers": [answer.value_number for answer in cleaned],
        "texts": [answer.value_text for answer in cleaned],
        "choices": [json.dumps(answer.value_choices) for answer in cleaned],
    }
    try:
        # A detractor's answer opens a follow-up (issue 5), in one transaction with the response.
        with follow_up_on_submit(invitation=invitation, answers=cleaned, now=now) as follow_up:
            with connection.cursor() as cursor:
                cursor.execute(SUBMIT_SQL, parameters)
                response_id = cursor.fetchone()[0]
            follow_up.open(response_id)
    except IntegrityError as error:
        cause = getattr(error.__cause__, "diag", None)
        if cause is not None and cause.constraint_name == ONE_RESPONSE_PER_INVITATION:
            # A writer that skipped the claim got in first.
            raise AlreadyAnswered(_("This survey has been answered already.")) from error
        raise
    if response_id is None:
        raise _refusal(invitation)
    return _response_as_stored(response_id, invitation=invitation, locale=locale, now=now)


# PostgreSQL's name for the UNIQUE of the one-to-one Response.invitation (declared inline, so named
# by PostgreSQL: <table>_<column>_key).
ONE_RESPONSE_PER_INVITATION = "surveys_response_invitation_id_key"


# Claim, response and answers in one statement: it is the survey page's hot path (PRODUCT.md §8,
# 200 answers a second), and one round trip instead of five, without the ORM's compiling, costs a
# fifth of the CPU.
#
# The claim is a conditional UPDATE to answered from the statuses the map allows (the open ones:
# MARK_ANSWERED in surveys/delivery/invitation_status.py). The race it settles: a double click or
# two tabs submit at the same moment. The first UPDATE holds the row's lock until its statement
# commits; the second waits, then finds the row answered, matches nothing, and so inserts nothing.
# The one-to-one on Response.invitation backs this up for any writer that skips the claim.
# responded_at starts the clock of frequency rules counted from responses. Built once, from the
# map's statuses (no input).
SUBMIT_SQL = f"""
WITH claimed AS (
    UPDATE surveys_invitation
    SET status = '{MARK_ANSWERED.to}', responded_at = %(now)s, updated_at = %(now)s
    WHERE id = %(invitation)s AND status IN ({MARK_ANSWERED.sources_sql})
      AND (expires_at IS NULL OR expires_at > %(now)s)
    RETURNING id, survey_id, contact_id, department_id, channel
), response AS (
    INSERT INTO surveys_response (invitation_id, survey_id, contact_id, department_id, channel, locale,
                                  submitted_at)
    SELECT id, survey_id, contact_id, department_id, channel, %(locale)s, %(now)s FROM claimed
    RETURNING id
), answers AS (
    INSERT INTO surveys_answer (response_id, question_id, value_number, value_text, value_choices)
    SELECT response.id, a.question_id, a.value_number, a.value_text, a.value_choices
    FROM response,
         unnest(%(questions)s::bigint[], %(numbers)s::int[], %(texts)s::text[], %(choices)s::jsonb[])
             AS a(question_id, value_number, value_text, value_choices)
)
SELECT (SELECT id FROM response)
"""  # noqa: S608


def _response_as_stored(
    response_id: int, *, invitation: Invitation, locale: str, now: dt.datetime
) -> Response:
    """The Response SUBMIT_SQL stored, built from what it was given: no query to read it back."""
    fields = ["id", "invitation_id", "survey_id", "contact_id"]
    fields += ["department_id", "channel", "locale", "submitted_at"]
    values = [response_id, invitation.pk, invitation.survey_id, invitation.contact_id]
    values += [invitation.department_id, invitation.channel, locale, now]
    return Response.from_db(connection.alias, fields, values)


def _refusal(invitation: Invitation) -> ApplicationError:
    """Why the claim matched nothing: answered already, or no longer open."""
    status = Invitation.objects.filter(pk=invitation.pk).values_list("status", flat=True).first()
    if status == Invitation.Status.ANSWERED:
        return AlreadyAnswered(_("This survey has been answered already."))
    return InvitationExpired(_("This survey cannot be answered any more."))


def answers_clean(questions: Sequence[Question], answers: Mapping[int, AnswerValue]) -> list[Answer]:
    """Unsaved Answers for the questions answered, in question order. Raises InvalidAnswers listing
    every problem at once: a required question left empty, a number off the scale, a choice that
    is not offered, a text too long, a position with no question."""
    problems: dict[int, list[str]] = {}
    positions = {question.position for question in questions}
    for position in sorted(set(answers) - positions, key=str):
        problems[position] = [_("There is no such question.")]
    cleaned = []
    for question in questions:
        try:
            answer = _answer_clean(question, answers.get(question.position))
        except _Invalid as problem:
            problems[question.position] = [str(problem)]
            continue
        if answer is not None:
            cleaned.append(answer)
    if problems:
        raise InvalidAnswers(_("Please check your answers."), extra={"questions": problems})
    return cleaned


def _answer_clean(question: Question, value: Any) -> Answer | None:
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "" or value == []:
        if question.required:
            raise _Invalid(_required_message(question))
        return None
    if question.kind in SCALE_KINDS:
        return Answer(question=question, value_number=_scale_clean(question, value))
    if question.kind in CHOICE_KINDS:
        return Answer(question=question, value_choices=_choices_clean(question, value))
    return Answer(question=question, value_text=_text_clean(value))


def _required_message(question: Question) -> str:
    if question.kind == QuestionKind.FREE_TEXT:
        return _("Write an answer.")
    if question.kind == QuestionKind.MULTIPLE_CHOICE:
        return _("Choose at least one answer.")
    return _("Choose an answer.")


def _scale_clean(question: Question, value: Any) -> int:
    low, high = question.scale
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Invalid(_("Choose a number from %(low)s to %(high)s.") % {"low": low, "high": high})
    return value


def _choices_clean(question: Question, value: Any) -> list[str]:
    chosen = [value] if isinstance(value, str) else value
    if (
        not isinstance(chosen, list)
        or not all(isinstance(choice, str) for choice in chosen)
        or not set(chosen) <= set(question.choices)
    ):
        raise _Invalid(_("Choose from the answers shown."))
    if question.kind == QuestionKind.SINGLE_CHOICE and len(chosen) != 1:
        raise _Invalid(_("Choose one answer."))
    # In the order the question lists them, each once.
    return [choice for choice in question.choices if choice in chosen]


def _text_clean(value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(_("Write your answer as text."))
    if len(value) > MAX_TEXT_CHARS:
        raise _Invalid(
            _("Shorten your answer to %(max)s characters or fewer (it has %(count)s).")
            % {"max": MAX_TEXT_CHARS, "count": len(value)}
        )
    return value


def invitation_open(*, invitation: Invitation, now: dt.datetime | None = None) -> bool:
    """Mark a sent or delivered invitation opened (the customer, or a link scanner, loaded its survey).
    A conditional UPDATE: never moves an invitation back, never touches an answered one. Returns
    whether it changed."""
    if invitation.status not in MARK_OPENED.sources:  # as read with the token: a reload needs no write
        return False
    return invitation_mark_opened(invitation_id=invitation.pk, now=now or timezone.now())
