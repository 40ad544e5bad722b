"""The bad files and bodies of reliability/bad_input.py: malformed contact CSVs, an oversized upload,
and malformed JSON. Each CSV says which statuses it may get and, where something must be stored (or
must not be), how to check it."""

from __future__ import annotations

import codecs
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import IO

REJECTED = (400,)
# A file that can be read is queued as an import job (202); its outcome is the finished job's.
IMPORTED = (202,)


@dataclass
class CsvCase:
    name: str
    content: bytes
    allowed: tuple[int, ...]
    # (status, body, contacts created) → what is wrong, or "" when all is well.
    verify: Callable[[int, dict, int], str] | None = None
    filename: str = "contacts.csv"


def _rejected_with(*codes: str) -> Callable[[int, dict, int], str]:
    def verify(status: int, body: dict, created: int) -> str:
        return (
            "" if body.get("code") in codes else f"rejected with {body.get('code')!r}, wanted one of {codes}"
        )

    return verify


def _counts(**expected: int) -> Callable[[int, dict, int], str]:
    def verify(status: int, body: dict, created: int) -> str:
        counts = body.get("counts", {})
        wrong = {name: counts.get(name) for name, value in expected.items() if counts.get(name) != value}
        return f"counts {wrong}, wanted {expected}" if wrong else ""

    return verify


def _stored(email: str, **fields: object) -> Callable[[int, dict, int], str]:
    """The importing department's view of the contact with this email has exactly these fields
    (name=…, attributes=…), byte for byte."""

    def verify(status: int, body: dict, created: int) -> str:
        from contacts.models import DepartmentContact

        contact = DepartmentContact.objects.filter(contact__identities__normalised=email).first()
        if contact is None:
            return f"{email} was not imported ({body.get('counts')}, {body.get('issues', [])[:2]})"
        stored = {name: getattr(contact, name) for name in fields}
        return "" if stored == fields else f"stored {stored!r}, sent {fields!r}"

    return verify


def _all(*checks: Callable[[int, dict, int], str]) -> Callable[[int, dict, int], str]:
    def verify(status: int, body: dict, created: int) -> str:
        return "; ".join(problem for check in checks if (problem := check(status, body, created)))

    return verify


def _email() -> str:
    return f"bad-{uuid.uuid4().hex[:12]}@example.com"


def _png() -> bytes:
    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
        b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
    )


def _zip() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("contacts.csv", "email,name\na@example.com,A\n" * 100)
    return buffer.getvalue()


def csv_corpus() -> Iterator[CsvCase]:
    e = [_email() for _ in range(12)]
    yield CsvCase(
        "utf-16 with BOM",
        codecs.BOM_UTF16_LE + f"email,name\n{e[0]},Zoë\n".encode("utf-16-le"),
        REJECTED,
        _rejected_with("unsupported_encoding"),
    )
    yield CsvCase(
        "utf-16 without BOM",
        f"email,name\n{e[1]},Zoë\n".encode("utf-16-le"),
        REJECTED,
        _rejected_with("unknown_columns", "unsupported_encoding", "invalid_header"),
    )
    # 0x81 and 0x9d are undefined in Windows-1252 and invalid in UTF-8: no encoding reads this file.
    yield CsvCase(
        "latin-1 with undecodable bytes",
        b"email,name\n" + e[2].encode() + b",M\xfcller \x81\x9d\n",
        REJECTED,
        _rejected_with("unsupported_encoding"),
    )
    yield CsvCase(
        "windows-1252",
        f"email,name\n{e[3]},Müller – Straße\n".encode("cp1252"),
        IMPORTED,
        _stored(e[3], name="Müller – Straße"),
    )
    huge = "x" * 1_000_000
    yield CsvCase(
        "1 MB cell",
        f"email,name,attr.note\n{e[4]},{huge},\n{e[5]},Fine,{huge}\n{e[6]},Fine,short\n".encode(),
        IMPORTED,
        _all(_counts(rows=3, created=1, invalid=2), _stored(e[6], name="Fine", attributes={"note": "short"})),
    )
    yield CsvCase(
        "1 MB email cell", f"email\n{'a' * 1_000_000}@example.com\n".encode(), IMPORTED, _counts(invalid=1)
    )
    formulas = {
        "name": '=HYPERLINK("http://evil.example","click")',
        "attr.a": "+cmd|' /C calc'!A0",
        "attr.b": "-2+3",
        "attr.c": "@SUM(A1:A2)",
        "attr.d": "\t=1+1",
    }
    row = ",".join('"' + value.replace('"', '""') + '"' for value in formulas.values())
    yield CsvCase(
        "formula cells",
        (f"email,{','.join(formulas)}\n{e[7]},{row}\n").encode(),
        IMPORTED,
        # A cell is trimmed on import (leading tab included); the formula itself is kept verbatim.
        _stored(
            e[7],
            name=formulas["name"],
            attributes={"a": formulas["attr.a"], "b": "-2+3", "c": "@SUM(A1:A2)", "d": "=1+1"},
        ),
    )
    yield CsvCase(
        "1,000,000 empty lines",
        b"email,name\n" + b"\n" * 1_000_000 + f"{e[8]},Last\n".encode(),
        IMPORTED,
        _all(_counts(rows=1, created=1), _stored(e[8], name="Last")),
    )
    yield CsvCase(
        "1,000,000 empty lines and no contact",
        b"email,name\n" + b"\r\n" * 1_000_000,
        REJECTED,
        _rejected_with("empty_file"),
    )
    yield CsvCase("png", _png(), REJECTED, filename="photo.png")
    yield CsvCase("zip", _zip(), REJECTED, filename="contacts.zip")
    yield CsvCase("empty file", b"", REJECTED, _rejected_with("empty_file", "invalid"))
    yield CsvCase("only a BOM", codecs.BOM_UTF8, REJECTED, _rejected_with("empty_file"))
    yield CsvCase(
        "missing header",
        f"{e[9]},Alice\n{_email()},Bob\n".encode(),
        REJECTED,
        _rejected_with("unknown_columns"),
    )
    yield CsvCase(
        "duplicate columns",
        f"email,name,Email\n{e[10]},A,{e[10]}\n".encode(),
        REJECTED,
        _rejected_with("duplicate_columns"),
    )
    yield CsvCase(
        "NUL in a header",
        f"email,attr.a\x00b\n{_email()},A\n".encode(),
        REJECTED,
        _rejected_with("invalid_header"),
    )
    yield CsvCase("NUL in a cell", f"email,name\n{e[11]},A\x00B\n".encode(), IMPORTED, _counts(invalid=1))
    yield CsvCase(
        "unterminated quote", f'email,name\n{_email()},"Alice\n{_email()},Bob\n'.encode(), (202, 400)
    )
    yield CsvCase(
        "ragged rows",
        f"email,name\n{_email()},A,extra,more\n{_email()}\n".encode(),
        IMPORTED,
        _counts(invalid=2),
    )
    yield CsvCase(
        "10,000 columns",
        (
            "email," + ",".join(f"attr.k{i}" for i in range(10_000)) + f"\n{_email()}" + ",v" * 10_000 + "\n"
        ).encode(),
        (202, 400),
    )
    yield CsvCase("old Mac line endings", f"email,name\r{_email()},A\r{_email()},B\r".encode(), IMPORTED)


