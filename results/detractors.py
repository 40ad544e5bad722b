"""Which answer of a response asks for a follow-up: plain data in, decision out, no ORM.

An answer on a scale asks for one when it is at or below the built-in threshold of its kind (NPS 0–6,
CSAT 1–2: results.models.BUILT_IN_DETRACTOR_MAX) or at or below an active follow-up rule of its kind
that covers the survey (every survey, or this survey's family). Rules add to the built-in
thresholds; they never silence them. The first such answer by question position names the
follow-up.

Whether that follow-up waits for the frequency rules: a follow-up is a personal reply, so it waits
only when everything that asked for it says so — every rule that matched it waits for them, and no
built-in threshold caught it. (A CX lead's company setting can make every follow-up wait; that is
read when the follow-up starts, not here.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    question_kind: str
    max_value: int
    survey_family_id: int | None  # None: every survey
    waits_for_frequency_rules: bool = False


@dataclass(frozen=True)
class ScaleAnswer:
    question_id: int
    position: int
    kind: str
    value: int


@dataclass(frozen=True)
class Detractor:
    question_id: int
    waits_for_frequency_rules: bool


def detractor_find(
    answers: Iterable[ScaleAnswer],
    *,
    survey_family_id: int | None,
    rules: Sequence[Rule],
    built_in: dict[str, int],
) -> Detractor | None:
    """The answer that asks for a follow-up, or None when none does."""
    for answer in sorted(answers, key=lambda answer: answer.position):
        matching = [
            rule
            for rule in rules
            if rule.question_kind == answer.kind
            and answer.value <= rule.max_value
            and rule.survey_family_id in (None, survey_family_id)
        ]
        by_threshold = answer.kind in built_in and answer.value <= built_in[answer.kind]
        if matching or by_threshold:
            # A personal reply by default: it waits only when every reason it was opened for waits.
            waits = not by_threshold and all(rule.waits_for_frequency_rules for rule in matching)
            return Detractor(question_id=answer.question_id, waits_for_frequency_rules=waits)
    return None
