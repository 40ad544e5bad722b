"""Checking one record of a contacts CSV into an ImportRow: identities normalised, fields checked,
and what made the row invalid or what it is imported with a warning for. No database.

A national phone number (no "+", no international prefix) is read in the row's `country`, else the
import's phone region, else the department's (the caller passes the first of those two that is set),
else settings.PHONE_DEFAULT_REGION. Read through that company default, nobody named the number's
country: the row is imported with a warning naming the region. A phone cell that cannot be read is
left out with a warning and the row imported with its other identities; only a row left with no
identity at all is invalid. (Email and external id cells are the keys a file is matched on: a bad
one still makes its row invalid, to be fixed and imported again.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.conf import settings

from contacts.errors import InvalidIdentity
from contacts.importing.reading import EMAIL, EXTERNAL, PHONE, Column, ImportFile, ImportRow, RowIdentity
from contacts.models import available_time_zones
from contacts.normalise import normalise_email, normalise_external_id, phone_read, phone_region_of

# A longer cell is an invalid row, with this as the reason.
MAX_CELL_CHARS = 10_000


DEFAULT_EXTERNAL_SOURCE = "import"


# A language tag, loosely: "en", "de-AT", "zh-Hant-TW", "pt_BR" (written back with a hyphen).
LOCALE_PATTERN = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")


MAX_LENGTHS = {"name": 200, "locale": 16, "time_zone": 64, "external_source": 60, "account": 200}


def file_rows(import_file: ImportFile, *, phone_region: str = "") -> Iterator[ImportRow]:
    """Each non-blank row after the header, read and checked (errors and warnings are on the row);
    national phone numbers read as RowReader says."""
    reader = RowReader(import_file.columns, phone_region=phone_region)
    for record in import_file.records():
        yield reader.read(*record)


class RowReader:
    """Turns one record into an ImportRow: identities normalised, fields checked.

    `phone_region` is the region the import or the department named for national numbers ("":
    neither did, and settings.PHONE_DEFAULT_REGION is a guess that each such number is flagged with).
    """

    def __init__(self, columns: list[Column], *, phone_region: str = ""):
        self.columns = columns
        self.named_region = phone_region
        self.default_region = settings.PHONE_DEFAULT_REGION
        self.source_position = next((i for i, c in enumerate(columns) if c.target == "external_source"), None)
        self.country_position = next((i for i, c in enumerate(columns) if c.target == "country"), None)
        self.time_zones = {zone.lower(): zone for zone in available_time_zones()}
        # The row being read: where its national numbers are read, and the cells left out of it.
        self.region, self.region_named, self.country_unknown = "", False, False
        self.left_out: list[tuple[str, str]] = []

    def read(self, number: int, cells: list[str], csv_error: str = "") -> ImportRow:
        row = ImportRow(number=number, cells=cells)
        if csv_error:
            row.errors.append(("", f"The row is not valid CSV: {csv_error}."))
            return row
        if len(cells) != len(self.columns):
            row.errors.append(
                ("", f"The row has {len(cells)} fields but the header has {len(self.columns)}.")
            )
            return row
        source = self._external_source(row)
        self.left_out = []
        self._phone_region(row)
        for column, cell in zip(self.columns, cells, strict=True):
            value = cell.strip()
            if not value:
                continue
            if len(value) > MAX_CELL_CHARS:
                row.errors.append(
                    (
                        column.header,
                        f"The cell is {len(value)} characters long; at most {MAX_CELL_CHARS} fit.",
                    )
                )
            elif "\x00" in value:
                row.errors.append((column.header, "The cell contains a NUL character."))
            else:
                self._read_cell(row, column, value, source)
        self._settle(row)
        return row

    def _settle(self, row: ImportRow) -> None:
        """A row that is imported carries its left-out cells as warnings; a row that is not, as
        errors (one more thing to fix), and no warning: nothing of it was imported."""
        if row.identities and not row.errors:
            row.warnings += [
                (column, f"{reason} The row was imported without it.") for column, reason in self.left_out
            ]
            return
        row.errors += self.left_out
        row.warnings.clear()
        if not row.errors:
            headers = ", ".join(c.header for c in self.columns if c.target == "identity")
            row.errors.append((headers, "The row has no identity: fill in at least one of these columns."))

    def _external_source(self, row: ImportRow) -> str:
        if self.source_position is None:
            return DEFAULT_EXTERNAL_SOURCE
        return row.cells[self.source_position].strip().lower() or DEFAULT_EXTERNAL_SOURCE

    def _phone_region(self, row: ImportRow) -> None:
        """Where the row's national numbers are read: its country cell, else the named region, else
        the company default (not named). A country cell naming no country leaves them unread."""
        self.country_unknown = False
        if self.country_position is not None and (cell := row.cells[self.country_position].strip()):
            region = phone_region_of(cell)  # a set look-up: nothing worth caching
            if region:
                self.region, self.region_named = region, True
                return
            self.country_unknown = True
            self.left_out.append(
                (
                    self.columns[self.country_position].header,
                    f"{cell[:100]!r} is not a country: give its two-letter ISO 3166 code, such as DE or US.",
                )
            )
        if self.named_region:
            self.region, self.region_named = self.named_region, True
        else:
            self.region, self.region_named = self.default_region, False

    def _read_cell(self, row: ImportRow, column: Column, value: str, source: str) -> None:
        target = column.target
        if target == "identity":
            self._read_identity(row, column, value, source)
        elif target == "attribute":
            row.attributes[column.attribute] = value
        elif target == "country":
            return  # read first, by _phone_region: the phone cells before it need it
        elif len(value) > MAX_LENGTHS[target]:
            row.errors.append(
                (column.header, f"At most {MAX_LENGTHS[target]} characters fit; this is {len(value)}.")
            )
        elif target in ("name", "account"):
            setattr(row, target, value)
        elif target == "locale":
            if LOCALE_PATTERN.fullmatch(value):
                row.locale = value.replace("_", "-")
            else:
                row.errors.append(
                    (column.header, f"{value!r} is not a language tag (for example en or de-AT).")
                )
        elif target == "time_zone":
            zone = self.time_zones.get(value.lower())
            if zone:
                row.time_zone = zone
            else:
                row.errors.append(
                    (column.header, f"{value!r} is not an IANA time zone (for example Europe/Berlin).")
                )

    def _read_identity(self, row: ImportRow, column: Column, value: str, source: str) -> None:
        kind = column.kind
        column_source = column.source or source if kind == EXTERNAL else ""
        try:
            if kind == EMAIL:
                normalised = normalise_email(value)
            elif kind == PHONE:
                normalised = self._read_phone(row, column, value)
                if normalised is None:
                    return
            else:
                normalised = normalise_external_id(value)
        except InvalidIdentity as error:
            row.errors.append((column.header, error.message))
            return
        identity = RowIdentity(kind, column_source, normalised, value, column.header)
        if all(existing.key != identity.key for existing in row.identities):
            row.identities.append(identity)

    def _read_phone(self, row: ImportRow, column: Column, value: str) -> str | None:
        """The number's E.164 form, with a warning on the row if it was read by a guess; None if it
        is left out (the row may still be imported by its other identities)."""
        try:
            reading = phone_read(value, region=self.region)
        except InvalidIdentity as error:
            self.left_out.append((column.header, error.message))
            return None
        if reading.in_region and self.country_unknown:
            self.left_out.append(
                (column.header, f"{value!r} has no country code, and the row's country is not one.")
            )
            return None
        if reading.plus_restored:
            row.warnings.append(
                (
                    column.header,
                    f"Read as {reading.e164}: {value!r} is no {self.region} number, so it was read as "
                    "an international one whose '+' was lost; check it.",
                )
            )
        elif reading.in_region and not self.region_named:
            row.warnings.append(
                (
                    column.header,
                    f"Read as a {self.region} number, {reading.e164}: it has no country code, and neither "
                    "the row (a country column) nor the import or the department names a phone region, "
                    f"so the company default {self.region} was used.",
                )
            )
        return reading.e164
