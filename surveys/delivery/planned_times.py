"""Planned send times as the owner should read them: with the contact's quiet hours.

The gatekeeper plans a touch for a moment (Invitation.touched_at); delivery then defers a message
that would reach someone at night to the end of their quiet hours (quiet_hours.py, sending.py).
These helpers say so beforehand: the trigger API's `planned_at` and the pre-flight's count of
eligible contacts whose invitation waits for the morning. A contact's time zone is the one delivery
uses: the department's view of the person, else the person's own, else the site's. Reads only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Coalesce, NullIf

from contacts.models import DepartmentContact
from surveys.delivery.channels.content import zone_of
from surveys.delivery.quiet_hours import parse_clock, quiet_hours_end
from surveys.gatekeeper.screening import Audience, Send, screen_rows

ELIGIBLE_COUNT_SQL = """
        SELECT count(*) FROM verdicts_final WHERE reason = ''"""


def quiet_end(at: dt.datetime, time_zone: str) -> dt.datetime | None:
    """When the quiet hours `at` falls into end for someone in `time_zone`; None outside them."""
    return quiet_hours_end(
        at,
        time_zone=zone_of(time_zone),
        start=parse_clock(settings.QUIET_HOURS_START),
        end=parse_clock(settings.QUIET_HOURS_END),
    )


def contact_time_zone(*, contact_id: int, department_id: int) -> str:
    """The zone delivery uses for this contact of this department ("" for the site's)."""
    zone = (
        DepartmentContact.objects.filter(contact_id=contact_id, department_id=department_id)
        .annotate(zone=Coalesce(NullIf(F("time_zone"), Value("")), F("contact__time_zone")))
        .values_list("zone", flat=True)
        .first()
    )
    return zone or ""


def invitation_planned_at(*, planned: dt.datetime, contact_id: int, department_id: int) -> dt.datetime:
    """When an invitation planned for `planned` goes out: then, or at the end of the contact's
    quiet hours if `planned` falls into them."""
    if settings.QUIET_HOURS_START == settings.QUIET_HOURS_END:
        return planned
    zone = contact_time_zone(contact_id=contact_id, department_id=department_id)
    return quiet_end(planned, zone) or planned


@dataclass(frozen=True)
class QuietHold:
    contacts: int  # eligible now, but in their quiet hours at the planned time
    until: dt.datetime | None  # when the last of those quiet hours ends


def eligible_in_quiet_hours(
    *, send: Send, rules, audience: Audience, department_id: int, at: dt.datetime
) -> QuietHold:
    """How many of the audience's contacts eligible at `at` are asleep then, and until when. Only
    the contacts whose zone is in quiet hours at `at` are screened again (reads only)."""
    if settings.QUIET_HOURS_START == settings.QUIET_HOURS_END:
        return QuietHold(0, None)
    asleep: list[int] = []
    until = None
    for zone, contact_ids in _audience_by_zone(audience, department_id).items():
        ends = quiet_end(at, zone)
        if ends is not None:
            asleep += contact_ids
            until = max(until or ends, ends)
    if not asleep:
        return QuietHold(0, None)
    counted = screen_rows(
        send=send,
        rules=rules,
        audience=Audience(contact_ids=asleep),
        window_end=at,
        select=ELIGIBLE_COUNT_SQL,
    )
    contacts = sum(rows[0][0] for rows in counted if rows)
    return QuietHold(contacts, until if contacts else None)


def _audience_by_zone(audience: Audience, department_id: int) -> dict[str, list[int]]:
    """The audience's distinct contacts by the zone delivery would use for them."""
    params: dict = {"lo": -1, "hi": 2**62}
    inner = audience.sql(params)
    params["zone_department"] = department_id
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT coalesce(nullif(dc.time_zone, ''), c.time_zone, '') AS zone, array_agg(a.contact_id)
                FROM ({inner}) AS a JOIN contacts_contact c ON c.id = a.contact_id
                LEFT JOIN contacts_departmentcontact dc
                  ON dc.contact_id = a.contact_id AND dc.department_id = %(zone_department)s
                GROUP BY 1""",  # noqa: S608 — the audience's own SQL, no input
            params,
        )
        return {zone: list(ids) for zone, ids in cursor.fetchall()}