def oversized_upload() -> tuple[int, IO[bytes], str]:
    """A multipart body whose CSV is one byte over the import's limit, spooled to disk (not held in
    memory), with its Content-Type."""
    from django.conf import settings

    size = settings.CONTACT_IMPORT_MAX_BYTES + 1
    boundary = uuid.uuid4().hex
    body = tempfile.TemporaryFile()  # noqa: SIM115 - the caller sends and closes it
    body.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
    )
    start = body.tell()
    body.write(b"email,name\n")
    block = b"someone@example.com,Someone\n" * 40_000
    while body.tell() - start + len(block) < size:
        body.write(block)
    body.write(b"x" * (size - (body.tell() - start)))
    body.write(f"\r\n--{boundary}--\r\n".encode())
    body.seek(0)
    return size, body, f"multipart/form-data; boundary={boundary}"


@dataclass
class JsonBody:
    name: str
    content: bytes
    content_type: str = "application/json"


def json_bodies() -> Iterator[JsonBody]:
    yield JsonBody("truncated", b'{"name": "A", "questions": [')
    yield JsonBody("not an object", b"[1, 2, 3]")
    yield JsonBody("null", b"null")
    yield JsonBody("bare string", b'"hello"')
    yield JsonBody("empty body", b"")
    yield JsonBody("trailing garbage", b'{"name": "A"} {"name": "B"}')
    yield JsonBody("single quotes", b"{'name': 'A'}")
    yield JsonBody("NaN", b'{"name": NaN, "survey": Infinity}')
    yield JsonBody("invalid utf-8", b'{"name": "\xff\xfe\xc3\x28"}')
    yield JsonBody("utf-16", '{"name": "A"}'.encode("utf-16"))
    yield JsonBody(
        "NUL in a value", b'{"name": "a\\u0000b", "attributes": {"k": "\\u0000"}, "purpose": "\\u0000"}'
    )
    yield JsonBody("NUL in a key", b'{"attributes": {"k\\u0000": 1}, "audience_filter": {"\\u0000": 1}}')
    yield JsonBody(
        "unpaired surrogate", b'{"name": "\\ud800", "attributes": {"k": "\\udfff"}, "purpose": "\\ud800"}'
    )
    yield JsonBody("huge number", b'{"survey": 1' + b"0" * 5000 + b', "priority": 1e999}')
    yield JsonBody(
        "wrong types", b'{"name": 1, "questions": "x", "identities": {}, "survey": "x", "window": []}'
    )
    yield JsonBody("deeply nested arrays", b"[" * 100_000 + b"]" * 100_000)
    yield JsonBody("deeply nested objects", b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
    yield JsonBody(
        "nested 40 levels in a free-form field", b'{"attributes": ' + b'{"a":' * 40 + b"1" + b"}" * 41
    )
    yield JsonBody("huge body (6 MB)", b'{"name": "' + b"x" * (6 << 20) + b'"}')
    yield JsonBody("many keys", b"{" + b",".join(b'"k%d": %d' % (i, i) for i in range(200_000)) + b"}")
    yield JsonBody("xml", b"<contact><name>A</name></contact>", "application/xml")
    yield JsonBody("text/plain", b'{"name": "A"}', "text/plain")
    yield JsonBody("form-encoded", b"name=A&survey=1", "application/x-www-form-urlencoded")
    yield JsonBody("multipart without boundary", b"--x\r\n\r\n", "multipart/form-data")
    yield JsonBody("no content type", b'{"name": "A"}', "")
    yield JsonBody(
        "json with charset latin-1", '{"name": "Zoë"}'.encode("latin-1"), "application/json; charset=latin-1"
    )
