"""Answers given in another tool, ingested so every answer lands in the one results dashboard.

An ingested response belongs to an external touch (the send that asked), found by the other tool's
id or recorded with it: answered from the start, so it counts for the rules (the response clock
too, from responded_at) like one of our answered invitations. Its answers are stored on the
placeholder survey's questions of the same kind (surveys/external/homes.py), so the results'
rollups and drill-downs read them with no change, and a detractor's answer opens a follow-up as one
given on our pages does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from departments.models import Department
from results.services.followups import follow_up_on_submit
from surveys.delivery.invitation_status import MARK_ANSWERED
from surveys.errors import ReservationClosed
from surveys.external.homes import EXTERNAL_QUESTIONS, external_survey_get
from surveys.external.touches import TouchInput, external_touches_by_key, external_touches_create
from surveys.gatekeeper import locks
from surveys.models import Answer, ExternalTouch, Invitation, Response
from surveys.public.responses import answers_clean
from surveys.public.selectors import survey_questions

Status = Invitation.Status

# An answer's kind as the API names it → the position of its question on the placeholder survey.
ANSWER_POSITIONS = {kind.value: position for position, kind in enumerate(EXTERNAL_QUESTIONS, start=1)}


@dataclass(frozen=True)
class Ingested:
    response: Response
    touch: ExternalTouch
    created: bool


def external_response_ingest(
    *,
    department: Department,
    touch: TouchInput,
    answers: dict[str, Any],
    submitted_at: dt.datetime,
    locale: str = "",
) -> Ingested:
    """Store another tool's answers (keyed by kind: nps, csat, ces, free_text) as the response to the
    touch (source tool, external id), recording the touch if it is new. A replay returns the stored
    response (created False). Writes the touch, response, answers and any follow-up in one
    transaction under the contact's stripe lock. Raises InvalidAnswers (400) for an answer off its
    scale and ReservationClosed (409) for a reservation cancelled or released."""
    survey = external_survey_get(department=department, kind=touch.survey_kind)
    cleaned = answers_clean(
        survey_questions(survey), {ANSWER_POSITIONS[kind]: value for kind, value in answers.items()}
    )
    with transaction.atomic():
        # Lock order 4 (surveys/gatekeeper/locks.py): a touch recorded here is counted by deciders.
        locks.lock_contacts([touch.contact_id])
        stored = external_touches_by_key(department=department, keys=[touch.key]).get(touch.key)
        if stored is None:
            stored = external_touches_create(
                department=department,
                touches=[touch],
                surveys={touch.survey_kind: survey},
                status=Status.ANSWERED,
            )[touch.key]
        elif (response := Response.objects.filter(invitation_id=stored.invitation_id).first()) is not None:
            return Ingested(response=response, touch=stored, created=False)
        invitation = _invitation_answered(stored, at=submitted_at)
        with follow_up_on_submit(invitation=invitation, answers=cleaned, now=submitted_at) as follow_up:
            response = _response_store(invitation, cleaned, submitted_at=submitted_at, locale=locale)
            follow_up.open(response.pk)
    return Ingested(response=response, touch=stored, created=True)


def _invitation_answered(touch: ExternalTouch, *, at: dt.datetime) -> Invitation:
    """The touch's invitation, answered at `at`: responded_at starts the response clock. A recorded
    send keeps its status (expired: its link was never ours); a reservation not yet confirmed is
    answered through delivery's move. Raises ReservationClosed if it was cancelled or released."""
    invitation = touch.invitation
    if invitation.status in Invitation.NOT_COUNTED:
        raise ReservationClosed(
            "The reservation was cancelled or released; record the answer with a new external id.",
            extra={"external_id": touch.external_id},
        )
    mine = Invitation.objects.filter(pk=invitation.pk)
    if invitation.status == Status.QUEUED:
        MARK_ANSWERED.apply(mine, now=at, sent_at=at)
        ExternalTouch.objects.filter(pk=touch.pk).update(reserved_until=None)
    mine.filter(responded_at__isnull=True).update(responded_at=at)
    invitation.refresh_from_db()
    return invitation


def _response_store(
    invitation: Invitation, answers: list[Answer], *, submitted_at: dt.datetime, locale: str
) -> Response:
    response = Response.objects.create(
        invitation=invitation,
        survey_id=invitation.survey_id,
        contact_id=invitation.contact_id,
        department_id=invitation.department_id,
        channel=invitation.channel,
        locale=locale,
        submitted_at=submitted_at,
    )
    for answer in answers:
        answer.response = response
    Answer.objects.bulk_create(answers)
    return response
