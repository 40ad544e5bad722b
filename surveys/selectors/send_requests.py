"""Reading send requests, their decisions and pre-flight reports, scoped to who asks.

Department owners and API keys see their departments' requests, a CX lead sees all; anything else
is "not found". Decisions come with their explanation (surveys/selectors/decisions.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from surveys.models import Decision, FrequencyRule, Reason, SendRequest
from surveys.selectors.decisions import decision_explain
from surveys.services.send_requests import PreflightReport

# The order a pre-flight report lists blocks in; rule blocks, one per rule, go where "rule" is.
PREFLIGHT_REASONS = (
    Reason.OPTED_OUT,
    Reason.SNOOZED,
    Reason.DUPLICATE_IN_AUDIENCE,
    Reason.ALREADY_INVITED,
    Reason.RULE,
    Reason.NO_ADDRESS,
)


def send_requests_visible(*, actor: Actor) -> QuerySet[SendRequest]:
    requests = SendRequest.objects.select_related("department", "survey")
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


def send_request_get(*, actor: Actor, send_request_id: int) -> SendRequest:
    """One send request; raises NotFound outside the actor's scope."""
    send_request = send_requests_visible(actor=actor).filter(pk=send_request_id).first()
    if send_request is None:
        raise NotFound(f"Send request {send_request_id} not found.")
    return send_request


def decision_list(
    *,
    actor: Actor,
    send_request: SendRequest,
    allowed: bool | None = None,
    reason: str | None = None,
    rule_id: int | None = None,
) -> QuerySet[Decision]:
    """The decisions of a request the actor may see, by contact; filter by verdict, reason or rule."""
    if not actor.sees_department(send_request.department_id):
        raise NotFound(f"Send request {send_request.pk} not found.")
    decisions = Decision.objects.filter(send_request=send_request).select_related(
        "send_request", "rule", "contact"
    )
    if allowed is not None:
        decisions = decisions.filter(allowed=allowed)
    if reason:
        decisions = decisions.filter(reason=reason)
    if rule_id is not None:
        decisions = decisions.filter(rule_id=rule_id)
    return decisions.order_by("contact_id")


def decisions_explained(decisions: Iterable[Decision], *, viewer: Actor) -> list[Decision]:
    """The decisions with `.explanation` set for `viewer`."""
    explained = list(decisions)
    for decision in explained:
        decision.explanation = decision_explain(decision, viewer=viewer)
    return explained


def preflight_summary(report: PreflightReport) -> dict[str, Any]:
    """A pre-flight report as the admin page and the API show it: counts per reason and per rule
    (by name), and for time-based blocks how many become eligible in which week."""
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
        count = (
            outcome.duplicates if reason == Reason.DUPLICATE_IN_AUDIENCE else outcome.blocked.get(reason, 0)
        )
        blocks.append(_block(reason, count, weeks.get((reason, None), [])))
    return {
        "planned_send_at": report.planned_send_at,
        "best_send_at": report.best_send_at,
        "audience_rows": report.audience_rows,
        "contacts": outcome.contacts,
        "eligible_now": outcome.allowed,
        "blocked_total": outcome.contacts - outcome.allowed,
        "blocks": blocks,
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
    ]
    blocked = summary.get("blocked", {})
    by_rule = {int(rule_id): count for rule_id, count in summary.get("blocked_by_rule", {}).items()}
    names = dict(FrequencyRule.objects.filter(pk__in=by_rule).values_list("pk", "name"))
    for reason in PREFLIGHT_REASONS:
        if reason == Reason.RULE:
            rows += [(f"Rule “{names.get(rule_id, rule_id)}”", count) for rule_id, count in by_rule.items()]
        elif blocked.get(reason):
            rows.append((Reason(reason).label, blocked[reason]))
    return rows
