"""Reading a contacts CSV: encoding, delimiter, header, and one record at a time. No database.

The file is streamed: `ImportFile.records()` yields one record per non-blank line, so memory does
not grow with the file; contacts/importing/rows.py checks each into an `ImportRow`. Row numbers are
what a spreadsheet shows (the header is row 1, blank lines count), because that is where the person
who made the file will look.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

from contacts.errors import ImportFileRejected
from contacts.models import Identity

# Well above the longest cell a row may have (contacts/importing/rows.py), so that such a cell
# reaches that check instead of stopping the whole file. csv's limit is a global.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 20))


ALLOWED_COLUMNS = (
    "email",
    "phone",
    "external_id",
    "external_id:<source>",
    "external_source",
    "country",
    "name",
    "locale",
    "time_zone",
    "account",
    "attr.<key>",
    "attributes.<key>",
)


IDENTITY_COLUMNS = ("email", "phone", "external_id", "external_id:<source>")


EMAIL, PHONE, EXTERNAL = Identity.Kind.EMAIL.value, Identity.Kind.PHONE.value, Identity.Kind.EXTERNAL.value


@dataclass(frozen=True, slots=True)
class Column:
    header: str  # as written in the file, trimmed
    # "identity", "external_source", "country", "name", "locale", "time_zone", "account" or "attribute"
    target: str
    kind: str = ""  # identity kind
    # An external id's source fixed by the header ("external_id:crm"); empty for plain external_id,
    # whose source is the row's external_source cell or rows.DEFAULT_EXTERNAL_SOURCE.
    source: str = ""
    attribute: str = ""  # attribute key


class RowIdentity(NamedTuple):
    """One identity of a row (a tuple: rows cross a process boundary when a large file is read
    in parallel, and tuples pickle several times faster than dataclasses)."""

    kind: str
    source: str
    normalised: str
    value: str  # as given, trimmed
    column: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.source, self.normalised)

    def label(self) -> str:
        return f"{self.column} {self.value}"


@dataclass(slots=True)
class ImportRow:
    number: int
    cells: list[str]
    identities: list[RowIdentity] = field(default_factory=list)
    name: str = ""
    locale: str = ""
    time_zone: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column, reason)
    # (column, reason) of a row imported all the same: a cell left out, a number read by a guess.
    warnings: list[tuple[str, str]] = field(default_factory=list)
    account: str = ""  # the external id of the account the person joins; empty: unchanged

    def __reduce__(self):
        identities = [tuple(identity) for identity in self.identities]
        return (
            _import_row,
            (
                self.number,
                self.cells,
                identities,
                self.name,
                self.locale,
                self.time_zone,
                self.attributes,
                self.errors,
                self.warnings,
                self.account,
            ),
        )


def _import_row(
    number, cells, identities, name, locale, time_zone, attributes, errors, warnings, account=""
) -> ImportRow:
    identities = [RowIdentity(*i) for i in identities]
    return ImportRow(
        number, cells, identities, name, locale, time_zone, attributes, errors, warnings, account
    )


# One record of the file: its row number, its cells, and why it could not be read as CSV (or "").
Record = tuple[int, list[str], str]


class ImportFile:
    """An opened contacts CSV whose header has been checked. Raises ImportFileRejected on open."""

    def __init__(self, stream: BinaryIO):
        self.encoding = _detect_encoding(stream)
        self._text = io.TextIOWrapper(stream, encoding=self.encoding, newline="")
        try:
            self.delimiter = _sniff_delimiter(self._text)
            self._records = csv.reader(self._text, delimiter=self.delimiter)
            self._row_number = 0
            self.headers = self._read_header()
            self.columns = parse_header(self.headers)
            self._first = self._next_row()
            if self._first is None:
                raise ImportFileRejected(
                    "The file has a header row but no contacts under it.", code="empty_file"
                )
        except BaseException:
            self.close()
            raise

    def records(self) -> Iterator[Record]:
        """Each non-blank record after the header, as CSV cells, not yet checked."""
        record = self._first
        while record is not None:
            if isinstance(record, csv.Error):
                yield (self._row_number, [], str(record))
            else:
                yield (self._row_number, record, "")
            record = self._next_row()

    def close(self) -> None:
        """Let go of the file without closing it: whoever opened it closes it."""
        if self._text.buffer is not None:
            self._text.detach()

    def _read_header(self) -> list[str]:
        record = self._next_row()
        if isinstance(record, csv.Error):
            raise ImportFileRejected(f"The header row is not valid CSV: {record}.", code="invalid_header")
        if record is None:
            raise ImportFileRejected(
                "The file is empty: there is no header row and no contacts.", code="empty_file"
            )
        return [cell.strip() for cell in record]

    def _next_row(self) -> list[str] | csv.Error | None:
        """The next record that is not blank (a blank line or delimiters only): its cells, the
        csv.Error that kept it from being read, or None at the end of the file."""
        while True:
            try:
                record = next(self._records)
            except StopIteration:
                return None
            except csv.Error as error:
                self._row_number += 1
                return error
            self._row_number += 1
            if any(cell.strip() for cell in record):
                return record


def _detect_encoding(stream: BinaryIO) -> str:
    """UTF-8 (with or without BOM) if the whole file decodes as UTF-8, else Windows-1252."""
    head = stream.read(4)
    stream.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileRejected(
            "The file is UTF-16 text; save it as 'CSV UTF-8' (or plain CSV) and upload it again.",
            code="unsupported_encoding",
        )
    # Decoding the whole file once costs milliseconds; guessing from the first block would turn a
    # late umlaut into an error after half the file was imported.
    for encoding in ("utf-8", "cp1252"):
        if _decodes(stream, encoding):
            return "utf-8-sig" if encoding == "utf-8" else encoding
        if head.startswith(codecs.BOM_UTF8):
            break  # a BOM promises UTF-8; reading such a file as Windows-1252 would only garble it
    raise ImportFileRejected(
        "The file is neither UTF-8 nor Windows-1252 text; save it as 'CSV UTF-8' and upload it again.",
        code="unsupported_encoding",
    )


def _decodes(stream: BinaryIO, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while block := stream.read(1 << 20):
            decoder.decode(block)
        decoder.decode(b"", final=True)
        return True
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)


def _sniff_delimiter(text: io.TextIOWrapper) -> str:
    """`;` if the header line has more semicolons than commas (outside quotes), else `,`."""
    position = text.tell()
    line = ""
    while not line.strip():
        line = text.readline()
        if not line:
            break
    text.seek(position)
    unquoted = re.sub(r'"[^"]*"', "", line)
    return ";" if unquoted.count(";") > unquoted.count(",") else ","


def parse_header(headers: list[str]) -> list[Column]:
    """Map each header to its column; raises ImportFileRejected naming unknown, duplicate or missing ones."""
    if any("\x00" in header for header in headers):  # an attribute key PostgreSQL could not store
        raise ImportFileRejected("The header row contains a NUL character.", code="invalid_header")
    columns, unknown = [], []
    for position, header in enumerate(headers, start=1):
        column = _column_for(header)
        if column is None:
            unknown.append(header or f"(empty header in column {position})")
        columns.append(column)
    allowed = ", ".join(ALLOWED_COLUMNS)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise ImportFileRejected(
            f"Unknown column{plural}: {', '.join(unknown)}. Allowed columns: {allowed}.",
            code="unknown_columns",
            extra={"unknown": unknown, "allowed": list(ALLOWED_COLUMNS)},
        )
    seen: dict[tuple, str] = {}
    duplicates = []
    for column in columns:
        identity = (column.target, column.kind, column.source, column.attribute)
        if identity in seen:
            duplicates.append(f"{seen[identity]} / {column.header}")
        seen[identity] = column.header
    if duplicates:
        raise ImportFileRejected(
            f"Columns given twice: {', '.join(duplicates)}.",
            code="duplicate_columns",
            extra={"duplicates": duplicates},
        )
    if not any(column.target == "identity" for column in columns):
        raise ImportFileRejected(
            f"No identity column: the file needs at least one of {', '.join(IDENTITY_COLUMNS)}.",
            code="missing_identity_column",
            extra={"missing": list(IDENTITY_COLUMNS), "allowed": list(ALLOWED_COLUMNS)},
        )
    return columns


def _column_for(header: str) -> Column | None:
    lowered = header.lower()
    for prefix in ("attr.", "attributes."):
        if lowered.startswith(prefix) and header[len(prefix) :].strip():
            return Column(header, "attribute", attribute=header[len(prefix) :].strip())
    base, _, source = lowered.partition(":")
    base = re.sub(r"[\s-]+", "_", base.strip())
    if base == "external_id" and source.strip():
        return Column(header, "identity", kind=EXTERNAL, source=source.strip())
    if source:
        return None
    if base in ("email", "phone"):
        return Column(header, "identity", kind=base)
    if base == "external_id":
        return Column(header, "identity", kind=EXTERNAL)  # source: the external_source column
    if base in ("name", "locale", "time_zone", "external_source", "country", "account"):
        return Column(header, base)
    return None
