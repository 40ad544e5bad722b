"""What a contact's consent records add up to — pure, no database.

The records are a history: read in order, each one that applies to the department and channel in
question changes the state. An opt-out blocks until a later opt-in; an opt-in clears earlier
opt-outs and snoozes of any scope that applies; a snooze blocks until its end. So the person's
latest word wins, and "never for anyone" followed by "department X may write again" lets only X
write again. The bulk SQL in the gatekeeper applies the same semantics and is tested against this.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class ConsentRecord(Protocol):
    department_id: int | None
    channel: str
    kind: str
    until: dt.datetime | None
    created_at: dt.datetime


@dataclass(frozen=True)
class ConsentVerdict:
    allowed: bool
    reason: str = ""  # "opted_out" or "snoozed"
    until: dt.datetime | None = None  # end of a snooze; None for an opt-out (it has no end)


ALLOWED = ConsentVerdict(allowed=True)


def record_applies(record: ConsentRecord, *, department_id: int | None, channel: str) -> bool:
    return record.department_id in (None, department_id) and record.channel in ("", channel)


def consent_decide(
    records: Iterable[ConsentRecord], *, department_id: int | None, channel: str, at: dt.datetime
) -> ConsentVerdict:
    """May we contact this person for `department_id` on `channel` at time `at`?"""
    opted_out = False
    snoozed_until: dt.datetime | None = None
    for record in sorted(records, key=lambda r: r.created_at):
        if record.created_at > at or not record_applies(record, department_id=department_id, channel=channel):
            continue
        if record.kind == "opt_out":
            opted_out = True
        elif record.kind == "opt_in":
            opted_out = False
            snoozed_until = None
        elif record.kind == "snooze" and record.until is not None:
            snoozed_until = max(snoozed_until or record.until, record.until)
    if opted_out:
        return ConsentVerdict(allowed=False, reason="opted_out")
    if snoozed_until is not None and snoozed_until > at:
        return ConsentVerdict(allowed=False, reason="snoozed", until=snoozed_until)
    return ALLOWED
