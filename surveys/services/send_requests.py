"""Send requests: create, pre-flight, submit, screen, cancel — and single-contact triggers.

Every state change goes through `send_request_transition`, a conditional UPDATE on the allowed
transitions, so two callers racing on one request cannot both move it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from cxfeedback.exceptions import ApplicationError, Conflict
from departments.actors import Actor
from departments.models import Department
from surveys import screening
from surveys.models import Decision, Invitation, SendRequest, Survey
from surveys.selectors.rules import rules_active

Status = SendRequest.Status

TRANSITIONS: dict[str, set[str]] = {
    Status.DRAFT: {Status.SUBMITTED, Status.CANCELLED},
    Status.SUBMITTED: {Status.SCREENED, Status.CANCELLED},
    Status.SCREENED: {Status.SENDING, Status.COMPLETED, Status.CANCELLED},
    Status.SENDING: {Status.COMPLETED, Status.CANCELLED},
    Status.COMPLETED: set(),
    Status.CANCELLED: set(),
}


class InvalidStatusTransition(Conflict):
    code = "invalid_status_transition"


class SendWindowClosed(ApplicationError):
    code = "send_window_closed"


def send_request_transition(*, send_request: SendRequest, to: str, **fields) -> None:
    """Move a request to status `to` if it may go there from where it is now.

    Raises InvalidStatusTransition if the move is not allowed, or if another caller moved the
    request first (the UPDATE matches only the status this caller saw).
    """
    current = send_request.status
    if to not in TRANSITIONS[current]:
        raise InvalidStatusTransition(
            f"A {current} send request cannot become {to}.", extra={"status": current, "to": to}
        )
    updated = SendRequest.objects.filter(pk=send_request.pk, status=current).update(status=to, **fields)
    if not updated:
        send_request.refresh_from_db(fields=["status"])
        raise InvalidStatusTransition(
            f"The send request changed to {send_request.status} meanwhile.",
            extra={"status": send_request.status, "to": to},
        )
    send_request.status = to
    for name, value in fields.items():
        setattr(send_request, name, value)


def planned_send_at(send_request: SendRequest, *, now: dt.datetime) -> dt.datetime:
    """When the invitations of this request would go out: now, or the window's start if later."""
    if send_request.latest_send_at is not None and send_request.latest_send_at < now:
        raise SendWindowClosed(
            "The request's latest send time has passed.",
            extra={"latest_send_at": send_request.latest_send_at.isoformat()},
        )
    return max(now, send_request.earliest_send_at)


def screening_send(send_request: SendRequest, *, at: dt.datetime) -> screening.Send:
    survey = send_request.survey
    return screening.Send(
        send_request_id=send_request.pk,
        department_id=send_request.department_id,
        survey_id=survey.pk,
        survey_family_id=survey.family_id,
        survey_kind=survey.kind,
        channel=send_request.channel,
        at=at,
    )


def audience_of(send_request: SendRequest) -> screening.Audience:
    kind = send_request.audience_kind
    if kind in (SendRequest.AudienceKind.UPLOAD, SendRequest.AudienceKind.TRIGGER):
        return screening.Audience(send_request_id=send_request.pk)
    if kind == SendRequest.AudienceKind.FILTER:
        return screening.Audience(
            department_id=send_request.department_id, attributes=send_request.audience_filter or {}
        )
    return screening.Audience(department_id=send_request.department_id)


@dataclass(frozen=True)
class PreflightReport:
    planned_send_at: dt.datetime
    outcome: screening.Outcome
    best_send_at: dt.datetime

    @property
    def audience_rows(self) -> int:
        return self.outcome.contacts + self.outcome.duplicates


def send_request_preflight(*, send_request: SendRequest, now: dt.datetime | None = None) -> PreflightReport:
    """What submitting would do, now. Reads only; reserves and writes nothing."""
    now = now or timezone.now()
    at = planned_send_at(send_request, now=now)
    outcome = screening.screen(
        send=screening_send(send_request, at=at),
        rules=rules_active(),
        audience=audience_of(send_request),
        write=False,
        window_end=send_request.latest_send_at or at,
    )
    return PreflightReport(
        planned_send_at=at, outcome=outcome, best_send_at=_best_send_at(send_request, at, outcome)
    )


def _best_send_at(send_request: SendRequest, at: dt.datetime, outcome: screening.Outcome) -> dt.datetime:
    """The earliest time in the request's window that reaches the most contacts.

    Time-based blocks only ever end, so the most contacts are eligible at the window's end, and the
    earliest time reaching as many is when the last block ending inside the window ends.
    """
    if outcome.last_block_end_in_window is None:
        return at
    return max(at, outcome.last_block_end_in_window)


