"""The pre-flight's blocked list, before submitting: one CSV line per contact a draft request would not
reach within its window (why, and when they are eligible again as the viewer may see it), and one per
contact named by more than one audience row. Reads only, like the pre-flight itself.

Streamed, not built in memory: the same screening statement as the pre-flight, closed by a SELECT
of its blocked rows, runs batch by batch (screening.screen_rows) and each batch's lines leave as they
are written, so a 100,000-contact audience costs the memory of one batch. Each contact is named by
the id the API shows (random) and by the identities its own department supplied, in the
department's spelling; nothing in it comes from another department's view of the person. Lines are
sorted by those identifiers within each batch, never by internal ids.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator

from django.utils import timezone

from contacts.models import Contact, Identity
from contacts.supplies import as_supplied, supplied_by
from departments.actors import Actor
from surveys.errors import InvalidSendRequest
from surveys.gatekeeper.active_rules import rules_active
from surveys.gatekeeper.audiences import audience_of
from surveys.gatekeeper.decisions import next_eligible_shown
from surveys.gatekeeper.screening import screen_rows
from surveys.gatekeeper.send_requests import planned_send_at, screening_send
from surveys.models import FrequencyRule, Reason, SendRequest

# Blocked and not planned inside the window, or named by more than one row.
BLOCKED_ROWS_SQL = """
        SELECT contact_id, reason, rule_id, next_eligible_at, duplicates FROM verdicts_final
        WHERE (reason <> '' AND planned_at IS NULL) OR duplicates > 0"""

HEADER = ["contact", "identifiers", "reason", "reason_label", "next_eligible_at", "duplicate_rows"]


def blocked_list_csv(
    *, send_request: SendRequest, viewer: Actor | None, now: dt.datetime | None = None
) -> Iterator[str]:
    """The blocked list as CSV text, piece by piece: a header, then each batch's lines. Raises
    InvalidSendRequest for a request that is no longer a draft, and SendWindowClosed as the
    pre-flight does, when called (before any piece is produced)."""
    if send_request.status != SendRequest.Status.DRAFT:
        raise InvalidSendRequest(
            "The blocked list is for a draft; a submitted request's decisions explain every contact.",
            extra={"status": send_request.status},
        )
    now = now or timezone.now()
    at = planned_send_at(send_request, now=now)
    batches = screen_rows(
        send=screening_send(send_request, at=at),
        rules=rules_active(),
        audience=audience_of(send_request),
        window_end=send_request.latest_send_at or at,
        select=BLOCKED_ROWS_SQL,
    )
    rule_names = dict(FrequencyRule.objects.values_list("pk", "name"))
    return _pieces(batches, send_request.department_id, viewer=viewer, rule_names=rule_names)


def _pieces(batches: Iterator[list[tuple]], department_id: int, *, viewer: Actor | None, rule_names: dict):
    yield "\ufeff" + _csv_text([HEADER])  # the byte order mark: Excel then reads UTF-8 as UTF-8
    for rows in batches:
        if rows:
            lines = _lines(rows, department_id, viewer=viewer, rule_names=rule_names)
            yield _csv_text(lines)


def _lines(rows: list[tuple], department_id: int, *, viewer: Actor | None, rule_names: dict) -> list[list]:
    contact_ids = [row[0] for row in rows]
    public_ids = dict(Contact.objects.filter(pk__in=contact_ids).values_list("pk", "public_id"))
    identifiers = _identifiers(contact_ids, department_id)
    lines = []
    for contact_id, reason, rule_id, next_eligible_at, duplicates in rows:
        named = [str(public_ids[contact_id]), identifiers.get(contact_id, "")]
        if reason:
            label = f"Rule “{rule_names.get(rule_id, rule_id)}”" if rule_id else Reason(reason).label
            shown = next_eligible_shown(next_eligible_at, viewer=viewer)
            lines.append([*named, reason, label, shown.isoformat() if shown else "", duplicates or ""])
        if duplicates:
            label = f"{Reason.DUPLICATE_IN_AUDIENCE.label}: {duplicates} more row(s), asked once"
            lines.append([*named, Reason.DUPLICATE_IN_AUDIENCE, label, "", duplicates])
    return sorted(lines, key=lambda line: (line[1], line[2]))


def _identifiers(contact_ids: list[int], department_id: int) -> dict[int, str]:
    """Each contact's identities its department supplied, as the department wrote them, joined by "; "."""
    rows = (
        Identity.objects.filter(supplied_by([department_id]), contact_id__in=contact_ids)
        .annotate(shown=as_supplied([department_id]))
        .order_by("shown")
        .values_list("contact_id", "shown")
    )
    identifiers: dict[int, list[str]] = {}
    for contact_id, shown in rows:
        identifiers.setdefault(contact_id, []).append(shown)
    return {contact_id: "; ".join(values) for contact_id, values in identifiers.items()}


def _csv_text(lines: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in lines:
        writer.writerow([_safe(value) for value in line])
    return buffer.getvalue()


# As results/exports.py: a cell starting with one of these would run as a formula in a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: object) -> object:
    """A cell a spreadsheet would run as a formula is written as text (a phone's "+" too)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value
