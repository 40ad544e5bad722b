"""What a chunk's rows became, in the words the person who made the file reads: the counts, the
issues (invalid rows and conflicts) and the per-row report lines. No database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from contacts.importing.matching import ChunkPlan, NewContact, Outcome, RowPlan
from contacts.importing.reading import ImportRow

COUNT_NAMES = ("rows", "created", "matched", "identities_added", "updated", "invalid", "conflict")
REPORT_HEADER = (
    "row",
    "outcome",
    "contact_id",
    "matched_by",
    "identities_added",
    "updated",
    "column",
    "reason",
)
MAX_DATA_CHARS = 200  # per cell, in an issue's copy of its row
INVALID, CONFLICT = "invalid", "conflict"  # ContactImportIssue.Kind

# The contact id to show, or None for one that is not real (created by a dry run, rolled back).
ShownId = Callable[[int | None], int | None]


@dataclass(frozen=True)
class ImportIssue:
    row_number: int
    kind: str  # "invalid" or "conflict"
    column: str
    reason: str
    data: dict
    contact_ids: list[int] = field(default_factory=list)


def counts_add(counts: dict[str, int], rows: list[ImportRow], plan: ChunkPlan) -> dict[str, int]:
    """`counts` with the chunk's rows added (a new dict)."""
    total = dict(counts)
    total["rows"] += len(rows)
    total["invalid"] += sum(1 for row in rows if row.errors)
    for row_plan in plan.rows:
        total[row_plan.outcome] += 1
        total["updated"] += row_plan.updated
    return total


def chunk_issues(
    rows: list[ImportRow], plan: ChunkPlan, headers: list[str], shown_id: ShownId
) -> list[ImportIssue]:
    """One issue per invalid cell and one per conflicting row, in row order."""
    issues = [
        ImportIssue(row.number, INVALID, column, reason, row_data(row, headers))
        for row in rows
        for column, reason in row.errors
    ]
    issues += [conflict_issue(p, headers, shown_id) for p in plan.rows if p.outcome == Outcome.CONFLICT]
    issues.sort(key=lambda issue: issue.row_number)
    return issues


def conflict_issue(plan: RowPlan, headers: list[str], shown_id: ShownId) -> ImportIssue:
    """Which identity of the row belongs to which contact; nothing of the row was written."""
    by_owner: dict[int, list[str]] = {}
    created_by_row: dict[int, int] = {}
    for identity, owner in plan.claims:
        contact_id = owner.id if isinstance(owner, NewContact) else owner
        by_owner.setdefault(contact_id, []).append(identity.label())
        if isinstance(owner, NewContact):
            created_by_row[contact_id] = owner.row_number
    parts = []
    for contact_id, labels in by_owner.items():
        if contact_id in created_by_row:
            whose = f"the contact created by row {created_by_row[contact_id]}"
        elif shown_id(contact_id) is None:
            whose = "a contact created earlier in this file"
        else:
            whose = f"contact #{contact_id}"
        parts.append(f"{' and '.join(labels)} belong{'s' if len(labels) == 1 else ''} to {whose}")
    reason = f"{'; '.join(parts)}. Nothing was merged: a CX lead decides whether these are one person."
    columns = ", ".join(dict.fromkeys(identity.column for identity, _ in plan.claims))
    contact_ids = [contact_id for contact_id in by_owner if shown_id(contact_id) is not None]
    return ImportIssue(plan.row.number, CONFLICT, columns, reason, row_data(plan.row, headers), contact_ids)


def row_data(row: ImportRow, headers: list[str]) -> dict[str, str]:
    """The row as read, header → cell, long cells cut short, and a NUL character (which makes the row
    invalid, and which PostgreSQL cannot store) shown as U+FFFD."""
    data = {}
    for position, cell in enumerate(row.cells):
        header = headers[position] if position < len(headers) else f"(column {position + 1})"
        shown = cell if len(cell) <= MAX_DATA_CHARS else cell[:MAX_DATA_CHARS] + "…"
        data[header] = shown.replace("\x00", "\ufffd")
    return data


def report_lines(
    rows: list[ImportRow], plan: ChunkPlan, issues: list[ImportIssue], shown_id: ShownId
) -> Iterator[tuple]:
    """One REPORT_HEADER line per row of the chunk, in file order."""
    plans = {row_plan.row.number: row_plan for row_plan in plan.rows}
    issues_of: dict[int, list[ImportIssue]] = {}
    for issue in issues:
        issues_of.setdefault(issue.row_number, []).append(issue)
    for row in rows:
        row_plan = plans.get(row.number)
        if row_plan is None or row_plan.outcome == Outcome.CONFLICT:
            row_issues = issues_of.get(row.number, [])
            column = "; ".join(issue.column for issue in row_issues)
            reason = "; ".join(issue.reason for issue in row_issues)
            yield (
                row.number,
                Outcome.CONFLICT if row_plan else Outcome.INVALID,
                "",
                "",
                "",
                "",
                column,
                reason,
            )
            continue
        matched_by = row_plan.matched_by.label() if row_plan.matched_by else ""
        added = "; ".join(identity.label() for identity in row_plan.added) if row_plan.matched_by else ""
        contact_id = shown_id(row_plan.contact_id) or ""
        yield (
            row.number,
            row_plan.outcome,
            contact_id,
            matched_by,
            added,
            "yes" if row_plan.updated else "",
            "",
            "",
        )
