"""The pre-flight report: what submitting a request would do, now, for free — eligible, blocked by
which reason and rule, when blocks end, the best send time. Reads only; reserves and writes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from departments.actors import Actor
from surveys.delivery.planned_times import QuietHold, eligible_in_quiet_hours
from surveys.gatekeeper.active_rules import rules_active
from surveys.gatekeeper.audiences import audience_of
from surveys.gatekeeper.budgets import Hold, approval_hold
from surveys.gatekeeper.decisions import next_eligible_shown
from surveys.gatekeeper.screening import Outcome, screen
from surveys.gatekeeper.send_requests import planned_send_at, screening_send
from surveys.models import Approval, FrequencyRule, Reason, SendRequest


@dataclass(frozen=True)
class PreflightReport:
    planned_send_at: dt.datetime
    outcome: Outcome
    best_send_at: dt.datetime  # exact; preflight_summary shows it as the viewer may see it
    window_end: dt.datetime
    hold: Hold  # whether submitting would wait for a CX lead's approval, and the budget's use
    quiet: QuietHold  # eligible contacts whose invitation waits for the end of their quiet hours

    @property
    def audience_rows(self) -> int:
        return self.outcome.contacts + self.outcome.duplicates


def send_request_preflight(*, send_request: SendRequest, now: dt.datetime | None = None) -> PreflightReport:
    """What submitting would do, now. Reads only; reserves and writes nothing."""
    now = now or timezone.now()
    at = planned_send_at(send_request, now=now)
    window_end = send_request.latest_send_at or at
    send, rules, audience = screening_send(send_request, at=at), rules_active(), audience_of(send_request)
    outcome = screen(send=send, rules=rules, audience=audience, write=False, window_end=window_end)
    return PreflightReport(
        planned_send_at=at,
        outcome=outcome,
        best_send_at=_best_send_at(send_request, at, outcome),
        window_end=window_end,
        hold=approval_hold(
            send_request=send_request, audience=outcome.allowed + outcome.planned_total, at=at
        ),
        quiet=eligible_in_quiet_hours(
            send=send, rules=rules, audience=audience, department_id=send_request.department_id, at=at
        ),
    )


def _best_send_at(send_request: SendRequest, at: dt.datetime, outcome: Outcome) -> dt.datetime:
    """The earliest time in the request's window that reaches the most contacts.

    Time-based blocks that end inside the request's window are planned for their end, so starting
    now reaches as many contacts as any later start: the best time is later only when a block
    ending inside the window is not planned.
    """
    if outcome.last_block_end_in_window is None:
        return at
    return max(at, outcome.last_block_end_in_window)


def _best_send_at_shown(report: PreflightReport, viewer: Actor | None) -> dt.datetime:
    """The best send time as `viewer` may see it. Later than the planned time it is when the last
    block ends, perhaps another department's send plus a rule's window: rounded up to the hour like
    every next-eligible time a department sees, and never past the request's window."""
    best = report.best_send_at
    if best == report.planned_send_at:
        return best
    return min(next_eligible_shown(best, viewer=viewer), report.window_end)


# The order a pre-flight report lists blocks in; rule blocks, one per rule, go where "rule" is.
# Duplicate rows are not among them: they are audience rows, not contacts, so they have their own
# line and the blocks add up to the contacts not sent within the window (blocked_total).
PREFLIGHT_REASONS = (
    Reason.OPTED_OUT,
    Reason.SNOOZED,
    Reason.BLACKOUT,
    Reason.ALREADY_INVITED,
    Reason.RULE,
    Reason.NO_ADDRESS,
)


