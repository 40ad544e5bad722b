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
- Before the rules, in this order: a contact without an address on the channel, opted out,
  snoozed, in a blackout, or with an open invitation for the same survey is blocked for that
  reason. A snoozed contact's next eligible time is the first time after the snooze (and after any
  blackout) that the rules allow.
- Blackouts (an open complaint, ticket, outage or cancellation of the contact or of its account)
  block from their opening; an open one blocks with no known end, a closed one until it closed
  plus its tail. They come right after opt-outs and snoozes: a consent record is the customer's
  own word, a blackout the company's. The reason names the kind of the blackout blocking longest
  (an open one first; ties: the smallest id), never its content; the next eligible time is the
  first time after its end that the rules allow, like a snooze's. A blackout opened after the
  send's time is not seen by a decision at that time.
- Burden: a rule that `counts` "weight" counts minutes of surveys (each touch's `weight`, the
  survey's burden when it was reserved) instead of touches: a new touch of weight w is allowed
  when each window holding it holds at most max_touches minutes with it. A touch rule counts each
  touch as 1 and the send as 1, so it is the same as above. A send heavier than the rule allows
  on its own is blocked with no next eligible time.
- Accounts: a rule `per_account` counts the touches of every contact of the contact's account
  (`Touch.mate`), not only the contact's own.
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
    per_account: bool = False  # counts the touches of every contact of the contact's account
    counts: str = "touches"  # or "weight": max_touches is the most minutes of surveys

    def limit(self, send_weight: int) -> int:
        """A send is blocked at a moment whose window already holds this many counted units."""
        return self.max_touches if self.counts == "touches" else self.max_touches - send_weight + 1

    def units(self, weight: int) -> int:
        """What one touch of this weight counts for under the rule."""
        return weight if self.counts == "weight" else 1

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
    weight: int = 1  # the survey's burden in minutes, as reserved
    mate: bool = False  # a touch of another contact of the contact's account


@dataclass(frozen=True)
class Blackout:
    """A blackout covering the contact (its own or its account's): open while `ends_at` is None."""

    id: int
    kind: str
    opened_at: dt.datetime
    ends_at: dt.datetime | None


@dataclass(frozen=True)
class Send:
    """What is being asked: this department, a survey of this kind, on this channel, at this time."""

    department_id: int
    survey_kind: str
    channel: str
    at: dt.datetime
    weight: int = 1  # the survey's burden in minutes


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    rule_id: int | None = None
    rule_version: int | None = None
    next_eligible_at: dt.datetime | None = None
    last_touch_at: dt.datetime | None = None
    last_touch_same_department: bool | None = None
    blackout_kind: str = ""


ALLOWED = Verdict(allowed=True)
NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)  # a block with no end, where blocks are compared


@dataclass(frozen=True)
class Counted:
    """One rule's view of a contact: the touches it counts as (clock time, department, units),
    ascending, the end of a new contact's grace (None: none), and `limit`, the units a window may
    already hold before the send is blocked (Rule.limit; 0 or less: blocked for ever)."""

    rule: Rule
    touches: tuple[tuple[dt.datetime, int, int], ...]
    grace_end: dt.datetime | None
    limit: int

    @property
    def never(self) -> bool:
        """The send alone weighs more than the rule allows."""
        return self.limit <= 0

    def in_window(self, end: dt.datetime) -> int:
        """Units in the window (end − W, end]."""
        return sum(units for at, _, units in self.touches if end - self.rule.window < at <= end)

    def blocks(self, at: dt.datetime) -> bool:
        rule = self.rule
        if self.never or (self.grace_end is not None and at < self.grace_end):
            return True
        if self.in_window(at) >= self.limit:
            return True
        return any(
            at < later < at + rule.window and self.in_window(later) >= self.limit
            for later, _, _ in self.touches
        )

    def block_ends(self) -> list[dt.datetime]:
        """Where a block of this rule can end: a window after a touch, or the grace's end."""
        ends = [at + self.rule.window for at, _, _ in self.touches]
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
                (clock_time, touch.department_id, rule.units(touch.weight))
                for touch in touches
                if (rule.per_account or not touch.mate)
                and rule.covers(
                    department_id=touch.department_id, survey_kind=touch.survey_kind, channel=touch.channel
                )
                and (clock_time := _clock_time(rule, touch)) is not None
                # A touch a window or more before the send blocks nothing at or after it.
                and clock_time > send.at - rule.window
            )
        ),
        grace_end=contact_known_since + grace if grace is not None else None,
        limit=rule.limit(send.weight),
    )


