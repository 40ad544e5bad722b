"""Reading a CSV of touches another tool sent (surveys/external/imports.py runs it): its columns and,
row by row, the touch each names or the reasons it cannot be recorded, each naming its row (as a
spreadsheet counts them: the header is row 1) and its column.

Columns (header names are case-insensitive): `external_id` (the tool's id of the send), `source_tool`,
`survey_kind`, `channel`, `at` (ISO 8601 with an offset), and the contact, one of: `contact` (its API
id), `email`, `phone`, `contact_external_id` (with `contact_external_source`).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.utils.dateparse import parse_datetime

from contacts.models import Channel
from cxfeedback.exceptions import ApplicationError
from departments.models import Department
from surveys.errors import TouchImportRejected
from surveys.external.touches import TouchInput
from surveys.gatekeeper.lookups import contact_known_id
from surveys.models import SurveyKind

REQUIRED = ("external_id", "source_tool", "survey_kind", "channel", "at")
CONTACT_COLUMNS = ("contact", "email", "phone", "contact_external_id")
OPTIONAL = ("contact_external_source",)
LENGTHS = {"external_id": 200, "source_tool": 100}


@dataclass
class TouchRow:
    number: int
    touch: TouchInput | None = None
    issues: list[dict] = field(default_factory=list)  # {"row", "column", "message"}

    def refuse(self, column: str, message: str) -> None:
        self.issues.append({"row": self.number, "column": column, "message": message})


def header_read(stream: io.TextIOBase) -> tuple[csv.reader, dict[str, str]]:
    """The CSV reader after the header, and the header: each known column's name as the file writes
    it. Raises TouchImportRejected for a missing or unknown column."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except (StopIteration, csv.Error, UnicodeDecodeError) as error:
        raise TouchImportRejected("The file has no CSV header row (UTF-8 text).") from error
    columns = {name.strip().lower(): name.strip() for name in header}
    known = set(REQUIRED + CONTACT_COLUMNS + OPTIONAL)
    unknown = sorted(written for key, written in columns.items() if key not in known)
    missing = [name for name in REQUIRED if name not in columns]
    if unknown or missing or not any(name in columns for name in CONTACT_COLUMNS):
        raise TouchImportRejected(
            f"Columns: {', '.join(REQUIRED)} and one of {', '.join(CONTACT_COLUMNS)} naming the contact."
            + (f" Missing: {', '.join(missing)}." if missing else "")
            + (f" Unknown: {', '.join(unknown)}." if unknown else ""),
            extra={"missing": missing, "unknown": unknown},
        )
    return reader, columns


def rows_read(reader: csv.reader, columns: dict[str, str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, cells by lower-case column) for each data row; blank lines are skipped."""
    keys = list(columns)
    for number, cells in enumerate(reader, start=2):
        if any(cell.strip() for cell in cells):
            yield number, {key: cell.strip() for key, cell in zip(keys, cells, strict=False)}


def touch_row(
    department: Department, number: int, cells: dict[str, str], columns: dict[str, str]
) -> TouchRow:
    """The touch a row names, or its issues (every bad cell, each by column)."""
    row = TouchRow(number)
    for name in REQUIRED:
        value = cells.get(name, "")
        if not value:
            row.refuse(columns[name], "Empty; every touch needs it.")
        elif len(value) > LENGTHS.get(name, 200):
            row.refuse(columns[name], f"At most {LENGTHS[name]} characters fit; this is {len(value)}.")
    kind, channel = cells.get("survey_kind", ""), cells.get("channel", "")
    if kind and kind not in SurveyKind.values:
        row.refuse(columns["survey_kind"], f"{kind[:50]!r} is not one of {', '.join(SurveyKind.values)}.")
    if channel and channel not in Channel.values:
        row.refuse(columns["channel"], f"{channel[:50]!r} is not one of {', '.join(Channel.values)}.")
    at = _time(row, cells.get("at", ""), columns["at"])
    contact_id = _contact(row, department, cells, columns)
    if not row.issues:
        row.touch = TouchInput(
            contact_id=contact_id,
            survey_kind=kind,
            channel=channel,
            at=at,
            source_tool=cells["source_tool"],
            external_id=cells["external_id"],
        )
    return row


def _time(row: TouchRow, value: str, column: str):
    if not value:
        return None
    try:
        at = parse_datetime(value)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        row.refuse(column, f"{value[:50]!r} is not a time with its offset, such as 2026-11-02T09:30:00Z.")
        return None
    return at


def _contact(
    row: TouchRow, department: Department, cells: dict[str, str], columns: dict[str, str]
) -> int | None:
    """The department's contact the row names: another department's is "not found" like nobody."""
    given = [name for name in CONTACT_COLUMNS if cells.get(name)]
    if not given:
        row.refuse(" / ".join(columns[n] for n in CONTACT_COLUMNS if n in columns), "No contact given.")
        return None
    column = columns[given[0]]
    try:
        if given[0] == "contact":
            return contact_known_id(department=department, public_id=uuid.UUID(cells["contact"]))
        identities = [
            ("external" if name == "contact_external_id" else name, _source(name, cells), cells[name])
            for name in given
        ]
        return contact_known_id(department=department, identities=identities)
    except ValueError:
        row.refuse(column, f"{cells['contact'][:50]!r} is not a contact's id.")
    except ApplicationError as error:
        row.refuse(column, error.message)
    return None


def _source(name: str, cells: dict[str, str]) -> str:
    return cells.get("contact_external_source", "") if name == "contact_external_id" else ""
