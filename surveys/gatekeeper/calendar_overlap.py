"""How many contacts the send requests of a calendar's range compete for: a contact a request
targets is one it decided (allowed or blocked) or invited, and two requests compete for each contact
both target. Reads only; part of the send calendar (surveys/gatekeeper/calendar.py).

Counted by PostgreSQL, a GROUP BY over the requests' decisions and invitations (found by their
(send_request, contact) unique indexes); no contact is loaded into Python.

- Pairs: two requests and the contacts both target, for requests the viewer may see (a CX lead:
  all; anyone else: pairs of their own departments' requests only).
- Per request the viewer may see: its audience, and how many of it a request of any other department
  in the range targets too. One number, with no word of which request, survey or department.

A request not screened yet has decided nobody: it competes for no one until its screening.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import QuerySet

from departments.actors import Actor
from surveys.models import Decision, Invitation

if TYPE_CHECKING:
    from surveys.gatekeeper.calendar import CalendarRequest


@dataclass(frozen=True)
class RequestPair:
    first: CalendarRequest
    second: CalendarRequest
    contacts: int  # targeted by both


@dataclass(frozen=True)
class RequestOverlap:
    send_request: CalendarRequest
    audience: int  # contacts it targets: decided or invited
    other_departments: int  # of them, targeted by another department's request in the range too


# The requests of the range (an ORM query's SQL) and, per request, the contacts it targets with the
# request's department. UNION, not UNION ALL: a contact decided and invited counts once.
_AUDIENCE = """
WITH requests (id, department_id) AS ({requests}),
targeted AS (
    SELECT send_request_id, contact_id FROM {decisions}
     WHERE send_request_id IN (SELECT id FROM requests)
    UNION
    SELECT send_request_id, contact_id FROM {invitations}
     WHERE send_request_id IN (SELECT id FROM requests)
),
audience AS (
    SELECT t.send_request_id, r.department_id, t.contact_id
      FROM targeted t JOIN requests r ON r.id = t.send_request_id
)"""

_PAIRS = """
SELECT a.send_request_id, b.send_request_id, count(*)
  FROM audience a
  JOIN audience b ON b.contact_id = a.contact_id AND b.send_request_id > a.send_request_id
 WHERE {a_shown} AND {b_shown}
 GROUP BY a.send_request_id, b.send_request_id
 ORDER BY count(*) DESC, a.send_request_id, b.send_request_id"""

# A contact is targeted by another department exactly when the range's requests that target it
# belong to more than one department.
_PER_REQUEST = """,
contact_departments AS (
    SELECT contact_id, count(DISTINCT department_id) AS departments FROM audience GROUP BY contact_id
)
SELECT a.send_request_id, count(*), count(*) FILTER (WHERE c.departments > 1)
  FROM audience a JOIN contact_departments c ON c.contact_id = a.contact_id
 WHERE {a_shown}
 GROUP BY a.send_request_id"""


def overlaps_in_range(
    in_range: QuerySet, *, actor: Actor, shown: dict[int, CalendarRequest]
) -> tuple[list[RequestPair], list[RequestOverlap]]:
    """The pairs of requests in `in_range` that compete for contacts and each shown request's
    audience and overlap with other departments. `shown`: the requests `actor` may see, by pk."""
    if not shown:
        return [], []
    pairs = [
        RequestPair(first=shown[first], second=shown[second], contacts=count)
        for first, second, count in _run(_PAIRS, in_range, actor)
    ]
    counted = {pk: (audience, others) for pk, audience, others in _run(_PER_REQUEST, in_range, actor)}
    overlaps = [RequestOverlap(request, *counted.get(pk, (0, 0))) for pk, request in shown.items()]
    return pairs, overlaps


def _run(query: str, in_range: QuerySet, actor: Actor) -> list[tuple]:
    requests_sql, params = in_range.values_list("pk", "department_id").order_by().query.sql_with_params()
    # Only rows of the viewer's departments' requests leave the database, unless a CX lead asks.
    where, where_params = {"a_shown": "TRUE", "b_shown": "TRUE"}, []
    if not actor.is_cx_lead:
        where = {"a_shown": "a.department_id = ANY(%s)", "b_shown": "b.department_id = ANY(%s)"}
        where_params = [sorted(actor.department_ids)] * (2 if "{b_shown}" in query else 1)
    sql = (_AUDIENCE + query).format(
        requests=requests_sql,
        decisions=Decision._meta.db_table,
        invitations=Invitation._meta.db_table,
        **where,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *where_params])
        return cursor.fetchall()
