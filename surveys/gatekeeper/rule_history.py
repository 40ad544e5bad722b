"""A frequency rule's history in words: each version (FrequencyRuleVersion's snapshot) as what changed
from the one before ("window 30 → 45 days", "max touches 1 → 2", "scope: any channel → email"), with
the rule's name as it was then. The admin's version list and the API's rule detail show it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from contacts.models import Channel
from departments.models import Department
from surveys.models import FrequencyRuleVersion, RuleClock, SurveyKind


@dataclass(frozen=True)
class VersionDescribed:
    version: FrequencyRuleVersion
    name: str  # the rule's name as this version had it
    changes: list[str]


def duration_words(seconds: int | None) -> str:
    """'30 days', '12 hours', '1 day 6 hours', '90 minutes'; 'none' for no duration."""
    if seconds is None:
        return "none"
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts) or "0 seconds"


def _window_change(before: int, after: int) -> str:
    """'30 → 45 days' when both are whole days, else each in full words."""
    if before % 86400 == 0 and after % 86400 == 0:
        return f"{before // 86400} → {after // 86400} days"
    return f"{duration_words(before)} → {duration_words(after)}"


def _scope(value: Any, *, any_word: str, labels: Callable[[Any], str]) -> str:
    return any_word if value in (None, "") else labels(value)


def _describers(departments: dict[int, str]) -> dict[str, Callable[[Any, Any], str]]:
    """Snapshot key → the words for a change from one value to another."""
    kinds, channels, clocks = dict(SurveyKind.choices), dict(Channel.choices), dict(RuleClock.choices)
    clock = {key: label.lower() for key, label in clocks.items()}

    def scope(any_word: str, labels: Callable[[Any], str]) -> Callable[[Any, Any], str]:
        def words(old: Any, new: Any) -> str:
            old_words = _scope(old, any_word=any_word, labels=labels)
            return f"scope: {old_words} → {_scope(new, any_word=any_word, labels=labels)}"

        return words

    return {
        "name": lambda old, new: f"name “{old}” → “{new}”",
        "is_active": lambda old, new: "active → inactive" if old else "inactive → active",
        "max_touches": lambda old, new: f"max touches {old} → {new}",
        "window_seconds": lambda old, new: f"window {_window_change(old, new)}",
        "scope_department_id": scope("any department", lambda pk: departments.get(pk, f"department {pk}")),
        "scope_survey_kind": scope("any kind of survey", lambda kind: kinds.get(kind, kind).lower()),
        "scope_channel": scope("any channel", lambda channel: channels.get(channel, channel).lower()),
        "clock": lambda old, new: f"counted from: {clock.get(old, old)} → {clock.get(new, new)}",
        "new_contact_grace_seconds": lambda old, new: (
            f"new contact grace {duration_words(old)} → {duration_words(new)}"
        ),
        "per_account": lambda old, new: (
            f"counted per {'account' if old else 'contact'} → per {'account' if new else 'contact'}"
        ),
        "counts": lambda old, new: f"counts {old or 'touches'} → {new}",
    }


def _created_words(snapshot: dict, departments: dict[int, str]) -> str:
    touches = snapshot.get("max_touches")
    window = duration_words(snapshot.get("window_seconds"))
    words = [f"created: at most {touches} touch{'es' if touches != 1 else ''} per {window}"]
    for key, any_word in (
        ("scope_department_id", "any department"),
        ("scope_survey_kind", "any kind of survey"),
        ("scope_channel", "any channel"),
    ):
        value = snapshot.get(key)
        if value not in (None, ""):
            any_word = departments.get(value, str(value)) if key == "scope_department_id" else str(value)
        words.append(any_word)
    return ", ".join(words)


def version_changes(before: dict | None, after: dict, departments: dict[int, str]) -> list[str]:
    """What changed from snapshot `before` (None: this is the first version) to `after`, in words, in
    the order a rule's fields are shown."""
    if before is None:
        return [_created_words(after, departments)]
    describers = _describers(departments)
    return [
        describe(before.get(key), after.get(key))
        for key, describe in describers.items()
        if before.get(key) != after.get(key)
    ]


def versions_described(versions: Iterable[FrequencyRuleVersion]) -> list[VersionDescribed]:
    """Every version of one rule, newest first, each with its name then and its changes in words.
    One query for the departments the snapshots name; the versions as given (prefetch them)."""
    ordered = sorted(versions, key=lambda version: version.version)
    department_ids = {v.snapshot.get("scope_department_id") for v in ordered} - {None}
    departments = dict(Department.objects.filter(pk__in=department_ids).values_list("pk", "name"))
    described = []
    before = None
    for version in ordered:
        changes = version_changes(before, version.snapshot, departments)
        described.append(VersionDescribed(version, version.snapshot.get("name", ""), changes))
        before = version.snapshot
    return described[::-1]
