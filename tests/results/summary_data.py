"""Builders for the results tests: surveys with scored questions, and the history the dashboard
counts (invitations sent, responses with answers, the gatekeeper's decisions), each at a given time."""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from departments.models import Department
from surveys.models import Answer, Decision, FrequencyRule, Invitation, Response, SendRequest, Survey
from surveys.models.gatekeeper import request_month_of
from tests import factories

_contacts = itertools.count()


def at(day: str, hour: int = 12) -> dt.datetime:
    """Noon (or `hour`) of an ISO day, in the project's time zone."""
    return timezone.make_aware(dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour)))


def scored_survey(department: Department, *kinds: str, name: str | None = None, **fields) -> Survey:
    """A survey with one question per kind (nps, csat, ces, free_text …), in that order."""
    survey = factories.SurveyFactory(
        department=department, questions=[], **({"name": name} if name else {}), **fields
    )
    for position, kind in enumerate(kinds, start=1):
        factories.QuestionFactory(survey=survey, position=position, kind=kind, required=False)
    return survey


def request_for(survey: Survey, *, channel: str = "email") -> SendRequest:
    return factories.SendRequestFactory(
        department=survey.department, survey=survey, channel=channel, status="completed"
    )


def invitation(
    survey: Survey, sent_at: dt.datetime | None, *, channel: str = "email", **fields
) -> Invitation:
    """An invitation of its own request, sent at `sent_at` (None: queued, never sent)."""
    contact = factories.ContactFactory(name=f"Contact {next(_contacts)}")
    send_request = request_for(survey, channel=channel)
    return Invitation.objects.create(
        send_request=send_request,
        survey=survey,
        survey_family_id=survey.family_id,
        department=survey.department,
        survey_kind=survey.kind,
        contact=contact,
        channel=channel,
        status="sent" if sent_at else "queued",
        touched_at=sent_at or timezone.now(),
        sent_at=sent_at,
        **fields,
    )


def response(
    survey: Survey,
    submitted_at: dt.datetime,
    *scores: int | str | None,
    channel: str = "email",
    sent_at: dt.datetime | None = None,
) -> Response:
    """A response with one answer per question of the survey, in order (None: left unanswered).
    Its invitation was sent `sent_at` (default: a day before it was answered)."""
    invited = invitation(survey, sent_at or submitted_at - dt.timedelta(days=1), channel=channel)
    Invitation.objects.filter(pk=invited.pk).update(status="answered", responded_at=submitted_at)
    answered = Response.objects.create(
        invitation=invited,
        survey=survey,
        contact=invited.contact,
        department=survey.department,
        channel=channel,
        submitted_at=submitted_at,
    )
    for question, score in zip(survey.questions.order_by("position"), scores, strict=False):
        if score is None:
            continue
        if isinstance(score, str):
            Answer.objects.create(response=answered, question=question, value_text=score)
        else:
            Answer.objects.create(response=answered, question=question, value_number=score)
    return answered


def decisions(
    survey: Survey,
    decided_at: dt.datetime,
    *,
    allowed: int = 0,
    blocked: dict[str | FrequencyRule, int] | None = None,
) -> SendRequest:
    """One send request's decisions: `allowed` contacts let through, and per reason (or rule) a
    number of contacts refused."""
    send_request = request_for(survey)
    rows = [Decision(allowed=True, reason="") for _ in range(allowed)]
    for reason, count in (blocked or {}).items():
        if isinstance(reason, FrequencyRule):
            rows += [
                Decision(allowed=False, reason="rule", rule=reason, rule_version=1) for _ in range(count)
            ]
        else:
            rows += [Decision(allowed=False, reason=reason) for _ in range(count)]
    for row in rows:
        row.send_request = send_request
        row.contact = factories.ContactFactory(name=f"Contact {next(_contacts)}")
        row.decided_at = decided_at
        row.request_month = request_month_of(send_request.created_at)
    Decision.objects.bulk_create(rows)
    return send_request
