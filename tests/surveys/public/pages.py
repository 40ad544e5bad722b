"""Builders for the public-page tests: a survey with every question kind, and a sent invitation
with a personal link, the way delivery leaves them."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from contacts.models import Contact
from departments.models import Department
from surveys.delivery.tokens import token_new
from surveys.models import Invitation, InvitationToken, SendRequest, Survey
from tests import factories

EVERY_KIND = [
    {"kind": "nps", "text": "How likely are you to recommend us to a friend?"},
    {"kind": "csat", "text": "How satisfied are you with our help?"},
    {
        "kind": "ces",
        "text": "The company made it easy to handle my issue.",
        "help_text": "Say how much you agree.",
    },
    {"kind": "rating", "text": "How would you rate the delivery?", "scale_min": 1, "scale_max": 4},
    {
        "kind": "single_choice",
        "text": "Which product did you buy?",
        "choices": ["Kettle", "Toaster", "Mixer"],
    },
    {"kind": "multiple_choice", "text": "What did you like?", "choices": ["Price", "Speed", "Friendliness"]},
    {"kind": "free_text", "text": "Anything else you want to tell us?", "required": False},
]

# A form submission that answers every question of EVERY_KIND.
EVERY_KIND_ANSWERS = {
    "q1": "9",
    "q2": "4",
    "q3": "6",
    "q4": "3",
    "q5": "Toaster",
    "q6": ["Price", "Friendliness"],
    "q7": "Quick and friendly.",
}


def survey_with_every_kind(department: Department, **fields) -> Survey:
    survey = factories.SurveyFactory(department=department, questions=[], name="Your recent order", **fields)
    for position, question in enumerate(EVERY_KIND, start=1):
        factories.QuestionFactory(survey=survey, position=position, **question)
    return survey


def invitation_with_link(
    survey: Survey,
    contact: Contact,
    *,
    status: str = Invitation.Status.SENT,
    expires_in: dt.timedelta | None = dt.timedelta(days=14),
    channel: str = "email",
) -> tuple[Invitation, str]:
    """A sent invitation of `survey` to `contact` and the token of its personal link."""
    now = timezone.now()
    request = SendRequest.objects.create(
        department=survey.department,
        survey=survey,
        channel=channel,
        audience_kind="trigger",
        status="sending",
    )
    invitation = Invitation.objects.create(
        send_request=request,
        survey=survey,
        survey_family_id=survey.family_id or survey.pk,
        department=survey.department,
        survey_kind=survey.kind,
        contact=contact,
        channel=channel,
        status=status,
        touched_at=now,
        sent_at=now,
        expires_at=None if expires_in is None else now + expires_in,
    )
    token, hashed = token_new()
    InvitationToken.objects.create(invitation=invitation, token_hash=hashed)
    return invitation, token
