"""Reading frequency rules for the gatekeeper."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from surveys.gatekeeper.rules import Rule
from surveys.models import FrequencyRule


def rule_from_model(rule: FrequencyRule) -> Rule:
    return Rule(
        id=rule.pk,
        version=rule.version,
        max_touches=rule.max_touches,
        window=rule.window,
        scope_department_id=rule.scope_department_id,
        scope_survey_kind=rule.scope_survey_kind,
        scope_channel=rule.scope_channel,
        clock=rule.clock,
        new_contact_grace=rule.new_contact_grace,
        per_account=rule.per_account,
        counts=rule.counts,
    )


def rules_active() -> list[Rule]:
    """Every active rule, as the pure policy reads them: all apply together."""
    return [rule_from_model(rule) for rule in FrequencyRule.objects.filter(is_active=True).order_by("pk")]


# The rules table as stored, in one value: any change to any rule (through the services, the admin or
# plain SQL) changes it. Single-contact statements compare it with the cached rules' fingerprint in
# the statement that decides (surveys/gatekeeper/screening.py), so a stale cache never decides anything.
RULES_FINGERPRINT_SQL = (
    "SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.id), '')) AS fingerprint "
    "FROM surveys_frequencyrule r"
)


@dataclass(frozen=True)
class ActiveRules:
    """The active rules as one statement read them, and the fingerprint of the table they came from."""

    rules: tuple[Rule, ...]
    models: dict[int, FrequencyRule]  # by id, for explanations (a rule's name, its grace period)
    fingerprint: str


# Per process, by fingerprint. Every trigger and eligibility call needs the active rules; loading
# them each time was two queries of a request that makes about ten. Entries are never mutated, so
# threads share them; a few are kept because transactions may briefly see different rule tables.
_cache: dict[str, ActiveRules] = {}


_latest: ActiveRules | None = None


CACHE_ENTRIES = 8


def rules_active_cached(*, fingerprint: str | None = None) -> ActiveRules:
    """The active rules from this process's cache: those with this `fingerprint` (what a statement
    saw in the rules table), or else the latest loaded; loaded afresh if not cached.

    Only for statements that check the fingerprint themselves (screening's single-contact ones):
    the result may be stale, or have another fingerprint than asked if the table changed again.
    """
    global _latest
    cached = _latest if fingerprint is None else _cache.get(fingerprint)
    if cached is not None:
        return cached
    # One statement, so the rules and their fingerprint are read from the same snapshot.
    loaded = list(
        FrequencyRule.objects.raw(
            f"SELECT r.*, ({RULES_FINGERPRINT_SQL}) AS fingerprint FROM surveys_frequencyrule r "  # noqa: S608
            "ORDER BY r.id"
        )
    )
    active = [rule for rule in loaded if rule.is_active]
    cached = ActiveRules(
        rules=tuple(rule_from_model(rule) for rule in active),
        models={rule.pk: rule for rule in active},
        fingerprint=loaded[0].fingerprint if loaded else hashlib.md5(b"").hexdigest(),  # noqa: S324
    )
    if len(_cache) >= CACHE_ENTRIES:
        _cache.clear()
    _cache[cached.fingerprint] = cached
    _latest = cached
    return cached