def free_from(views: Sequence[Counted], start: dt.datetime | None) -> dt.datetime | None:
    """The earliest time from `start` at which none of the rules blocks (None: never, or no start)."""
    if start is None or any(view.never for view in views):
        return None
    candidates = sorted({start, *(at for view in views for at in view.block_ends() if at > start)})
    # The last candidate is always free: it is past every touch's window and every grace.
    return next(at for at in candidates if not any(view.blocks(at) for view in views))


def rule_verdict(view: Counted, *, send: Send) -> Verdict:
    """One rule's verdict at the send's time, its next eligible time as if it were the only rule."""
    if not view.blocks(send.at):
        return ALLOWED
    window = view.rule.window
    near = [
        (at, department) for at, department, _ in view.touches if send.at - window < at < send.at + window
    ]
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
    reason = max(blocking, key=lambda v: (v.next_eligible_at or NEVER, -v.rule_id))
    return replace(reason, next_eligible_at=free_from(views, send.at))


def planned_for(
    verdict: Verdict, *, window_end: dt.datetime, has_open_invitation: bool = False
) -> dt.datetime | None:
    """When a blocked contact is planned instead of refused: when a rule's block or a snooze ends,
    if that is by the end of the request's send window (`window_end`) and the contact has no open
    invitation for the survey (a snooze or blackout is decided before it). None: refused."""
    if has_open_invitation:
        return None
    if verdict.reason in ("rule", "snoozed", "blackout") and verdict.next_eligible_at is not None:
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
    blackouts: Sequence[Blackout] = (),
) -> Verdict:
    """The whole decision for one contact, reasons in order of precedence.

    (A contact named twice in an audience gets one decision; the extra rows are counted as
    `duplicate_in_audience` in the request's summary, see surveys/gatekeeper/screening.py.)
    """
    if not has_address:
        return Verdict(allowed=False, reason="no_address")
    if not consent.allowed and consent.until is None:  # an opt-out: no end
        return Verdict(allowed=False, reason=consent.reason)
    blackout = blackout_blocking(blackouts, at=send.at)
    if not consent.allowed or blackout is not None:
        # Snoozed or in a blackout: eligible again when both have ended and the rules allow.
        views = rules_views(rules, send=send, touches=touches, contact_known_since=contact_known_since)
        ends = [consent.until] if not consent.allowed else []
        if blackout is not None:
            ends.append(blackout.ends_at)  # None while open: no known end
        start = None if None in ends else max(ends)
        if not consent.allowed:
            return Verdict(allowed=False, reason=consent.reason, next_eligible_at=free_from(views, start))
        return Verdict(
            allowed=False,
            reason="blackout",
            next_eligible_at=free_from(views, start),
            blackout_kind=blackout.kind,
        )
    if has_open_invitation:
        return Verdict(allowed=False, reason="already_invited")
    return rules_verdict(rules, send=send, touches=touches, contact_known_since=contact_known_since)


def blackout_blocking(blackouts: Iterable[Blackout], *, at: dt.datetime) -> Blackout | None:
    """The blackout blocking at `at` that blocks longest: an open one first, then the latest end;
    ties go to the smallest id. None: none blocks."""
    blocking = [b for b in blackouts if b.opened_at <= at and (b.ends_at is None or at < b.ends_at)]
    if not blocking:
        return None
    return max(blocking, key=lambda b: (b.ends_at or NEVER, -b.id))
