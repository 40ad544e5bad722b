"""Malformed contact CSVs through POST /api/v1/contacts/import (issue 6, bad input): each is a 400 in
the error shape with nothing written, or an import whose bad rows are reported while the rest is
stored exactly as written."""

import codecs

from django.core.files.uploadedfile import SimpleUploadedFile

from contacts.models import Contact, ContactImport, ContactImportIssue, DepartmentContact
from tests.import_jobs import job_finished

URL = "/api/v1/contacts/import"


def upload(api, content: bytes, name: str = "contacts.csv"):
    return job_finished(
        api,
        api.post(
            URL, {"file": SimpleUploadedFile(name, content, content_type="text/csv")}, format="multipart"
        ),
    )


def rejected(response, code: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"code", "message", "extra"} and body["code"] == code
    assert not Contact.objects.exists()


def test_a_nul_character_in_a_cell_makes_that_row_invalid_and_the_rest_is_imported(support_api):
    # The row was rejected, but storing its issue (the row as read, in jsonb) failed on U+0000:
    # the import stopped with a 500 and the rows after it were not imported.
    response = upload(support_api, b"email,name\nada@example.com,A\x00B\nbob@example.com,Bob\n")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["counts"]["created"] == 1 and body["counts"]["invalid"] == 1
    (issue,) = body["issues"]
    assert issue["row_number"] == 2 and issue["reason"] == "The cell contains a NUL character."
    assert issue["data"] == {"email": "ada@example.com", "name": "A\ufffdB"}
    assert ContactImportIssue.objects.get().data["name"] == "A\ufffdB"
    assert list(DepartmentContact.objects.values_list("name", flat=True)) == ["Bob"]


def test_a_nul_character_in_a_header_rejects_the_file(support_api):
    # attr.<key> would have become a jsonb key PostgreSQL cannot store.
    rejected(upload(support_api, b"email,attr.a\x00b\nada@example.com,1\n"), "invalid_header")
    assert not ContactImport.objects.exists()


def test_utf16_and_undecodable_bytes_are_rejected_naming_the_encoding(support_api):
    utf16 = codecs.BOM_UTF16_LE + "email\nada@example.com\n".encode("utf-16-le")
    rejected(upload(support_api, utf16), "unsupported_encoding")
    # 0x81 is neither UTF-8 nor Windows-1252.
    rejected(upload(support_api, b"email,name\nada@example.com,M\xfcller\x81\n"), "unsupported_encoding")


def test_binary_files_and_a_missing_header_are_rejected(support_api):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    rejected(upload(support_api, png, "photo.png"), "unknown_columns")
    rejected(upload(support_api, b"ada@example.com,Ada\n"), "unknown_columns")
    rejected(
        upload(support_api, b"email,name,EMAIL\nada@example.com,Ada,a@example.com\n"), "duplicate_columns"
    )


def test_formula_cells_are_stored_verbatim(support_api):
    content = 'email,name,attr.total\nada@example.com,"=HYPERLINK(""http://x"",""y"")",+cmd|\' /C calc\'!A0\n'

    assert upload(support_api, content.encode()).status_code == 200

    view = DepartmentContact.objects.get()
    assert view.name == '=HYPERLINK("http://x","y")'
    assert view.attributes == {"total": "+cmd|' /C calc'!A0"}


def test_a_million_empty_lines_are_skipped_quickly(support_api):
    response = upload(support_api, b"email,name\n" + b"\n" * 1_000_000 + b"ada@example.com,Ada\n")

    assert response.status_code == 200, response.content
    assert response.json()["counts"]["created"] == 1
    assert DepartmentContact.objects.get().name == "Ada"