def preflight_summary(report: PreflightReport, *, viewer: Actor | None = None) -> dict[str, Any]:
    """A pre-flight report as the admin page and the API show it to `viewer`: counts per reason and
    per rule (by name), for time-based blocks how many become eligible in which week, and the best
    send time (to the hour unless the viewer is a CX lead; None reads as a department)."""
    outcome = report.outcome
    rule_names = dict(FrequencyRule.objects.filter(pk__in=outcome.blocked_by_rule).values_list("pk", "name"))
    weeks: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    for (reason, rule_id, week), count in sorted(outcome.eligible_again.items(), key=lambda item: item[0][2]):
        weeks.setdefault((reason, rule_id), []).append({"week": week, "count": count})
    blocks: list[dict[str, Any]] = []
    for reason in PREFLIGHT_REASONS:
        if reason == Reason.RULE:
            by_rule = sorted(outcome.blocked_by_rule.items(), key=lambda item: (-item[1], item[0]))
            blocks += [
                _block(reason, count, weeks.get((reason, rule_id), []), rule_id, rule_names.get(rule_id))
                for rule_id, count in by_rule
            ]
            continue
        blocks.append(_block(reason, outcome.blocked.get(reason, 0), weeks.get((reason, None), [])))
    return {
        "planned_send_at": report.planned_send_at,
        "best_send_at": _best_send_at_shown(report, viewer),
        "audience_rows": report.audience_rows,
        # audience_rows = duplicates + contacts; contacts = eligible_now + planned_later + blocked_total;
        # blocked_total = the sum of the blocks' counts.
        "duplicates": outcome.duplicates,
        "contacts": outcome.contacts,
        "eligible_now": outcome.allowed,
        # Of those, in their quiet hours at the planned time: sent when those end, by `quiet_until`.
        "quiet_hours_held": report.quiet.contacts,
        "quiet_hours_until": report.quiet.until,
        "quiet_hours_end_local": settings.QUIET_HOURS_END,
        # Blocked now, eligible inside the window: planned for then. By day (UTC), the day shown
        # no finer than the next-eligible times a department sees.
        "planned_later": outcome.planned_total,
        "planned_by_day": [{"day": day, "count": count} for day, count in sorted(outcome.planned.items())],
        "blocked_total": outcome.contacts - outcome.allowed - outcome.planned_total,
        "blocks": blocks,
        **hold_summary(report.hold),
    }


def hold_summary(hold: Hold) -> dict[str, Any]:
    """Whether submitting would wait for approval, and the department's budget in the month the
    request starts: used so far, left, and left once this request has its touches."""
    budget = hold.budget
    limited = budget.budget is not None
    return {
        "needs_approval": bool(hold.reasons),
        "approval_reasons": [
            {"reason": reason, "label": Approval.Reason(reason).label} for reason in hold.reasons
        ],
        "approval_threshold": hold.threshold,
        "budget": {
            "month": budget.month,
            "monthly": budget.budget,
            "used": budget.used if limited else None,
            "left": budget.left,
            "left_after": max(budget.budget - budget.used - hold.audience, 0) if limited else None,
        },
    }


def _block(
    reason: str,
    count: int,
    weeks: list[dict[str, Any]],
    rule_id: int | None = None,
    rule_name: str | None = None,
) -> dict[str, Any]:
    label = f"Rule “{rule_name}”" if rule_id is not None else Reason(reason).label
    return {
        "reason": reason,
        "label": label,
        "rule_id": rule_id,
        "rule_name": rule_name,
        "count": count,
        "eligible_again": weeks,
    }


def screening_summary_rows(send_request: SendRequest) -> list[tuple[str, int]]:
    """A screened request's stored counts as (label, count) rows, rules by name; [] before screening."""
    summary = send_request.screening_summary
    if not summary:
        return []
    rows = [
        ("Audience rows", summary.get("audience_rows", 0)),
        ("Contacts", summary.get("contacts", 0)),
        ("Allowed", summary.get("allowed", 0)),
        ("Planned for later in the window", summary.get("planned", 0)),
    ]
    blocked = dict(summary.get("blocked", {}))
    duplicates = blocked.pop(Reason.DUPLICATE_IN_AUDIENCE, 0)
    if duplicates:
        rows.insert(1, ("Duplicate rows (each contact counted once)", duplicates))
    rows.append(("Not within the window", sum(blocked.values())))
    by_rule = {int(rule_id): count for rule_id, count in summary.get("blocked_by_rule", {}).items()}
    names = dict(FrequencyRule.objects.filter(pk__in=by_rule).values_list("pk", "name"))
    for reason in PREFLIGHT_REASONS:
        if reason == Reason.RULE:
            rows += [(f"· Rule “{names.get(rule_id, rule_id)}”", count) for rule_id, count in by_rule.items()]
        elif blocked.get(reason):
            rows.append((f"· {Reason(reason).label}", blocked[reason]))
    return rows
