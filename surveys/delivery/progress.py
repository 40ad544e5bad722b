"""A send request's delivery as its owner watches it: how many of its invitations are sent, being
sent, planned for later in the window, held for the contact's quiet hours, waiting for a sender,
failed or cancelled (each with its reasons). Reads only, in one grouped query over the request's
own invitations (the unique (send_request, contact) index), so it names nothing of any other
department."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Case, CharField, Count, Max, Q, Value, When
from django.utils import timezone

from surveys.models import Invitation, SendRequest

Status = Invitation.Status

# Handed to the channel: the person was reached (what happened after is the results' business).
SENT = (Status.SENT, Status.DELIVERED, Status.OPENED, Status.ANSWERED, Status.EXPIRED)
FAILED = (Status.FAILED, Status.BOUNCED)
# The request's delivery may still change: the page refreshes itself while it is in one of these.
LIVE_STATUSES = (
    SendRequest.Status.SUBMITTED,
    SendRequest.Status.SCREENED,
    SendRequest.Status.SENDING,
)

# The states shown, in the order an owner reads them; each with its label.
STATE_LABELS = {
    "sent": "Sent",
    "sending": "Being sent now",
    "queued": "Queued (reserved, not sent yet)",
    "held": "Held for quiet hours",
    "planned": "Planned for later in the window",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
WAITING_REASON = "Due now: waiting for a sender (it goes out within a minute or so)."


@dataclass
class Progress:
    """Counts per state (STATE_LABELS' keys), reasons per failed / cancelled / queued-with-a-reason
    invitation, and when the last quiet-hour hold ends."""

    total: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATE_LABELS, 0))
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)
    answered: int = 0
    held_until: dt.datetime | None = None

    @property
    def finished(self) -> int:
        """Invitations whose delivery is over: sent, failed or cancelled."""
        return self.counts["sent"] + self.counts["failed"] + self.counts["cancelled"]

    @property
    def pending(self) -> int:
        return self.total - self.finished

    @property
    def percent(self) -> int:
        """Finished as a whole percentage, rounded down: 100 only once nothing is pending."""
        return self.finished * 100 // self.total if self.total else 100

    def as_dict(self) -> dict:
        """As the API answers it (SendRequestProgressSerializer)."""
        return {
            "total": self.total,
            **self.counts,
            "answered": self.answered,
            "finished": self.finished,
            "percent": self.percent,
            "held_until": self.held_until,
            "reasons": [
                {"state": state, "reason": reason, "count": count}
                for state, by_reason in self.reasons.items()
                for reason, count in sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
            ],
        }


def send_request_progress(*, send_request: SendRequest, now: dt.datetime | None = None) -> Progress:
    """Where the request's invitations stand now. One query, grouped by state and reason."""
    now = now or timezone.now()
    state = Case(
        When(status__in=SENT, then=Value("sent")),
        When(status=Status.SENDING, then=Value("sending")),
        When(status__in=FAILED, then=Value("failed")),
        When(status=Status.CANCELLED, then=Value("cancelled")),
        When(send_after__gt=now, then=Value("held")),
        When(Q(send_after__isnull=True, touched_at__gt=now), then=Value("planned")),
        default=Value("queued"),
        output_field=CharField(),
    )
    rows = (
        Invitation.objects.filter(send_request=send_request)
        .annotate(state=state)
        .values("state", "failure_reason")
        .annotate(
            count=Count("pk"),
            answered=Count("pk", filter=Q(status=Status.ANSWERED)),
            until=Max("send_after"),
        )
        .order_by()
    )
    progress = Progress()
    awaiting_approval = send_request.status == SendRequest.Status.AWAITING_APPROVAL
    for row in rows:
        count, name = row["count"], row["state"]
        progress.total += count
        progress.counts[name] += count
        progress.answered += row["answered"]
        if name == "held":
            progress.held_until = max(filter(None, (progress.held_until, row["until"])))
        reason = _reason(name, row["failure_reason"], awaiting_approval=awaiting_approval)
        if reason:
            by_reason = progress.reasons.setdefault(name, {})
            by_reason[reason] = by_reason.get(reason, 0) + count
    return progress


APPROVAL_REASON = "Reserved: waiting for a CX lead's approval of the request."


def _reason(state: str, stored: str, *, awaiting_approval: bool) -> str:
    """The reason shown for a group of invitations: failed and cancelled ones their stored reason,
    queued ones why they have not gone yet (the request's approval, a retry's reason, or waiting
    for a sender)."""
    if state in ("failed", "cancelled"):
        return stored or "No reason recorded."
    if state == "queued" and awaiting_approval:
        return APPROVAL_REASON
    if state == "queued":
        return f"Retrying after: {stored}" if stored else WAITING_REASON
    if state == "held":
        return f"Sent from {settings.QUIET_HOURS_END} in the contact's own time zone."
    return ""


def invitation_hold(invitation: Invitation, *, now: dt.datetime | None = None) -> str:
    """Why a queued invitation has not gone out yet, in words ("" for any other): held for quiet
    hours until the contact's local end of them, planned for later, retrying, or waiting for a
    sender. The time shown for a hold is the end of quiet hours in the contact's own zone, so it
    says nothing about where the contact lives."""
    now = now or timezone.now()
    if invitation.status != Status.QUEUED:
        return ""
    if invitation.send_after is not None and invitation.send_after > now:
        return f"Held for quiet hours until {settings.QUIET_HOURS_END} local"
    if invitation.send_after is None and invitation.touched_at > now:
        return "Planned for later in the window"
    if invitation.failure_reason:
        return f"Retrying after: {invitation.failure_reason}"
    return "Due: waiting for a sender"


def send_request_progress_shown(*, send_request: SendRequest) -> dict | None:
    """The progress as the API answers it; None for a draft (nothing reserved yet)."""
    if send_request.status == SendRequest.Status.DRAFT:
        return None
    return send_request_progress(send_request=send_request).as_dict()
