"""Priority arbitration: a request of higher priority takes the place of lower-priority
reservations that have not been handed to a channel yet (issue 14).

After a request's screening has decided every contact, in the same transaction and under the same
stripes (surveys/gatekeeper/locks.py), each contact it refused for a frequency rule is looked at
again without the queued, not yet dispatched invitations of requests of lower priority (equal
priorities stay first come, first served). If leaving some of those out lets the contact be asked
now, or planned inside the request's window, the fewest such reservations, lowest priority and
latest first, make way: each is re-planned at its own next eligible time if its request's window
allows, or else cancelled, with a reason its department reads that names no other department and
no survey. The invitation rows are locked SKIP LOCKED: one a worker is claiming right now is sent,
not displaced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from contacts.models import Contact, DepartmentContact
from surveys.delivery.invitation_status import invitation_stop
from surveys.gatekeeper import screening
from surveys.gatekeeper.rules import Rule, Send, Touch, free_from, planned_for, rules_verdict, rules_views
from surveys.models import Decision, Invitation, SendRequest
from surveys.models.gatekeeper import request_month_of

DISPLACED_REASON = "made way for a higher-priority survey"
REPLANNED_REASON = "re-planned: made way for a higher-priority survey"


@dataclass(frozen=True)
class Reservation:
    """A counted touch of a contact, and whether (and how readily) it may make way."""

    invitation_id: int
    touch: Touch
    send_request_id: int
    priority: int | None  # None: may not make way (sent, dispatched, or not of lower priority)
    latest_send_at: dt.datetime | None


@dataclass(frozen=True)
class Taken:
    """A contact the request took from lower-priority reservations: asked at `at`."""

    contact_id: int
    rule_id: int
    at: dt.datetime
    planned: bool


def slots_take(send_request: SendRequest, *, send: screening.Send, rules: Sequence[Rule]) -> list[Taken]:
    """Give `send_request`'s refused contacts the slots lower-priority reservations hold, where that
    lets them be asked (`rules`: every active rule). Returns what was taken; the caller holds every
    stripe."""
    movable = _reservations(send_request)
    if not movable:
        return []
    contact_ids = list(movable)
    # The rule that refused each of them; not every refused contact's (millions in a large audience).
    refused = dict(
        Decision.objects.of_request(send_request)
        .filter(allowed=False, reason="rule", contact_id__in=contact_ids)
        .values_list("contact_id", "rule_id")
    )
    window_end = send_request.latest_send_at or send.at
    taken = []
    known = _known_since(send.department_id, contact_ids)
    for contact_id, reservations in movable.items():
        plan = displacement_plan(
            rules, send=send, reservations=reservations, known_since=known[contact_id], window_end=window_end
        )
        if plan is None:
            continue
        making_way, asked_at = plan
        newcomer = Touch(asked_at, send.department_id, send.survey_kind, send.channel)
        _make_way(making_way, others=reservations, rules=rules, newcomer=newcomer)
        taken.append(Taken(contact_id, refused[contact_id], asked_at, planned=asked_at != send.at))
    if taken:
        _record(send_request, send, taken)
    return taken


def _known_since(department_id: int, contact_ids: list[int]) -> dict[int, dt.datetime]:
    """When the department came to know each contact (its view, else the person), as the screening
    reads it for a new contact's grace: two queries for all of them."""
    known = dict(Contact.objects.filter(pk__in=contact_ids).values_list("pk", "created_at"))
    views = DepartmentContact.objects.filter(department_id=department_id, contact_id__in=contact_ids)
    return known | dict(views.values_list("contact_id", "created_at"))


def displacement_plan(
    rules: Sequence[Rule],
    *,
    send: Send,
    reservations: Sequence[Reservation],
    known_since: dt.datetime,
    window_end: dt.datetime,
) -> tuple[list[Reservation], dt.datetime] | None:
    """Which reservations make way, fewest first, and when the contact is then asked; None if
    none can help. Pure: the lowest priority, then the latest, is taken out first, until the send is
    allowed or plannable; then each taken out is put back if the send still fits without it."""

    def fits(left_out: list[Reservation]) -> dt.datetime | None:
        ids = {r.invitation_id for r in left_out}
        touches = [r.touch for r in reservations if r.invitation_id not in ids]
        verdict = rules_verdict(rules, send=send, touches=touches, contact_known_since=known_since)
        return send.at if verdict.allowed else planned_for(verdict, window_end=window_end)

    candidates = sorted(
        (r for r in reservations if r.priority is not None),
        key=lambda r: (r.priority, -r.touch.touched_at.timestamp()),
    )
    making_way: list[Reservation] = []
    for reservation in candidates:
        if fits(making_way) is not None:
            break
        making_way.append(reservation)
    if fits(making_way) is None:
        return None
    for reservation in reversed(list(making_way)):
        if fits([r for r in making_way if r is not reservation]) is not None:
            making_way.remove(reservation)
    return making_way, fits(making_way)


