"""Approval of send requests held after screening (issue 15): a CX lead approves one (it becomes
screened, and delivery sends it as any other) or rejects it (it is cancelled through
`send_request_cancel`, which releases its queued invitations), with a comment; the request's creator
is told by email once the decision is committed. Which requests are held, and why:
surveys/gatekeeper/budgets.py."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from departments.actors import Actor
from surveys.errors import ApprovalForbidden, InvalidApproval, InvalidStatusTransition
from surveys.gatekeeper.send_requests import send_request_cancel, send_request_transition
from surveys.models import APPROVAL_COMMENT_MAX_LENGTH, Approval, SendRequest

Status = SendRequest.Status
State = Approval.State


def send_request_approve(
    *, send_request: SendRequest, actor: Actor, comment: str = "", now: dt.datetime | None = None
) -> SendRequest:
    """Let a request awaiting approval go: it becomes screened and is delivered; its creator is
    emailed after commit. Raises ApprovalForbidden (403) unless a CX lead, InvalidApproval (the
    comment), InvalidStatusTransition (409) unless the request is awaiting approval."""
    _require_cx_lead(actor)
    comment = _comment_clean(comment, required=False)
    now = now or timezone.now()
    _require_awaiting(send_request, to=Status.SCREENED)
    with transaction.atomic():
        send_request_transition(send_request=send_request, to=Status.SCREENED)
        _decide(send_request, state=State.APPROVED, actor=actor, comment=comment, now=now)
    return send_request


def send_request_reject(
    *, send_request: SendRequest, actor: Actor, comment: str, now: dt.datetime | None = None
) -> SendRequest:
    """Refuse a request awaiting approval: it is cancelled and its queued invitations released (they
    stop counting as touches); its creator is emailed the comment after commit. Raises
    ApprovalForbidden (403) unless a CX lead, InvalidApproval without a comment,
    InvalidStatusTransition (409) unless the request is awaiting approval."""
    _require_cx_lead(actor)
    comment = _comment_clean(comment, required=True)
    now = now or timezone.now()
    _require_awaiting(send_request, to=Status.CANCELLED)
    with transaction.atomic():
        send_request_cancel(send_request=send_request, actor=actor, now=now, as_seen=True)
        _decide(send_request, state=State.REJECTED, actor=actor, comment=comment, now=now)
    return send_request


def _require_cx_lead(actor: Actor) -> None:
    if not actor.is_cx_lead:
        raise ApprovalForbidden("Only a CX lead can approve or reject a send request.")


def _require_awaiting(send_request: SendRequest, *, to: str) -> None:
    """Only a request awaiting approval is approved or rejected: the transition map also lets a
    submitted request become screened, and the cancel path cancels any live one. The transition's
    conditional UPDATE then matches only "awaiting approval", so a request decided meanwhile (a
    stale copy here) is not decided again."""
    if send_request.status != Status.AWAITING_APPROVAL:
        raise InvalidStatusTransition(
            f"Only a send request awaiting approval can be decided; this one is {send_request.status}.",
            extra={"status": send_request.status, "to": to},
        )


def _comment_clean(comment: str | None, *, required: bool) -> str:
    comment = (comment or "").strip()
    if required and not comment:
        raise InvalidApproval(
            "comment: say why the request is rejected; its owner reads it.", extra={"field": "comment"}
        )
    if len(comment) > APPROVAL_COMMENT_MAX_LENGTH:
        raise InvalidApproval(
            f"comment: at most {APPROVAL_COMMENT_MAX_LENGTH} characters.", extra={"field": "comment"}
        )
    return comment


def _decide(send_request: SendRequest, *, state: str, actor: Actor, comment: str, now: dt.datetime) -> None:
    """Record the decision on the request's approval and tell its creator once committed."""
    Approval.objects.filter(send_request=send_request, state=State.PENDING).update(
        state=state, decided_by_id=actor.user_id, decided_at=now, comment=comment
    )
    approval = Approval.objects.select_related("decided_by").get(send_request=send_request)
    send_request.approval = approval
    _owner_tell(send_request, approval)


def _owner_tell(send_request: SendRequest, approval: Approval) -> None:
    """Email the request's creator the decision, after commit. A mail server that is down loses
    only the email: the decision and its comment stay on the request's page."""
    owner = send_request.created_by
    if owner is None or not owner.email:
        return
    subject, body = approval_message(send_request, approval)

    def send() -> None:
        send_mail(subject, body, None, [owner.email])

    transaction.on_commit(send, robust=True)


def approval_message(send_request: SendRequest, approval: Approval) -> tuple[str, str]:
    """The subject and text telling a request's owner what a CX lead decided."""
    survey = send_request.survey.name
    if approval.state == State.APPROVED:
        subject = f"Approved: your send request for “{survey}”"
        outcome = "was approved. Its invitations are sent as planned."
    else:
        subject = f"Rejected: your send request for “{survey}”"
        outcome = "was rejected and cancelled. Its reserved invitations were released; nothing was sent."
    who = approval.decided_by.get_full_name() or approval.decided_by.username if approval.decided_by else ""
    lines = [
        f"Your send request for “{survey}” ({send_request.department.name}) {outcome}",
        f"It waited for approval because: {'; '.join(approval.reason_labels()).lower()}.",
    ]
    if approval.comment:
        lines.append(f"Comment from the CX lead{f' {who}' if who else ''}: {approval.comment}")
    page = reverse("admin:surveys_sendrequest_preflight", args=[send_request.pk])
    lines.append(f"The request: {settings.SITE_URL}{page}")
    return subject, "\n\n".join(lines) + "\n"
