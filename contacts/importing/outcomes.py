"""What a chunk's rows became, in the words the person who made the file reads: the counts, the
issues (invalid rows, conflicts, and warnings on rows imported all the same) and the per-row report
lines. No database.

All of it is shown to the importing department, so a person is named only by the public id of the
department's own view of them (see Disclosure); never a person only other departments know.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from contacts.importing.matching import ChunkPlan, Outcome, Person, RowPlan
from contacts.importing.reading import ImportRow

COUNT_NAMES = (
    "rows",
    "created",
    "matched",
    "identities_added",
    "updated",
    "with_warnings",  # of the imported rows, those with a cell left out or read by a guess
    "invalid",
    "conflict",
)
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
INVALID, CONFLICT, WARNING = "invalid", "conflict", "warning"  # ContactImportIssue.Kind


@dataclass(frozen=True)
class Disclosure:
    """Which persons an import may name to the importing department, and how.

    A person is named by their public id, and only if the department has a view of them. A dry run
    is rolled back, and the views it made with it: naming one would tell a person another department
    knows (the same id at every preview) from a new one (a new id each time), so a dry run names only
    the views that were there before it (ids below first_view_id). Contacts from first_contact_id on
    were created by a dry run and are gone after it.
    """

    dry_run: bool = False
    first_contact_id: int = 0
    first_view_id: int = 0

    def public_id(self, person: Person) -> str | None:
        if person.view is None:
            return None
        if self.dry_run and (person.view_id is None or person.view_id >= self.first_view_id):
            return None
        return str(person.public_id)

    def kept(self, person: Person) -> bool:
        """Whether the person outlives the import (not created by a dry run)."""
        return not self.dry_run or person.contact_id < self.first_contact_id


@dataclass(frozen=True)
class ImportIssue:
    row_number: int
    kind: str  # "invalid", "conflict" or "warning"
    column: str
    reason: str
    data: dict
    # For a conflict: the persons its identities belong to, for a CX lead (stored, never shown to the
    # department).
    contact_ids: list[int] = field(default_factory=list)


def counts_add(counts: dict[str, int], rows: list[ImportRow], plan: ChunkPlan) -> dict[str, int]:
    """`counts` with the chunk's rows added (a new dict)."""
    total = dict(counts)
    total["rows"] += len(rows)
    total["invalid"] += sum(1 for row in rows if row.errors)
    for row_plan in plan.rows:
        total[row_plan.outcome] += 1
        total["updated"] += row_plan.updated
        total["with_warnings"] += _written_with_warnings(row_plan)
    return total


def _written_with_warnings(plan: RowPlan) -> bool:
    return bool(plan.row.warnings) and plan.outcome != Outcome.CONFLICT


def chunk_issues(
    rows: list[ImportRow], plan: ChunkPlan, headers: list[str], disclosure: Disclosure
) -> list[ImportIssue]:
    """One issue per invalid cell, one per conflicting row and one per warning on an imported row, in
    row order (a conflicting row was not imported: its warnings are moot)."""
    issues = [
        ImportIssue(row.number, INVALID, column, reason, row_data(row, headers))
        for row in rows
        for column, reason in row.errors
    ]
    issues += [conflict_issue(p, headers, disclosure) for p in plan.rows if p.outcome == Outcome.CONFLICT]
    issues += [
        ImportIssue(p.row.number, WARNING, column, reason, row_data(p.row, headers))
        for p in plan.rows
        if _written_with_warnings(p)
        for column, reason in p.row.warnings
    ]
    issues.sort(key=lambda issue: issue.row_number)
    return issues


def conflict_issue(plan: RowPlan, headers: list[str], disclosure: Disclosure) -> ImportIssue:
    """Which of the row's identities go together and which belong to someone else; nothing of the
    row was written. No person is named, not even one of the department's own: a conflict with its
    own contact must read exactly as one with a person only another department knows, or the
    wording would tell which. A CX lead sees the persons (contact_ids, stored)."""
    labels_of: dict[Person, list[str]] = {}
    for identity, person in plan.claims:
        labels_of.setdefault(person, []).append(identity.label())
    parts = []
    for position, (person, labels) in enumerate(labels_of.items()):
        whose = _whose(person, first=position == 0)
        verb = f"belong{'s' if len(labels) == 1 else ''} to " if position == 0 else "to "
        parts.append(f"{' and '.join(labels)} {verb}{whose}")
    reason = f"{'; '.join(parts)}. Nothing was merged: a CX lead decides whether these are one person."
    columns = ", ".join(dict.fromkeys(identity.column for identity, _ in plan.claims))
    return ImportIssue(
        plan.row.number,
        CONFLICT,
        columns,
        reason,
        row_data(plan.row, headers),
        contact_ids=[person.contact_id for person in labels_of if disclosure.kept(person)],
    )


def _whose(person: Person, *, first: bool) -> str:
    """A person this file brought into the department's book by its row; any other unnamed."""
    if person.view is not None and person.view_id is None:
        return f"the contact created by row {person.row_number}"
    return "one contact" if first else "another"


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
    rows: list[ImportRow], plan: ChunkPlan, issues: list[ImportIssue], disclosure: Disclosure
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
        contact_id = disclosure.public_id(row_plan.person) or ""
        yield (
            row.number,
            row_plan.outcome,
            contact_id,
            matched_by,
            added,
            "yes" if row_plan.updated else "",
            "; ".join(column for column, _ in row.warnings),
            "; ".join(reason for _, reason in row.warnings),
        )