@transaction.atomic
def send_request_submit(
    *, send_request: SendRequest, actor: Actor, now: dt.datetime | None = None
) -> SendRequest:
    """Submit a draft: freeze its survey and queue the screening (after commit).

    Raises InvalidStatusTransition unless the request is a draft, SendWindowClosed if its window
    has passed.
    """
    now = now or timezone.now()
    planned_send_at(send_request, now=now)
    send_request_transition(send_request=send_request, to=Status.SUBMITTED, submitted_at=now)
    Survey.objects.filter(pk=send_request.survey_id, frozen_at__isnull=True).update(frozen_at=now)
    from surveys.tasks import screen_send_request_task

    screen_send_request_task.delay_on_commit(send_request.pk)
    return send_request


def send_request_screen(*, send_request_id: int, now: dt.datetime | None = None) -> SendRequest | None:
    """Decide every contact of a submitted request and queue invitations for the allowed ones.

    All or nothing in one transaction: a crash or a cut connection leaves the request submitted
    with no decision written, ready to be screened again. Returns None if the request is not
    (or no longer) waiting for screening, so a repeated task does nothing.
    """
    with transaction.atomic():
        send_request = (
            SendRequest.objects.select_for_update()
            .select_related("survey")
            .filter(pk=send_request_id)
            .first()
        )
        if send_request is None or send_request.status != Status.SUBMITTED:
            return None
        now = now or timezone.now()
        at = max(now, send_request.earliest_send_at)
        screening.lock_contacts(None)
        outcome = screening.screen(
            send=screening_send(send_request, at=at),
            rules=rules_active(),
            audience=audience_of(send_request),
            write=True,
        )
        send_request_transition(
            send_request=send_request,
            to=Status.SCREENED,
            screened_at=timezone.now(),
            screening_summary=outcome_summary(outcome),
        )
    return send_request


def outcome_summary(outcome: screening.Outcome) -> dict:
    blocked = dict(outcome.blocked)
    if outcome.duplicates:
        blocked["duplicate_in_audience"] = outcome.duplicates
    return {
        "audience_rows": outcome.contacts + outcome.duplicates,
        "contacts": outcome.contacts,
        "allowed": outcome.allowed,
        "blocked": blocked,
        "blocked_by_rule": {str(rule_id): count for rule_id, count in outcome.blocked_by_rule.items()},
    }


@transaction.atomic
def send_request_cancel(
    *, send_request: SendRequest, actor: Actor, now: dt.datetime | None = None
) -> SendRequest:
    """Cancel a request and its invitations not yet sent (they stop counting as touches).

    Raises InvalidStatusTransition if the request is completed or cancelled already.
    """
    now = now or timezone.now()
    send_request_transition(send_request=send_request, to=Status.CANCELLED, cancelled_at=now)
    Invitation.objects.filter(send_request=send_request, status=Invitation.Status.QUEUED).update(
        status=Invitation.Status.CANCELLED, updated_at=now
    )
    return send_request


@dataclass(frozen=True)
class TriggerResult:
    send_request: SendRequest
    decision: Decision
    invitation: Invitation | None


def trigger_send(
    *,
    department: Department,
    survey: Survey,
    channel: str,
    contact_id: int,
    purpose: str = "",
    now: dt.datetime | None = None,
) -> TriggerResult:
    """Ask the gatekeeper to send one survey to one contact now, as a single-contact request.

    Writes the request, its decision and (if allowed) a queued invitation in one transaction,
    under the contact's lock. A blocked contact is an outcome (the decision), not an error.
    """
    now = now or timezone.now()
    with transaction.atomic():
        send_request = SendRequest.objects.create(
            department=department,
            survey=survey,
            channel=channel,
            audience_kind=SendRequest.AudienceKind.TRIGGER,
            earliest_send_at=now,
            purpose=purpose,
            status=Status.SCREENED,
            submitted_at=now,
            screened_at=now,
        )
        send_request.survey = survey
        screening.lock_contacts([contact_id])
        outcome = screening.screen(
            send=screening_send(send_request, at=now),
            rules=rules_active(),
            audience=screening.Audience(contact_ids=[contact_id]),
            write=True,
        )
        SendRequest.objects.filter(pk=send_request.pk).update(screening_summary=outcome_summary(outcome))
        if survey.frozen_at is None:
            Survey.objects.filter(pk=survey.pk, frozen_at__isnull=True).update(frozen_at=now)
        decision = Decision.objects.get(send_request=send_request, contact_id=contact_id)
        invitation = Invitation.objects.filter(send_request=send_request, contact_id=contact_id).first()
    return TriggerResult(send_request=send_request, decision=decision, invitation=invitation)
