"""Builders for the drill-down, export, follow-up and responses-API tests: a survey with an NPS, a
CSAT and a comment question, and responses stored through the real service (so follow-ups are
opened exactly as on the survey page)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from contacts.models import Contact
from departments.models import Department
from surveys.models import Invitation, Response, Survey
from surveys.public.responses import response_submit
from tests import factories
from tests.surveys.public.pages import invitation_with_link

NPS, CSAT, COMMENT = 1, 2, 3


def feedback_survey(department: Department, name: str = "Support NPS", **fields) -> Survey:
    """Questions: 1 NPS, 2 CSAT, 3 an optional comment."""
    survey = factories.SurveyFactory(department=department, name=name, questions=[], **fields)
    factories.QuestionFactory(
        survey=survey, position=NPS, kind="nps", text="How likely are you to recommend us?"
    )
    factories.QuestionFactory(survey=survey, position=CSAT, kind="csat", text="How satisfied are you?")
    factories.QuestionFactory(
        survey=survey, position=COMMENT, kind="free_text", text="Anything else?", required=False
    )
    return survey


def answered(
    survey: Survey,
    contact: Contact | None = None,
    *,
    nps: int = 9,
    csat: int = 5,
    comment: str = "",
    at: dt.datetime | None = None,
    channel: str = "email",
) -> Response:
    """A response of `contact` (a new contact the survey's department knows, by default), stored by
    response_submit at `at` (default now)."""
    contact = contact or factories.known_contact(survey.department)
    invitation, _ = invitation_with_link(survey, contact, channel=channel)
    if at is not None:  # sent when it was answered, as far as the timeline can tell
        Invitation.objects.filter(pk=invitation.pk).update(touched_at=at, sent_at=at)
        invitation.touched_at = invitation.sent_at = at
    return response_submit(
        invitation=invitation, answers={NPS: nps, CSAT: csat, COMMENT: comment}, now=at or timezone.now()
    )
