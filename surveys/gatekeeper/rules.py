"""The gatekeeper's policy, pure: plain data in, a decision out. No ORM, no clock.

This is the meaning of the frequency rules; surveys/gatekeeper/screening.py applies the same meaning in bulk
SQL and is tested against this module on random histories.

Semantics (PRODUCT.md §3, §4):
- A rule allows at most `max_touches` (N) counted touches of one contact in any window of length
  `window` (W). A new touch at T is allowed when every window of length W that holds T holds at
  most N touches with it: touches before and after T alike, so a send planned for later blocks only
  within one window of it. Windows are half-open, (x − W, x]. That comes to two conditions:
  fewer than N touches in (T − W, T], and no later touch x in (T, T + W) whose own window
  (x − W, x] already holds N ("a full touch"); a touch's fullness does not depend on T.
- The next eligible time is the earliest time from a start (the send's time, or the end of a
  snooze) at which no rule blocks. It is that start or the end of some touch's window (t + W) or of
  a grace: the blocked times of a rule are the intervals [t_{j+N−1}, t_j + W) and, around a full
  touch x, (x − W, x), whose end x is itself blocked. So the next eligible time may be a gap
  between two planned sends.
- The clock is the invitation time, or the response time (touches never answered do not count).
- A rule with `new_contact_grace` blocks contacts the sending department has known for less than
  that, until the grace ends (`contact_known_since`: when its own view of them began).
- Scope fields that are set must all match the send (department, survey kind, channel) and the
  touch alike. All active rules apply; of those blocking at the send's time, the one that would
  block longest on its own is the reason given (ties: the smallest id), and the next eligible time
  is when all of them, together, allow the send.
- Before the rules: a contact without an address on the channel, opted out or snoozed, or with an
  open invitation for the same survey is blocked for that reason. A snoozed contact's next eligible
  time is the first time after the snooze that the rules allow.
- The explanation names the latest counted touch within one window of the send (before or after
  it) under the blocking rule, and whether it was the asking department's own (any touch at that
  same time from it counts as its own), never its survey.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class Counted:
    """One rule's view of a contact: the touches it counts as (clock time, department), ascending,
    and the end of a new contact's grace (None: none)."""

    rule: Rule
    touches: tuple[tuple[dt.datetime, int], ...]
    grace_end: dt.datetime | None

    def in_window(self, end: dt.datetime) -> int:
        """Touches in the window (end − W, end]."""
        return sum(end - self.rule.window < at <= end for at, _ in self.touches)

    def blocks(self, at: dt.datetime) -> bool:
        rule = self.rule
        if self.grace_end is not None and at < self.grace_end:
            return True
        if self.in_window(at) >= rule.max_touches:
            return True
        return any(
            at < later < at + rule.window and self.in_window(later) >= rule.max_touches
            for later, _ in self.touches
        )

    def block_ends(self) -> list[dt.datetime]:
        """Where a block of this rule can end: a window after a touch, or the grace's end."""
        ends = [at + self.rule.window for at, _ in self.touches]
        return [*ends, self.grace_end] if self.grace_end is not None else ends


def counted_by(
    rule: Rule, *, send: Send, touches: Iterable[Touch], contact_known_since: dt.datetime
) -> Counted:
    """What `rule` counts of a contact's touches for `send` (it covers the send)."""
    grace = rule.new_contact_grace
    return Counted(
        rule=rule,
        touches=tuple(
            sorted(
                (clock_time, touch.department_id)
                for touch in touches
                if rule.covers(
                    department_id=touch.department_id, survey_kind=touch.survey_kind, channel=touch.channel
                )
                and (clock_time := _clock_time(rule, touch)) is not None
                # A touch a window or more before the send blocks nothing at or after it.
                and clock_time > send.at - rule.window
            )
        ),
        grace_end=contact_known_since + grace if grace is not None else None,
    )


def free_from(views: Sequence[Counted], start: dt.datetime) -> dt.datetime:
    """The earliest time from `start` at which none of the rules blocks."""
    candidates = sorted({start, *(at for view in views for at in view.block_ends() if at > start)})
    # The last candidate is always free: it is past every touch's window and every grace.
    return next(at for at in candidates if not any(view.blocks(at) for view in views))


def rule_verdict(view: Counted, *, send: Send) -> Verdict:
    """One rule's verdict at the send's time, its next eligible time as if it were the only rule."""
    if not view.blocks(send.at):
        return ALLOWED
    window = view.rule.window
    near = [(at, department) for at, department in view.touches if send.at - window < at < send.at + window]
    last_touch_at = max((at for at, _ in near), default=None)
    return Verdict(
        allowed=False,
        reason="rule",
        rule_id=view.rule.id,
        rule_version=view.rule.version,
        next_eligible_at=free_from([view], send.at),
        last_touch_at=last_touch_at,
        last_touch_same_department=(
            any(at == last_touch_at and department == send.department_id for at, department in near)
            if last_touch_at is not None
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


def rules_views(
    rules: Sequence[Rule], *, send: Send, touches: Sequence[Touch], contact_known_since: dt.datetime
) -> list[Counted]:
    """The views of the rules that cover the send."""
    return [
        counted_by(rule, send=send, touches=touches, contact_known_since=contact_known_since)
        for rule in rules
        if rule.covers(department_id=send.department_id, survey_kind=send.survey_kind, channel=send.channel)
    ]


def rules_verdict(
    rules: Sequence[Rule], *, send: Send, touches: Sequence[Touch], contact_known_since: dt.datetime
) -> Verdict:
    """All rules together: blocked if any rule blocks at the send's time. The reason given is the
    rule that would block longest on its own; the next eligible time is when all rules allow."""
    views = rules_views(rules, send=send, touches=touches, contact_known_since=contact_known_since)
    blocking = [verdict for view in views if not (verdict := rule_verdict(view, send=send)).allowed]
    if not blocking:
        return ALLOWED
    # Ties go to the rule with the smallest id, so the bulk SQL can name the same rule.
    reason = max(blocking, key=lambda v: (v.next_eligible_at, -v.rule_id))
    return replace(reason, next_eligible_at=free_from(views, send.at))


def planned_for(
    verdict: Verdict, *, window_end: dt.datetime, has_open_invitation: bool = False
) -> dt.datetime | None:
    """When a blocked contact is planned instead of refused: when a rule's block or a snooze ends,
    if that is by the end of the request's send window (`window_end`) and the contact has no open
    invitation for the survey (a snooze is decided before it). None: refused."""
    if has_open_invitation:
        return None
    if verdict.reason in ("rule", "snoozed") and verdict.next_eligible_at is not None:
        return verdict.next_eligible_at if verdict.next_eligible_at <= window_end else None
    return None


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
        if consent.until is None:  # an opt-out: no end
            return Verdict(allowed=False, reason=consent.reason)
        # Snoozed: eligible again when the snooze has ended and the rules allow.
        views = rules_views(rules, send=send, touches=touches, contact_known_since=contact_known_since)
        return Verdict(allowed=False, reason=consent.reason, next_eligible_at=free_from(views, consent.until))
    if has_open_invitation:
        return Verdict(allowed=False, reason="already_invited")
    return rules_verdict(rules, send=send, touches=touches, contact_known_since=contact_known_since)
