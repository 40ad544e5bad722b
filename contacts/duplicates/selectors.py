"""Reading duplicate searches and suggestions: CX leads only, since both compare every
department's customers. Anyone else is answered as for something that does not exist."""

from __future__ import annotations

from dataclasses import dataclass

from contacts.duplicates.records import records_read
from contacts.models import DuplicateSearch, DuplicateSuggestion
from cxfeedback.exceptions import NotFound
from departments.actors import Actor

# The compared fields in the order they are shown, with the words a CX lead reads.
FIELD_LABELS = {
    "given_name": "given name",
    "surname": "surname",
    "date_of_birth": "date of birth",
    "email": "email",
    "phone": "phone",
    "external_id": "external id",
    "address": "address",
}


def _shown(record: dict, field: str) -> str:
    """What a record holds for a compared field, as compared (case and accents folded)."""
    if field == "address":
        parts = (
            record.get("street_number"),
            record.get("street"),
            record.get("postcode"),
            record.get("city"),
        )
        return " ".join(part for part in parts if part)
    return str(record.get(field) or "")


def search_progress(search: DuplicateSearch) -> tuple[int, str]:
    """(percent, words) of a search's progress, as the admin's bar shows it."""
    Status = DuplicateSearch.Status
    if search.status == Status.DONE:
        return 100, f"{search.total:,} compared, {search.found:,} new suggestions"
    if search.status == Status.RUNNING and not search.done:
        return 0, "reading the contact book and training the model"
    percent = int(100 * search.done / search.total) if search.total else 0
    words = f"{search.done:,} of {search.total:,} compared, {search.found:,} new suggestions"
    if search.status == Status.QUEUED:
        words = "waiting for a worker"
    return percent, words


@dataclass(frozen=True)
class EvidenceLine:
    field: str
    level: str
    weight: float
    first: str
    second: str

    def __str__(self) -> str:
        return f"{self.field}: {self.level}, {self.weight:+.1f}"


def suggestion_evidence(*, actor: Actor, suggestion: DuplicateSuggestion) -> list[EvidenceLine]:
    """The suggestion's evidence field by field, with what each record holds now (as compared:
    case-folded), strongest first; the fields neither record has are left out."""
    if not actor.is_cx_lead:
        raise NotFound("Not found.")
    records = {
        record["contact_id"]: record
        for chunk in records_read(contact_ids=[suggestion.first_id, suggestion.second_id])
        for record in chunk
    }
    first, second = records.get(suggestion.first_id, {}), records.get(suggestion.second_id, {})
    lines = []
    for field, label in FIELD_LABELS.items():
        given = suggestion.evidence.get(field, {})
        shown_first, shown_second = _shown(first, field), _shown(second, field)
        if given or shown_first or shown_second:
            level = given.get("level", "not compared: one of them has none")
            weight = float(given.get("weight", 0.0))
            lines.append(EvidenceLine(label, level, weight, shown_first, shown_second))
    return sorted(lines, key=lambda line: -line.weight)


def evidence_summary(suggestion: DuplicateSuggestion, *, limit: int = 4) -> str:
    """The strongest pieces of evidence in one line: "surname: exact, +9.1; date of birth: …"."""
    lines = sorted(suggestion.evidence.items(), key=lambda item: -item[1].get("weight", 0))
    return "; ".join(
        f"{FIELD_LABELS.get(field, field)}: {given.get('level', '')}, {given.get('weight', 0):+.1f}"
        for field, given in lines[:limit]
    )
