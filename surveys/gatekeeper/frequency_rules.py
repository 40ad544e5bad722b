"""Writing frequency rules: data that CX leads edit, never code (PRODUCT.md §3).

Every change is kept: the rule's `version` goes up by one and a FrequencyRuleVersion stores a
snapshot of the rule as it now reads and who changed it. Decisions name the rule and version that
made them, so a decision can always be explained by the rule as it was then.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from audit.models import AuditEntry
from audit.services import audit_record
from contacts.models import Channel
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department
from surveys.errors import InvalidFrequencyRule, RuleChangeForbidden
from surveys.models import (
    RULE_EDITABLE_FIELDS,
    FrequencyRule,
    FrequencyRuleVersion,
    RuleClock,
    RuleCounts,
    SurveyKind,
)

# The fields as a message names them ("the window must be longer than zero").
FIELD_WORDS = {"window": "window", "new_contact_grace": "new contact grace"}

# Windows longer than this are almost certainly a typo (days entered as hours, or the reverse).
MAX_WINDOW = dt.timedelta(days=3 * 366)


def _require_cx_lead(actor: Actor) -> None:
    if not actor.is_cx_lead:
        raise RuleChangeForbidden("Only a CX lead can change frequency rules.")


def _invalid(field: str, problem: str) -> InvalidFrequencyRule:
    return InvalidFrequencyRule(f"{field}: {problem}", extra={"field": field})


def _fields_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The given rule fields, checked. Raises InvalidFrequencyRule naming the field."""
    cleaned = dict(fields)
    if "name" in cleaned:
        cleaned["name"] = (cleaned["name"] or "").strip()
        if not cleaned["name"] or len(cleaned["name"]) > 200:
            raise _invalid("name", "a rule needs a name of at most 200 characters.")
    touches = cleaned.get("max_touches")
    if "max_touches" in cleaned and (
        isinstance(touches, bool) or not isinstance(touches, int) or touches < 1
    ):
        raise _invalid("max_touches", "must be a whole number of at least 1.")
    for field in ("window", "new_contact_grace"):
        value = cleaned.get(field)
        if value is None and field == "new_contact_grace":
            continue
        if field in cleaned and not isinstance(value, dt.timedelta):
            raise _invalid(field, "must be a duration, such as 30 days or 12 hours.")
        if field in cleaned and value <= dt.timedelta(0):
            raise _invalid(field, f"the {FIELD_WORDS[field]} must be longer than zero.")
        if field in cleaned and value > MAX_WINDOW:
            raise _invalid(field, f"must be at most {MAX_WINDOW.days} days.")
    if "scope_department" in cleaned and not isinstance(cleaned["scope_department"], Department | None):
        raise _invalid("scope_department", "must be a department or empty.")
    choices = {"scope_survey_kind": SurveyKind.values, "scope_channel": Channel.values}
    for field, allowed in choices.items():
        if field in cleaned and (cleaned[field] or "") not in ("", *allowed):
            raise _invalid(field, f"must be empty (any) or one of {', '.join(allowed)}.")
        if field in cleaned:
            cleaned[field] = cleaned[field] or ""
    if "clock" in cleaned and cleaned["clock"] not in RuleClock.values:
        raise _invalid("clock", f"must be one of {', '.join(RuleClock.values)}.")
    for field in ("is_active", "per_account"):
        if field in cleaned and not isinstance(cleaned[field], bool):
            raise _invalid(field, "must be true or false.")
    if "counts" in cleaned and cleaned["counts"] not in RuleCounts.values:
        raise _invalid("counts", f"must be one of {', '.join(RuleCounts.values)}.")
    return cleaned


def rule_snapshot(rule: FrequencyRule) -> dict[str, Any]:
    """The rule as plain JSON: what a FrequencyRuleVersion keeps. Durations in seconds."""
    grace = rule.new_contact_grace
    return {
        "name": rule.name,
        "is_active": rule.is_active,
        "max_touches": rule.max_touches,
        "window_seconds": int(rule.window.total_seconds()),
        "scope_department_id": rule.scope_department_id,
        "scope_survey_kind": rule.scope_survey_kind,
        "scope_channel": rule.scope_channel,
        "clock": rule.clock,
        "new_contact_grace_seconds": int(grace.total_seconds()) if grace is not None else None,
        "per_account": rule.per_account,
        "counts": rule.counts,
    }


