"""Ask-then-record: a department that sends with its own tool reserves a slot with the gatekeeper
before sending, then confirms the send (or cancels it).

A reservation is an external touch whose invitation is queued at the planned time: it counts from
that moment, exactly as one of our own reserved invitations does, so no screening or other
reservation can take the slot meanwhile. Confirming moves it through delivery's own moves (claimed,
sent, expired: the link is not ours); cancelling stops it (no longer a touch). One never confirmed
is released after RESERVATION_HOLD by the beat's reservation release (surveys/delivery/reservations.py
calls `external_reservations_release_expired`). Its request is completed from the start, so dispatch
and the sweeper never hand it to a channel.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department
from surveys.delivery.invitation_status import CLAIM, EXPIRE, MARK_SENT, STOPS
from surveys.errors import ReservationClosed
from surveys.external.homes import external_survey_get
from surveys.external.touches import TouchInput, external_touches_by_key, external_touches_create
from surveys.gatekeeper import locks
from surveys.gatekeeper.eligibility import Eligibility, eligibility_check
from surveys.models import ExternalTouch, Invitation

Status = Invitation.Status

# How long a slot is held for a send not yet confirmed: an ask-then-record caller confirms right after
# its tool sent, and an hour is room for a slow batch without holding a contact's place for a day.
RESERVATION_HOLD = dt.timedelta(hours=1)
RELEASE_REASON = "released: the send was not confirmed within the 1-hour hold of a reservation"
CANCEL_REASON = "cancelled: the department's tool did not send it"


@dataclass(frozen=True)
class Reservation:
    eligibility: Eligibility
    touch: ExternalTouch | None  # None: not allowed, nothing reserved
    created: bool = False  # False: not allowed, or a replay of a stored reservation


def external_reservation_create(*, actor: Actor, department: Department, touch: TouchInput) -> Reservation:
    """Ask the gatekeeper for `touch` (at its time) and, if allowed, reserve it: a queued invitation
    that counts from now. A replay of the same (tool, external id) returns the stored reservation.
    Writes under the contact's stripe lock, like a trigger, so the answer and the reservation are
    one decision. Raises NotFound for a contact outside the department (from eligibility)."""
    survey = external_survey_get(department=department, kind=touch.survey_kind)
    with transaction.atomic():
        # Lock order 4 (surveys/gatekeeper/locks.py): two deciders both seeing room and both adding one.
        locks.lock_contacts([touch.contact_id])
        eligibility = eligibility_check(
            actor=actor,
            department=department,
            survey=survey,
            channel=touch.channel,
            contact_id=touch.contact_id,
            at=touch.at,
        )
        if stored := external_touches_by_key(department=department, keys=[touch.key]).get(touch.key):
            return Reservation(eligibility=eligibility, touch=stored)
        if not eligibility.allowed:
            return Reservation(eligibility=eligibility, touch=None)
        made = external_touches_create(
            department=department,
            touches=[touch],
            surveys={touch.survey_kind: survey},
            status=Status.QUEUED,
            reserved_until=touch.at + RESERVATION_HOLD,
        )
    return Reservation(eligibility=eligibility, touch=made[touch.key], created=True)


def external_reservation_get(
    *, actor: Actor, department: Department | None, public_id: uuid.UUID
) -> ExternalTouch:
    """The external touch `public_id` of `department` (None: of any department the actor works
    for); NotFound outside them, so ids do not leak."""
    touches = ExternalTouch.objects.filter(public_id=public_id).select_related("invitation")
    touch = (touches if department is None else touches.filter(department=department)).first()
    if touch is None or not actor.sees_department(touch.department_id):
        raise NotFound(f"Reservation {public_id} not found.", extra={"reservation": str(public_id)})
    return touch


def external_reservation_confirm(
    *, touch: ExternalTouch, sent_at: dt.datetime | None = None, external_id: str = ""
) -> ExternalTouch:
    """Record the reserved send as made at `sent_at` (default now): queued → sending → sent →
    expired, delivery's own moves, in one transaction. Confirming twice changes nothing. Raises
    ReservationClosed if it was cancelled or released first."""
    now = timezone.now()
    sent_at = sent_at or now
    with transaction.atomic():
        mine = Invitation.objects.filter(pk=touch.invitation_id)
        # The conditional UPDATE is the claim: a release or cancel at the same moment matches nothing.
        if CLAIM.apply(mine, now=now):
            MARK_SENT.apply(mine, now=now, sent_at=sent_at, expires_at=sent_at)
            EXPIRE.apply(mine, now=now)
            fields = {"reserved_until": None}
            if external_id and not touch.external_id:
                fields["external_id"] = external_id
            ExternalTouch.objects.filter(pk=touch.pk).update(**fields)
    touch.refresh_from_db()
    touch.invitation.refresh_from_db()
    if touch.invitation.status == Status.CANCELLED:
        raise _closed(touch)
    return touch


def external_reservation_cancel(*, touch: ExternalTouch) -> ExternalTouch:
    """Release the slot: queued → cancelled, no longer a touch. Cancelling twice changes nothing.
    Raises ReservationClosed if the send was confirmed already."""
    now = timezone.now()
    with transaction.atomic():
        if STOPS[Status.CANCELLED].apply(
            Invitation.objects.filter(pk=touch.invitation_id), now=now, failure_reason=CANCEL_REASON
        ):
            ExternalTouch.objects.filter(pk=touch.pk).update(reserved_until=None)
    touch.refresh_from_db()
    touch.invitation.refresh_from_db()
    if touch.invitation.status != Status.CANCELLED:
        raise ReservationClosed(
            "The send was confirmed already; it stays recorded.", extra={"reservation": str(touch.public_id)}
        )
    return touch


def _closed(touch: ExternalTouch) -> ReservationClosed:
    return ReservationClosed(
        f"The reservation was released ({touch.invitation.failure_reason or 'cancelled'}); ask again.",
        extra={"reservation": str(touch.public_id)},
    )


def external_reservations_release_expired(*, now: dt.datetime | None = None) -> int:
    """Cancel the reservations not confirmed by their `reserved_until`; they stop counting as
    touches. Returns how many. Served by the external_touch_reserved index."""
    now = now or timezone.now()
    with transaction.atomic():
        due = ExternalTouch.objects.filter(reserved_until__lt=now)
        invitations = Invitation.objects.filter(pk__in=due.values("invitation_id"))
        released = STOPS[Status.CANCELLED].apply(invitations, now=now, failure_reason=RELEASE_REASON)
        # Confirmed or cancelled meanwhile by a call that had not cleared it yet: none is queued now.
        due.update(reserved_until=None)
    return released
