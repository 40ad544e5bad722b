"""The gatekeeper's policy, pure: plain data in, a decision out. No ORM, no clock.

This is the meaning of the frequency rules; surveys/gatekeeper/screening.py applies the same meaning in bulk
SQL and is tested against this module on random histories.

Semantics (PRODUCT.md §3, §4):
- A rule allows at most `max_touches` counted touches of one contact in any window of length
  `window`. A new touch at time T is allowed when fewer than `max_touches` of the contact's touches
  in the rule's scope fall after T − window. Counting every later touch too (planned sends may lie
  in the future) keeps every window at or under the limit whatever order touches are decided in.
- When blocked, the contact becomes eligible when the max_touches-th most recent of those touches
  leaves the window: at that touch's time + window.
- The clock is the invitation time, or the response time (touches never answered do not count).
- A rule with `new_contact_grace` blocks contacts the sending department has known for less than
  that, until the grace ends (`contact_known_since`: when its own view of them began).
- Scope fields that are set must all match the send (department, survey kind, channel) and the
  touch alike. All active rules apply; the one whose block lasts longest is the reason given.
- Before the rules: a contact without an address on the channel, opted out or snoozed, or with an
  open invitation for the same survey is blocked for that reason.
- The explanation names the latest counted touch under the blocking rule and whether it was the
  asking department's own (any touch at that same time from it counts as its own), never its survey.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from contacts.consent import ConsentVerdict


@dataclass(frozen=True)
class Rule:
    id: int
    version: int
    max_touches: int
    window: dt.timedelta
    scope_department_id: int | None = None
    scope_survey_kind: str = ""
    scope_channel: str = ""
    clock: str = "invitation"  # or "response"
    new_contact_grace: dt.timedelta | None = None

    def covers(self, *, department_id: int, survey_kind: str, channel: str) -> bool:
        return (
            self.scope_department_id in (None, department_id)
            and self.scope_survey_kind in ("", survey_kind)
            and self.scope_channel in ("", channel)
        )


@dataclass(frozen=True)
class Touch:
    """A counted touch: an invitation that is not cancelled or failed."""

    touched_at: dt.datetime
    department_id: int
    survey_kind: str
    channel: str
    responded_at: dt.datetime | None = None


@dataclass(frozen=True)
class Send:
    """What is being asked: this department, a survey of this kind, on this channel, at this time."""

    department_id: int
    survey_kind: str
    channel: str
    at: dt.datetime


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    rule_id: int | None = None
    rule_version: int | None = None
    next_eligible_at: dt.datetime | None = None
    last_touch_at: dt.datetime | None = None
    last_touch_same_department: bool | None = None


ALLOWED = Verdict(allowed=True)


def rule_verdict(
    rule: Rule, *, send: Send, touches: Iterable[Touch], contact_known_since: dt.datetime
) -> Verdict:
    """One rule's verdict for one contact."""
    if not rule.covers(department_id=send.department_id, survey_kind=send.survey_kind, channel=send.channel):
        return ALLOWED
    blocked_until: list[dt.datetime] = []
    if rule.new_contact_grace is not None and send.at < contact_known_since + rule.new_contact_grace:
        blocked_until.append(contact_known_since + rule.new_contact_grace)

    counted = sorted(
        (
            (clock_time, touch)
            for touch in touches
            if rule.covers(
                department_id=touch.department_id, survey_kind=touch.survey_kind, channel=touch.channel
            )
            and (clock_time := _clock_time(rule, touch)) is not None
            and clock_time > send.at - rule.window
        ),
        key=lambda pair: pair[0],
        reverse=True,
    )
    last_touch_at = counted[0][0] if counted else None
    if len(counted) >= rule.max_touches:
        blocked_until.append(counted[rule.max_touches - 1][0] + rule.window)
    if not blocked_until:
        return ALLOWED
    return Verdict(
        allowed=False,
        reason="rule",
        rule_id=rule.id,
        rule_version=rule.version,
        next_eligible_at=max(blocked_until),
        last_touch_at=last_touch_at,
        last_touch_same_department=(
            any(touch.department_id == send.department_id for at, touch in counted if at == last_touch_at)
            if last_touch_at
            else None
        ),
    )


def rule_peak(rule: Rule, touches: Iterable[Touch]) -> int:
    """The most touches the rule counts in any one of its windows: above `max_touches` only when
    two records of one person were merged (each side was within the rule on its own)."""
    times = sorted(
        clock_time
        for touch in touches
        if rule.covers(
            department_id=touch.department_id, survey_kind=touch.survey_kind, channel=touch.channel
        )
        and (clock_time := _clock_time(rule, touch)) is not None
    )
    peak, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - rule.window:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def _clock_time(rule: Rule, touch: Touch) -> dt.datetime | None:
    return touch.responded_at if rule.clock == "response" else touch.touched_at


def rules_verdict(
    rules: Sequence[Rule], *, send: Send, touches: Sequence[Touch], contact_known_since: dt.datetime
) -> Verdict:
    """All rules together: blocked if any rule blocks; the longest block is the reason given."""
    blocking = [
        verdict
        for rule in rules
        if not (
            verdict := rule_verdict(rule, send=send, touches=touches, contact_known_since=contact_known_since)
        ).allowed
    ]
    if not blocking:
        return ALLOWED
    # Ties go to the rule with the smallest id, so the bulk SQL can name the same rule.
    return max(blocking, key=lambda v: (v.next_eligible_at, -v.rule_id))


def decide(
    rules: Sequence[Rule],
    *,
    send: Send,
    touches: Sequence[Touch],
    contact_known_since: dt.datetime,
    consent: ConsentVerdict,
    has_address: bool,
    has_open_invitation: bool,
) -> Verdict:
    """The whole decision for one contact, reasons in order of precedence.

    (A contact named twice in an audience gets one decision; the extra rows are counted as
    `duplicate_in_audience` in the request's summary, see surveys/gatekeeper/screening.py.)
    """
    if not has_address:
        return Verdict(allowed=False, reason="no_address")
    if not consent.allowed:
        return Verdict(allowed=False, reason=consent.reason, next_eligible_at=consent.until)
    if has_open_invitation:
        return Verdict(allowed=False, reason="already_invited")
    return rules_verdict(rules, send=send, touches=touches, contact_known_since=contact_known_since)
