"""Send requests: create, pre-flight, submit, screen, cancel — and single-contact triggers.

Every state change goes through `send_request_transition`, a conditional UPDATE on the allowed
transitions, so two callers racing on one request cannot both move it.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from cxfeedback.exceptions import NotFound
from cxfeedback.publish import publish_on_commit
from departments.actors import Actor
from departments.models import Department
from surveys.delivery.invitation_status import invitations_cancel_queued
from surveys.errors import InvalidSendRequest, InvalidStatusTransition, SendWindowClosed
from surveys.gatekeeper import locks
from surveys.gatekeeper.active_rules import rules_active
from surveys.gatekeeper.audience_uploads import audience_upload_finished_check
from surveys.gatekeeper.audiences import audience_filter_check
from surveys.gatekeeper.budgets import approval_hold
from surveys.gatekeeper.displacement import slots_take
from surveys.gatekeeper.lookups import channel_check, survey_sendable_check
from surveys.gatekeeper.overrides import overrides_apply
from surveys.gatekeeper.screening import Outcome
from surveys.gatekeeper.screening_batches import (
    SCREENING_SILENT_AFTER,
    outcome_from_summary,
    outcome_summary,
    screening_batch_run,
    screening_batch_size,
    screening_request_lock,
    screening_send,
)
from surveys.models import PURPOSE_MAX_LENGTH, Approval, SendRequest, Survey

Status = SendRequest.Status


TRANSITIONS: dict[str, set[str]] = {
    Status.DRAFT: {Status.SUBMITTED, Status.CANCELLED},
    # Screened, or held for a CX lead (surveys/gatekeeper/budgets.py) with its invitations reserved.
    Status.SUBMITTED: {Status.SCREENED, Status.AWAITING_APPROVAL, Status.CANCELLED},
    # Approved: screened, delivered as any other. Rejected (or cancelled by its owner): cancelled.
    Status.AWAITING_APPROVAL: {Status.SCREENED, Status.CANCELLED},
    Status.SCREENED: {Status.SENDING, Status.COMPLETED, Status.CANCELLED},
    Status.SENDING: {Status.COMPLETED, Status.CANCELLED},
    Status.COMPLETED: set(),
    Status.CANCELLED: set(),
}


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


@transaction.atomic
def send_request_submit(
    *, send_request: SendRequest, actor: Actor, now: dt.datetime | None = None
) -> SendRequest:
    """Submit a draft: freeze its survey and queue the screening (after commit).

    Raises InvalidStatusTransition unless the request is a draft, SendWindowClosed if its window
    has passed, AudienceUploadUnfinished while its audience list is uploading (or after the
    upload stopped part-way).
    """
    now = now or timezone.now()
    planned_send_at(send_request, now=now)
    audience_upload_finished_check(send_request)
    send_request_transition(send_request=send_request, to=Status.SUBMITTED, submitted_at=now)
    Survey.objects.filter(pk=send_request.survey_id, frozen_at__isnull=True).update(frozen_at=now)
    from surveys.tasks import screen_send_request_task

    publish_on_commit(screen_send_request_task, send_request.pk)
    return send_request


def send_request_screen(*, send_request_id: int, now: dt.datetime | None = None) -> SendRequest | None:
    """Decide every contact of a submitted request and queue invitations for the allowed ones.

    Batch by batch, each committed with the request's progress (surveys/gatekeeper/screening_batches.py),
    then the request-wide last step. A crash or a cut connection loses only the batch running; run
    again, the screening carries on after the last committed one. Returns None if the request is
    not (or no longer) waiting for screening, so a repeated task does nothing, and a request
    cancelled meanwhile stops after the batch running. Each batch is sized by the pace of the one
    before (screening_batch_size).
    """
    size = screening_batch_size()
    while True:
        started = time.monotonic()
        decided = screening_batch_run(send_request_id=send_request_id, now=now, size=size)
        if decided is None:
            return None
        if decided:
            break
        size = screening_batch_size(size, seconds=time.monotonic() - started)
    return _screening_finish(send_request_id=send_request_id, now=now)


def _screening_finish(*, send_request_id: int, now: dt.datetime | None) -> SendRequest | None:
    """The request-wide last step, once every contact is decided: priority arbitration and overrides
    (each reads all the request's refused decisions), then screened or held for approval. Under
    every stripe, as the whole screening once was: the budget's count then sees every other
    screening's and trigger's invitations, and no decider changes a contact's touches meanwhile."""
    with transaction.atomic():
        send_request = screening_request_lock(send_request_id)
        if send_request is None:
            return None
        now = now or timezone.now()
        at = max(now, send_request.earliest_send_at)
        locks.lock_contacts(None)
        send, rules = screening_send(send_request, at=at), rules_active()
        outcome = outcome_from_summary(send_request.screening_summary)
        outcome.took_from(slots_take(send_request, send=send, rules=rules))
        overrides_apply(send_request, send=send, rules=rules, outcome=outcome)
        _screened(send_request, outcome=outcome, at=at)
    return send_request


def _screened(send_request: SendRequest, *, outcome: Outcome, at: dt.datetime) -> None:
    """Move a request just screened on: to screened, or to awaiting approval (its invitations stay
    queued, and dispatch takes only screened and sending requests) when it is too large or past
    its department's budget. Runs under every contact stripe, after the invitations are written:
    the budget's count sees every other screening's and trigger's, so two requests cannot both
    spend the last of it."""
    hold = approval_hold(
        send_request=send_request, audience=outcome.allowed + outcome.planned_total, at=at, written=True
    )
    send_request_transition(
        send_request=send_request,
        to=Status.AWAITING_APPROVAL if hold.reasons else Status.SCREENED,
        screened_at=timezone.now(),
        screening_summary=outcome_summary(outcome),
    )
    if hold.reasons:
        Approval.objects.create(
            send_request=send_request,
            reasons=hold.reasons,
            audience=hold.audience,
            threshold=hold.threshold,
            budget=hold.budget.budget,
            budget_used=hold.budget.used if hold.budget.budget is not None else None,
            budget_month=hold.budget.month if hold.budget.budget is not None else None,
            requested_at=send_request.screened_at,
        )


def send_requests_screen_again(*, now: dt.datetime | None = None) -> list[int]:
    """Queue the screening again of requests submitted more than DELIVERY_HANDOFF_LEASE ago and still
    waiting for it, with no batch committed for SCREENING_SILENT_AFTER: their task was lost (the broker
    was down at submit, or a worker died holding a message of a broker without acknowledgements, or
    died mid-screening). The screening carries on after its last committed batch; a repeated one does
    nothing. Returns their ids.
    """
    now = now or timezone.now()
    silent = now - SCREENING_SILENT_AFTER
    waiting = SendRequest.objects.filter(
        Q(screening_progress_at__isnull=True) | Q(screening_progress_at__lt=silent),
        status=Status.SUBMITTED,
        submitted_at__lt=now - dt.timedelta(seconds=settings.DELIVERY_HANDOFF_LEASE),
    ).values_list("pk", flat=True)
    from surveys.tasks import screen_send_request_task

    ids = list(waiting)
    for send_request_id in ids:
        screen_send_request_task.delay(send_request_id)
    return ids


@transaction.atomic
def send_request_cancel(
    *, send_request: SendRequest, actor: Actor, now: dt.datetime | None = None, as_seen: bool = False
) -> SendRequest:
    """Cancel a request and its invitations not yet sent (they stop counting as touches), together.
    A cancel during a screening waits for the batch running, then goes before the next one; one
    that waited for the screening's last step cancels the request as that step left it (screened,
    or held for approval). `as_seen`: only from the status `send_request` had when read (a CX lead's
    reject must not cancel a request another one approved meanwhile).

    Raises InvalidStatusTransition if the request is completed or cancelled already (or, `as_seen`,
    moved on).
    """
    locks.lock_send_request(send_request.pk, exclusive=True)
    if not as_seen:
        # Read again under its row's lock, so that nothing moves it on before the cancel (lock order 3).
        send_request.refresh_from_db(from_queryset=SendRequest.objects.select_for_update(of=("self",)))
    now = now or timezone.now()
    send_request_transition(send_request=send_request, to=Status.CANCELLED, cancelled_at=now)
    invitations_cancel_queued(send_request_id=send_request.pk, now=now)
    return send_request


def send_request_create(
    *,
    actor: Actor,
    department: Department,
    survey: Survey,
    channel: str,
    audience_kind: str,
    audience_filter: dict | None = None,
    earliest_send_at: dt.datetime | None = None,
    latest_send_at: dt.datetime | None = None,
    priority: int = 5,
    purpose: str = "",
    now: dt.datetime | None = None,
) -> SendRequest:
    """Create a draft send request; nothing is reserved until it is submitted.

    Raises NotFound (not the actor's department) and InvalidSendRequest naming the field.
    """
    if not actor.sees_department(department.pk):
        raise NotFound("No such department.")
    now = now or timezone.now()
    _survey_check(survey, department=department)
    channel_check(channel)
    audience_filter = audience_filter_check(audience_kind, audience_filter)
    earliest_send_at = earliest_send_at or now
    if latest_send_at is not None and latest_send_at < earliest_send_at:
        raise InvalidSendRequest.on_field("latest_send_at", "must not be before earliest_send_at.")
    if latest_send_at is not None and latest_send_at <= now:
        raise InvalidSendRequest.on_field("latest_send_at", "is in the past: nothing could be sent any more.")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 10:
        raise InvalidSendRequest.on_field("priority", "must be a whole number from 0 to 10.")
    purpose = purpose_clean(purpose)
    return SendRequest.objects.create(
        department=department,
        survey=survey,
        channel=channel,
        audience_kind=audience_kind,
        audience_filter=audience_filter,
        earliest_send_at=earliest_send_at,
        latest_send_at=latest_send_at,
        priority=priority,
        purpose=purpose,
        created_by_id=actor.user_id,
        created_at=now,
    )


def _survey_check(survey: Survey, *, department: Department) -> None:
    if survey.department_id != department.pk:
        raise InvalidSendRequest.on_field("survey", "is not a survey of this department.")
    survey_sendable_check(survey)


def purpose_clean(purpose: str | None) -> str:
    """The purpose to store, trimmed. Raises InvalidSendRequest if it is too long."""
    purpose = (purpose or "").strip()
    if len(purpose) > PURPOSE_MAX_LENGTH:
        raise InvalidSendRequest.on_field("purpose", f"at most {PURPOSE_MAX_LENGTH} characters.")
    return purpose


def send_requests_visible(*, actor: Actor) -> QuerySet[SendRequest]:
    requests = SendRequest.objects.select_related("department", "survey", "approval__decided_by")
    if actor.is_cx_lead:
        return requests
    return requests.filter(department_id__in=actor.department_ids)


def send_request_list(
    *,
    actor: Actor,
    status: str | None = None,
    department_id: int | None = None,
    survey_id: int | None = None,
) -> QuerySet[SendRequest]:
    """The actor's send requests, newest first, optionally by status, department or survey."""
    requests = send_requests_visible(actor=actor)
    if status:
        requests = requests.filter(status=status)
    if department_id is not None:
        requests = requests.filter(department_id=department_id)
    if survey_id is not None:
        requests = requests.filter(survey_id=survey_id)
    return requests.order_by("-created_at", "-pk")


def send_request_get(*, actor: Actor, public_id: uuid.UUID) -> SendRequest:
    """One send request, by the id the API shows (`public_id`); raises NotFound outside the actor's
    scope, the same as for a request that does not exist."""
    send_request = send_requests_visible(actor=actor).filter(public_id=public_id).first()
    if send_request is None:
        raise NotFound(f"Send request {public_id} not found.")
    return send_request