def _version_write(rule: FrequencyRule, actor: Actor, changed: list[str]) -> None:
    snapshot = rule_snapshot(rule)
    FrequencyRuleVersion.objects.create(
        rule=rule, version=rule.version, snapshot=snapshot, changed_by_id=actor.user_id
    )
    created = rule.version == 1
    audit_record(
        action=AuditEntry.Action.RULE_CREATED if created else AuditEntry.Action.RULE_CHANGED,
        obj=rule,
        actor=actor,
        summary=f"{rule.name!r} version {rule.version}" + ("" if created else f": {', '.join(changed)}"),
        details={"version": rule.version, "changed": changed, "snapshot": snapshot},
    )


@transaction.atomic
def frequency_rule_create(
    *,
    actor: Actor,
    name: str,
    max_touches: int,
    window: dt.timedelta,
    scope_department: Department | None = None,
    scope_survey_kind: str = "",
    scope_channel: str = "",
    clock: str = RuleClock.INVITATION,
    new_contact_grace: dt.timedelta | None = None,
    is_active: bool = True,
    per_account: bool = False,
    counts: str = RuleCounts.TOUCHES,
) -> FrequencyRule:
    """Create a rule (version 1) and its first FrequencyRuleVersion.

    Raises RuleChangeForbidden (not a CX lead), InvalidFrequencyRule.
    """
    _require_cx_lead(actor)
    fields = _fields_clean(
        {
            "name": name,
            "max_touches": max_touches,
            "window": window,
            "scope_department": scope_department,
            "scope_survey_kind": scope_survey_kind,
            "scope_channel": scope_channel,
            "clock": clock,
            "new_contact_grace": new_contact_grace,
            "is_active": is_active,
            "per_account": per_account,
            "counts": counts,
        }
    )
    rule = FrequencyRule.objects.create(version=1, **fields)
    _version_write(rule, actor, sorted(fields))
    return rule


def frequency_rule_update(*, actor: Actor, rule: FrequencyRule, **changes: Any) -> FrequencyRule:
    """Change some of a rule's fields (RULE_EDITABLE_FIELDS); a real change makes the next version.

    Returns the rule as stored; a call that changes nothing writes nothing. Raises
    RuleChangeForbidden (not a CX lead), InvalidFrequencyRule.
    """
    _require_cx_lead(actor)
    unknown = set(changes) - set(RULE_EDITABLE_FIELDS)
    if unknown:
        raise _invalid(sorted(unknown)[0], "is not a field of a frequency rule that can be changed.")
    changes = _fields_clean(changes)
    with transaction.atomic():
        # Two leads saving at once would both compute "version + 1"; the lock makes the second
        # read the first one's version (and snapshot) before writing its own.
        locked = FrequencyRule.objects.select_for_update().get(pk=rule.pk)
        changed = {field: value for field, value in changes.items() if getattr(locked, field) != value}
        if not changed:
            return locked
        for field, value in changed.items():
            setattr(locked, field, value)
        locked.version += 1
        locked.save()
        _version_write(locked, actor, sorted(changed))
    return locked


def frequency_rule_deactivate(*, actor: Actor, rule: FrequencyRule) -> FrequencyRule:
    """Stop applying a rule (it is kept, with its history, for the decisions it made).

    Raises RuleChangeForbidden (not a CX lead).
    """
    return frequency_rule_update(actor=actor, rule=rule, is_active=False)


def frequency_rule_list(*, active: bool | None = None) -> QuerySet[FrequencyRule]:
    """Every rule, for anyone signed in: rules are shared by all departments and no secret."""
    rules = FrequencyRule.objects.select_related("scope_department").order_by("name", "pk")
    return rules if active is None else rules.filter(is_active=active)


def frequency_rule_get(*, rule_id: int) -> FrequencyRule:
    """One rule with its versions, newest first; raises NotFound."""
    rule = (
        FrequencyRule.objects.select_related("scope_department")
        .prefetch_related("versions__changed_by")
        .filter(pk=rule_id)
        .first()
    )
    if rule is None:
        raise NotFound(f"Frequency rule {rule_id} not found.")
    return rule


def frequency_rule_fields_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """The given rule fields, checked as a rule's are: for drafts (rule_drafts.py). Raises
    InvalidFrequencyRule naming the field."""
    return _fields_clean(fields)
