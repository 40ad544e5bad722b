"""Draft rule sets: rule changes a CX lead saves without them going live (issue 15, item 4).

A draft holds whole rules: a copy of a live rule with changes (switching it off included), or a new
rule. The gatekeeper never reads drafts. Publishing applies them through
surveys.gatekeeper.frequency_rules, so every published change is a rule version like any other;
a rule changed live since it was copied is refused rather than overwritten.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from surveys.errors import DraftClosed, DraftOutdated, InvalidFrequencyRule, RuleChangeForbidden
from surveys.gatekeeper.active_rules import rule_from_model
from surveys.gatekeeper.frequency_rules import (
    frequency_rule_create,
    frequency_rule_fields_clean,
    frequency_rule_update,
)
from surveys.gatekeeper.rules import Rule
from surveys.models import DraftRule, FrequencyRule, RuleDraft

# The rule fields a draft carries, in the admin's and the API's order.
DRAFT_RULE_FIELDS = (
    "name",
    "is_active",
    "max_touches",
    "window",
    "scope_department",
    "scope_survey_kind",
    "scope_channel",
    "clock",
    "new_contact_grace",
)


def require_cx_lead(actor: Actor) -> None:
    if not actor.is_cx_lead:
        raise RuleChangeForbidden("Only a CX lead can draft, simulate or publish frequency rules.")


def _require_open(draft: RuleDraft) -> None:
    if draft.status != RuleDraft.Status.OPEN:
        raise DraftClosed(f"The draft is {draft.get_status_display().lower()}: it no longer changes.")


def rule_draft_create(*, actor: Actor, name: str, copy_of: FrequencyRule | None = None) -> RuleDraft:
    """A new, empty draft; with `copy_of`, holding a copy of that rule. Raises RuleChangeForbidden."""
    require_cx_lead(actor)
    name = frequency_rule_fields_clean({"name": name})["name"]
    with transaction.atomic():
        draft = RuleDraft.objects.create(name=name, created_by_id=actor.user_id)
        if copy_of is not None:
            draft_rule_copy(actor=actor, draft=draft, rule=copy_of)
    return draft


def draft_rule_copy(*, actor: Actor, draft: RuleDraft, rule: FrequencyRule) -> DraftRule:
    """Copy a live rule into the draft, to change or switch off there; a rule already copied is
    returned as it is. Raises RuleChangeForbidden, DraftClosed."""
    require_cx_lead(actor)
    _require_open(draft)
    existing = draft.rules.filter(rule=rule).first()
    if existing is not None:
        return existing
    fields = {name: getattr(rule, name) for name in DRAFT_RULE_FIELDS}
    return DraftRule.objects.create(draft=draft, rule=rule, base_version=rule.version, **fields)


def _known_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(DRAFT_RULE_FIELDS))
    if unknown:
        raise InvalidFrequencyRule(
            f"{unknown[0]}: is not a field a draft can set.", extra={"field": unknown[0]}
        )


def draft_rule_add(*, actor: Actor, draft: RuleDraft, **fields: Any) -> DraftRule:
    """A new rule in the draft. Raises RuleChangeForbidden, DraftClosed, InvalidFrequencyRule."""
    require_cx_lead(actor)
    _require_open(draft)
    _known_fields(fields)
    fields = frequency_rule_fields_clean(
        {"is_active": True, "scope_survey_kind": "", "scope_channel": "", **fields}
    )
    return DraftRule.objects.create(draft=draft, **fields)


def draft_rule_update(*, actor: Actor, draft_rule: DraftRule, **changes: Any) -> DraftRule:
    """Change a rule of the draft (nothing live changes). Raises RuleChangeForbidden, DraftClosed,
    InvalidFrequencyRule."""
    require_cx_lead(actor)
    _require_open(draft_rule.draft)
    _known_fields(changes)
    for name, value in frequency_rule_fields_clean(changes).items():
        setattr(draft_rule, name, value)
    draft_rule.save()
    return draft_rule


def rule_draft_discard(*, actor: Actor, draft: RuleDraft) -> RuleDraft:
    """Throw the draft away (kept, closed, with its simulations). Raises DraftClosed."""
    require_cx_lead(actor)
    with transaction.atomic():
        draft = RuleDraft.objects.select_for_update().get(pk=draft.pk)
        _require_open(draft)
        draft.status, draft.closed_at = RuleDraft.Status.DISCARDED, timezone.now()
        draft.save(update_fields=["status", "closed_at"])
    return draft


def rule_draft_publish(*, actor: Actor, draft: RuleDraft) -> RuleDraft:
    """Make the draft live: each changed rule gets its next version, each new rule its first, all or
    none. Raises DraftClosed, DraftOutdated (a rule changed live since it was copied),
    InvalidFrequencyRule."""
    require_cx_lead(actor)
    with transaction.atomic():
        # Locked, so two leads publishing the same draft do not apply it twice.
        draft = RuleDraft.objects.select_for_update().get(pk=draft.pk)
        _require_open(draft)
        for draft_rule in draft.rules.select_related("rule").order_by("pk"):
            fields = {name: getattr(draft_rule, name) for name in DRAFT_RULE_FIELDS}
            if draft_rule.rule is None:
                frequency_rule_create(actor=actor, **fields)
                continue
            rule = FrequencyRule.objects.select_for_update().get(pk=draft_rule.rule_id)
            if rule.version != draft_rule.base_version:
                raise DraftOutdated(
                    f"{rule.name!r} was changed (version {rule.version}) after the draft copied version "
                    f"{draft_rule.base_version}: copy it again.",
                    extra={"rule_id": rule.pk},
                )
            frequency_rule_update(actor=actor, rule=rule, **fields)
        draft.status, draft.closed_at = RuleDraft.Status.PUBLISHED, timezone.now()
        draft.save(update_fields=["status", "closed_at"])
    return draft


def draft_rules_effective(draft: RuleDraft) -> list[Rule]:
    """The rules that would apply if the draft were published: the active live rules, each drafted
    one as the draft has it (off if switched off), and the draft's new ones. New rules get
    negative ids (they have none yet); live ids are kept, so the ties of rules.rules_verdict hold."""
    drafted = {d.rule_id: d for d in draft.rules.all() if d.rule_id is not None}
    rules = []
    for live in FrequencyRule.objects.filter(is_active=True).order_by("pk"):
        copy = drafted.get(live.pk)
        if copy is None:
            rules.append(rule_from_model(live))
        elif copy.is_active:
            rules.append(_rule_of(copy, rule_id=live.pk, version=live.version + 1))
    switched_on = [d for d in drafted.values() if d.is_active and not d.rule.is_active]
    rules += [_rule_of(d, rule_id=d.rule_id, version=d.rule.version + 1) for d in switched_on]
    new = [d for d in draft.rules.all() if d.rule_id is None and d.is_active]
    rules += [_rule_of(d, rule_id=-d.pk, version=1) for d in new]
    return sorted(rules, key=lambda rule: rule.id)


def _rule_of(draft_rule: DraftRule, *, rule_id: int, version: int) -> Rule:
    return Rule(
        id=rule_id,
        version=version,
        max_touches=draft_rule.max_touches,
        window=draft_rule.window,
        scope_department_id=draft_rule.scope_department_id,
        scope_survey_kind=draft_rule.scope_survey_kind,
        scope_channel=draft_rule.scope_channel,
        clock=draft_rule.clock,
        new_contact_grace=draft_rule.new_contact_grace,
    )


@dataclass(frozen=True)
class FieldChange:
    field: str
    live: Any
    draft: Any


def draft_compare(draft: RuleDraft) -> list[tuple[DraftRule, list[FieldChange]]]:
    """Per rule of the draft, what it changes from the live rule (every field set, for a new one)."""
    compared = []
    for draft_rule in draft.rules.select_related("rule", "scope_department").order_by("pk"):
        live = draft_rule.rule
        changes = [
            FieldChange(name, getattr(live, name) if live else None, getattr(draft_rule, name))
            for name in DRAFT_RULE_FIELDS
            if live is None or getattr(live, name) != getattr(draft_rule, name)
        ]
        compared.append((draft_rule, changes))
    return compared


def value_in_words(value: Any) -> str:
    """A rule field's value as a CX lead reads it: "30 days", "any", "on"."""
    if value is None or value == "":
        return "any" if value == "" else "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dt.timedelta):
        if value % dt.timedelta(days=1) == dt.timedelta(0):
            return f"{value.days} day{'s' if value.days != 1 else ''}"
        hours = value.total_seconds() / 3600
        return f"{hours:g} hour{'s' if hours != 1 else ''}"
    return str(value)


def rule_draft_list(*, actor: Actor) -> QuerySet[RuleDraft]:
    """Every draft, for CX leads. Raises RuleChangeForbidden."""
    require_cx_lead(actor)
    return RuleDraft.objects.select_related("created_by").order_by("-created_at", "-pk")


def rule_draft_get(*, actor: Actor, draft_id: int) -> RuleDraft:
    """One draft, for CX leads; NotFound for a missing one, and for anyone else (as an object of
    another department's is: the answer does not say whether it exists)."""
    draft = RuleDraft.objects.filter(pk=draft_id).first() if actor.is_cx_lead else None
    if draft is None:
        raise NotFound(f"Rule draft {draft_id} not found.")
    return draft
