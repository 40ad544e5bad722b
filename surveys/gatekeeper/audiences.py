"""Who a send request is for: an uploaded list, an attribute filter, or everyone the department
knows; and the upload of a list (imported as contacts, then kept as the request's audience rows)."""

from __future__ import annotations

import csv
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO

from django.db import transaction

from contacts.importing import ContactImportResult, contact_import_run
from contacts.models import Contact
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from surveys.errors import AudienceLocked, InvalidSendRequest
from surveys.gatekeeper.screening import Audience
from surveys.models import AudienceMember, SendRequest


def audience_of(send_request: SendRequest) -> Audience:
    kind = send_request.audience_kind
    if kind in (SendRequest.AudienceKind.UPLOAD, SendRequest.AudienceKind.TRIGGER):
        return Audience(send_request_id=send_request.pk)
    if kind == SendRequest.AudienceKind.FILTER:
        return Audience(
            department_id=send_request.department_id, attributes=send_request.audience_filter or {}
        )
    return Audience(department_id=send_request.department_id)


# Audiences a department asks for; a TRIGGER request is made only by trigger_send.
REQUESTABLE_AUDIENCES = (
    SendRequest.AudienceKind.UPLOAD,
    SendRequest.AudienceKind.FILTER,
    SendRequest.AudienceKind.ALL_KNOWN,
)


# Rows of an uploaded audience written per INSERT.
AUDIENCE_BATCH_ROWS = 5000

Status = SendRequest.Status


def audience_filter_check(audience_kind: str, audience_filter: Any) -> dict:
    """The filter to store: a flat JSON object for FILTER audiences, {} for the others."""
    if audience_kind not in REQUESTABLE_AUDIENCES:
        raise InvalidSendRequest.on_field(
            "audience_kind", f"must be one of {', '.join(REQUESTABLE_AUDIENCES)}."
        )
    if audience_kind != SendRequest.AudienceKind.FILTER:
        if audience_filter:
            raise InvalidSendRequest.on_field(
                "audience_filter", "only an audience of kind filter has a filter."
            )
        return {}
    if not isinstance(audience_filter, dict) or not audience_filter:
        raise InvalidSendRequest.on_field(
            "audience_filter", 'give the attributes to match as an object, e.g. {"tier": "gold"}.'
        )
    for key, value in audience_filter.items():
        # Flat: the audience is `attributes @> filter`, and nested objects would match in surprising ways.
        if not key or (value is not None and not isinstance(value, str | int | float | bool)):
            raise InvalidSendRequest.on_field(
                "audience_filter", f"{key!r}: each value must be a text, number or true/false."
            )
    return audience_filter


@dataclass(frozen=True)
class AudienceUpload:
    send_request: SendRequest
    members: int  # audience rows written: one per imported row that names a contact
    contact_import: ContactImportResult  # its counts and issues say which rows were left out


def send_request_set_audience_upload(
    *, actor: Actor, send_request: SendRequest, file: BinaryIO, filename: str = ""
) -> AudienceUpload:
    """Import a contacts CSV into the request's department and make its rows the request's audience,
    replacing any earlier upload. Rows the import leaves out (invalid, conflicts) are not in it.

    Writes contacts (the import), a ContactImport and AudienceMember rows. Raises NotFound,
    InvalidSendRequest (not an uploaded-list audience), AudienceLocked (not a draft),
    ImportFileRejected and ContactImportFailed (no audience written).
    """
    if not actor.sees_department(send_request.department_id):
        raise NotFound(f"Send request {send_request.public_id} not found.")
    if send_request.audience_kind != SendRequest.AudienceKind.UPLOAD:
        raise InvalidSendRequest.on_field(
            "audience_kind", "only a request with an uploaded list takes a file."
        )
    if send_request.status != Status.DRAFT:
        raise AudienceLocked(f"The audience of a {send_request.status} request cannot change.")
    # The import reports each row's contact; a spooled file keeps memory flat for large lists.
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", newline="", encoding="utf-8") as report:
        result = contact_import_run(
            department=send_request.department,
            file=getattr(file, "file", file),
            actor=actor,
            filename=filename or getattr(file, "name", "") or "",
            report=report,
        )
        report.seek(0)
        with transaction.atomic():
            # Against a submit in the meantime: the screening must read the audience it was shown.
            # Lock order 3 (surveys/gatekeeper/locks.py).
            locked = SendRequest.objects.select_for_update().get(pk=send_request.pk)
            if locked.status != Status.DRAFT:
                raise AudienceLocked(f"The audience of a {locked.status} request cannot change.")
            AudienceMember.objects.filter(send_request=locked).delete()
            members = audience_write(locked, _report_contacts(report))
    return AudienceUpload(send_request=locked, members=members, contact_import=result)


def report_rows(report) -> Iterator[tuple[int, str]]:
    """(row number, contact public id or "") of every row of the file, read back from the import's
    per-row report (which names contacts by public id only: it is the department's to download)."""
    reader = csv.reader(report)
    header = next(reader)
    row_at, contact_at = header.index("row"), header.index("contact_id")
    for record in reader:
        yield int(record[row_at]), record[contact_at]


def _report_contacts(report) -> Iterator[tuple[int, str]]:
    """The rows of report_rows that name a contact."""
    return ((row, contact) for row, contact in report_rows(report) if contact)


def audience_write(send_request: SendRequest, rows: Iterable[tuple[int, str]]) -> int:
    """Write an AudienceMember for each (row number, contact public id); returns how many."""
    rows = iter(rows)
    written = 0
    while batch := list(islice(rows, AUDIENCE_BATCH_ROWS)):
        contact_ids = dict(
            Contact.objects.filter(public_id__in={public_id for _, public_id in batch}).values_list(
                "public_id", "pk"
            )
        )
        members = [
            AudienceMember(
                send_request=send_request, contact_id=contact_ids[uuid.UUID(public_id)], row_number=row_number
            )
            for row_number, public_id in batch
        ]
        written += len(AudienceMember.objects.bulk_create(members))
    return written