def _reservations(send_request: SendRequest) -> dict[int, list[Reservation]]:
    """Every counted touch of each contact the request refused for a rule who has a reservation
    able to make way: queued, not dispatched, of a live request of lower priority (one still being
    screened too: its committed batches' invitations are reservations like any other). Those are
    locked, SKIP LOCKED. Driven by the live requests (few, and their invitations by the request's index),
    not by the refused contacts (many, each a probe into the whole history)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT i.id FROM surveys_sendrequest r JOIN surveys_invitation i ON i.send_request_id = r.id
               WHERE r.status IN ('submitted', 'screened', 'awaiting_approval', 'sending')
                 AND r.priority < %(priority)s
                 AND r.id <> %(request)s
                 AND i.status = 'queued' AND i.dispatched_at IS NULL
                 AND EXISTS (SELECT 1 FROM surveys_decision d
                             WHERE d.send_request_id = %(request)s AND d.request_month = %(month)s
                               AND d.contact_id = i.contact_id AND NOT d.allowed AND d.reason = 'rule')
               ORDER BY i.id FOR UPDATE OF i SKIP LOCKED""",
            {
                "priority": send_request.priority,
                "request": send_request.pk,
                "month": request_month_of(send_request.created_at),
            },
        )
        movable = {row[0] for row in cursor.fetchall()}
    if not movable:
        return {}
    counted = Invitation.objects.filter(
        contact_id__in=Invitation.objects.filter(pk__in=movable).values("contact_id")
    ).exclude(status__in=Invitation.NOT_COUNTED)
    found: dict[int, list[Reservation]] = {}
    for invitation in counted.select_related("send_request").only(
        *TOUCH_FIELDS, "send_request__priority", "send_request__latest_send_at"
    ):
        touch = Touch(*(getattr(invitation, name) for name in TOUCH_FIELDS[1:]))
        request = invitation.send_request
        found.setdefault(invitation.contact_id, []).append(
            Reservation(
                invitation_id=invitation.pk,
                touch=touch,
                send_request_id=request.pk,
                priority=request.priority if invitation.pk in movable else None,
                latest_send_at=request.latest_send_at,
            )
        )
    return found


# The invitation's fields a Touch is made of, in Touch's order, after the contact.
TOUCH_FIELDS = ("contact_id", "touched_at", "department_id", "survey_kind", "channel", "responded_at")


def _make_way(
    making_way: list[Reservation], *, others: list[Reservation], rules: Sequence[Rule], newcomer: Touch
) -> None:
    """Re-plan each reservation making way at its own next eligible time, the newcomer counted, if
    its request's window allows; cancel it otherwise."""
    now = timezone.now()
    leaving = {r.invitation_id for r in making_way}
    touches = [r.touch for r in others if r.invitation_id not in leaving] + [newcomer]
    known_since = dt.datetime.min.replace(tzinfo=dt.UTC)  # the moving request reached them before
    for reservation in making_way:
        moved = reservation.touch
        start = max(now, moved.touched_at)
        send = Send(moved.department_id, moved.survey_kind, moved.channel, at=start)
        views = rules_views(rules, send=send, touches=touches, contact_known_since=known_since)
        again = free_from(views, start)
        if reservation.latest_send_at is not None and again > reservation.latest_send_at:
            invitation_stop(
                invitation_id=reservation.invitation_id,
                to=Invitation.Status.CANCELLED,
                reason=DISPLACED_REASON,
                now=now,
            )
            continue
        Invitation.objects.filter(pk=reservation.invitation_id, status=Invitation.Status.QUEUED).update(
            touched_at=again, send_after=None, failure_reason=REPLANNED_REASON, updated_at=now
        )
        touches.append(Touch(again, moved.department_id, moved.survey_kind, moved.channel))


def _record(send_request: SendRequest, send: screening.Send, taken: list[Taken]) -> None:
    """The request's decisions for the contacts it took a slot for, and their invitations."""
    for slot in taken:
        decided = Decision.objects.of_request(send_request).filter(contact_id=slot.contact_id)
        if slot.planned:  # allowed later: the rule's block still explains the wait
            decided.update(allowed=True, next_eligible_at=slot.at)
        else:
            decided.update(
                allowed=True,
                reason="",
                rule=None,
                rule_version=None,
                next_eligible_at=None,
                last_touch_at=None,
                last_touch_same_department=None,
            )
    Invitation.objects.bulk_create(
        Invitation(
            send_request=send_request,
            survey_id=send.survey_id,
            survey_family_id=send.survey_family_id,
            department_id=send.department_id,
            survey_kind=send.survey_kind,
            contact_id=slot.contact_id,
            channel=send.channel,
            status=Invitation.Status.QUEUED,
            touched_at=slot.at,
        )
        for slot in taken
    )
