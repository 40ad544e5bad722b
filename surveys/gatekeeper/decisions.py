"""Why the gatekeeper said what it said, in words a department owner can read.

Explanations are shown to the department that asked, so they may say *that* another department
contacted the person and when, but never which survey, which department or what was asked
(PRODUCT.md §4.4). Everything said here comes from the decision's own columns and its rule.

Times shown to a department are no finer than the hour (`next_eligible_shown`): an exact
next-eligible time is the exact time of another department's send plus a rule's window, and the
contacts sharing it are that send's audience. A CX lead sees exact times. What is stored stays
exact: the gatekeeper plans with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from surveys.models import Decision, Reason, SendRequest


def decision_list(
    *,
    actor: Actor,
    send_request: SendRequest,
    allowed: bool | None = None,
    reason: str | None = None,
    rule_id: int | None = None,
) -> QuerySet[Decision]:
    """The decisions of a request the actor may see; filter by verdict, reason or rule.

    In the order of the contacts' public ids: the contacts' primary keys would tell a department
    which of its contacts some other department knew first.
    """
    if not actor.sees_department(send_request.department_id):
        raise NotFound(f"Send request {send_request.public_id} not found.")
    decisions = Decision.objects.of_request(send_request).select_related("send_request", "rule", "contact")
    if allowed is not None:
        decisions = decisions.filter(allowed=allowed)
    if reason:
        decisions = decisions.filter(reason=reason)
    if rule_id is not None:
        decisions = decisions.filter(rule_id=rule_id)
    return decisions.order_by("contact__public_id")


def decisions_explained(decisions: Iterable[Decision], *, viewer: Actor) -> list[Decision]:
    """The decisions with `.explanation` and `.next_eligible_shown` set for `viewer`."""
    explained = list(decisions)
    for decision in explained:
        decision.explanation = decision_explain(decision, viewer=viewer)
        decision.next_eligible_shown = next_eligible_shown(decision.next_eligible_at, viewer=viewer)
    return explained


def hour_ceil(at: dt.datetime) -> dt.datetime:
    """`at` moved up to the next full hour (UTC); a time already on the hour stays."""
    at = at.astimezone(dt.UTC)
    hour = at.replace(minute=0, second=0, microsecond=0)
    return hour if hour == at else hour + dt.timedelta(hours=1)


def next_eligible_shown(at: dt.datetime | None, *, viewer: Actor | None) -> dt.datetime | None:
    """A next-eligible time as `viewer` may see it: exact for a CX lead; for anyone else (None: a
    viewer not known, read as a department) rounded up to the full hour, so it no longer tells
    which send of another department it comes from, nor when that send was."""
    if at is None or (viewer is not None and viewer.is_cx_lead):
        return at
    return hour_ceil(at)


CHANNEL_ADDRESS = {"email": "email address", "sms": "phone number"}


def decision_explain(decision: Decision, *, viewer: Actor, now: dt.datetime | None = None) -> str:
    """One or two sentences for a stored decision. `now` (default: when it was decided) anchors "ago".

    Reads decision.send_request and decision.rule: select_related them when explaining many.
    """
    reference = now or decision.decided_at
    if decision.override_id is not None:
        return "Allowed past a frequency rule by a CX lead's override."
    if decision.allowed and not decision.reason:
        return "Allowed."
    why = _blocked_explain(decision, viewer=viewer, reference=reference)
    if decision.allowed:
        # Planned: blocked at the send's time, eligible inside the request's window.
        planned = next_eligible_shown(decision.next_eligible_at, viewer=viewer)
        return f"Planned for {_moment(planned, reference)}, when nothing blocks it any more. {why}"
    return why


def _blocked_explain(decision: Decision, *, viewer: Actor, reference: dt.datetime) -> str:
    reason = decision.reason
    if reason == Reason.OPTED_OUT:
        return "Opted out."
    if reason == Reason.SNOOZED:
        until = next_eligible_shown(decision.next_eligible_at, viewer=viewer)
        return f"Snoozed until {_moment(until, reference)}." if until else "Snoozed."
    if reason == Reason.NO_ADDRESS:
        return f"No {CHANNEL_ADDRESS.get(decision.send_request.channel, 'address on this channel')}."
    if reason == Reason.ALREADY_INVITED:
        return "Already has an open invitation for this survey."
    if reason == Reason.DUPLICATE_IN_AUDIENCE:
        return "Listed more than once in the audience."
    if reason == Reason.RULE:
        return _rule_explain(decision, viewer=viewer, reference=reference)
    if reason == Reason.BLACKOUT:
        return _blackout_explain(decision, viewer=viewer, reference=reference)
    return f"Blocked ({reason})."


# A blackout as any department may read it: its kind, never what it is about or who opened it.
BLACKOUT_OPEN = {
    "complaint": "an open complaint",
    "ticket": "an open support ticket",
    "outage": "an ongoing outage",
    "cancellation": "a cancellation in progress",
}
BLACKOUT_CLOSED = {
    "complaint": "a recent complaint",
    "ticket": "a recent support ticket",
    "outage": "a recent outage",
    "cancellation": "a recent cancellation",
}


def _blackout_explain(decision: Decision, *, viewer: Actor, reference: dt.datetime) -> str:
    """'Blackout: an open complaint.' or 'Blackout: a recent complaint, until 14 May 2027.'"""
    until = next_eligible_shown(decision.next_eligible_at, viewer=viewer)
    if until is None:
        return f"Blackout: {BLACKOUT_OPEN.get(decision.blackout_kind, 'an open event')}."
    kind = BLACKOUT_CLOSED.get(decision.blackout_kind, "a recent event")
    return f"Blackout: {kind}, until {_moment(until, reference)}."


def _rule_explain(decision: Decision, *, viewer: Actor, reference: dt.datetime) -> str:
    rule_name = f"rule “{decision.rule.name}”" if decision.rule_id else "a frequency rule"
    until = next_eligible_shown(decision.next_eligible_at, viewer=viewer)
    eligible = f"; eligible from {_moment(until, reference)}." if until else "."
    touched = decision.last_touch_at
    if touched is None:
        # No touch in the window: the block is the rule's grace period for new contacts.
        grace = decision.rule.new_contact_grace if decision.rule_id else None
        waits = f" waits {_span(grace)} after a contact becomes known" if grace else ""
        return f"New contact: {rule_name}{waits}{eligible}"
    who = _who(decision, viewer)
    when = (
        f"Contacted{who} {_span(reference - touched)} ago"
        if touched <= reference
        else f"Survey already planned{who} in {_span(touched - reference)}"
    )
    return f"{when} ({rule_name}){eligible}"


def _who(decision: Decision, viewer: Actor) -> str:
    """By whom, without a name: the viewer's own department, or just "another department"."""
    same = decision.last_touch_same_department
    if same is None:
        return ""
    if not same:
        return " by another department"
    if decision.send_request.department_id in viewer.department_ids:
        return " by your department"
    return " by the requesting department"


def _span(delta: dt.timedelta) -> str:
    if delta >= dt.timedelta(days=1):
        days = delta.days
        return f"{days} day{'s' if days != 1 else ''}"
    if delta >= dt.timedelta(hours=1):
        hours = int(delta.total_seconds() // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return "less than an hour"


def _moment(at: dt.datetime, reference: dt.datetime) -> str:
    """'3 Jan 2027'; with the time of day when it is less than two days off, where a date says little."""
    local = timezone.localtime(at)
    day = f"{local.day} {local:%b %Y}"
    if abs(at - reference) < dt.timedelta(days=2):
        return f"{day}, {local:%H:%M} {local.tzname()}"
    return day
