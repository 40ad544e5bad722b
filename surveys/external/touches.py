"""Recording touches other tools sent: each is a fact, stored whatever the rules say (the survey has
gone out), so the gatekeeper counts it for every later decision.

A touch is an Invitation, expired from the start: it has been sent (sent_at, touched_at: the time
given) and counts like any sent invitation, but its link is not ours, so it is not open (no
"already invited" for the placeholder survey, no reminder, no expiry run picks it up) and cannot be
answered through our pages. It lives under a completed send request of its own (audience
"external"), which dispatch, the sweeper and the reservations' release never visit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from departments.models import Department
from surveys.external.homes import external_survey_get
from surveys.gatekeeper import locks
from surveys.models import ExternalTouch, Invitation, SendRequest, Survey

# A bulk call records at most this many touches; more are sent in several calls (or a CSV import).
MAX_TOUCHES_PER_CALL = 1000


@dataclass(frozen=True)
class TouchInput:
    """One touch as the caller gave it, its contact already found in the department's book."""

    contact_id: int
    survey_kind: str
    channel: str
    at: dt.datetime
    source_tool: str
    external_id: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_tool, self.external_id)


@dataclass(frozen=True)
class Recorded:
    touch: ExternalTouch
    created: bool


def external_touches_record(*, department: Department, touches: list[TouchInput]) -> list[Recorded]:
    """Record the touches, one per (source tool, external id): a replay returns the stored touch
    (created False) and changes nothing. Returns one Recorded per input, in order.

    Writes a completed send request, an expired (sent) invitation and an ExternalTouch per new
    touch, in one transaction under the contacts' stripe locks, so a screening deciding for the same
    contacts counts them all or none. Callers check MAX_TOUCHES_PER_CALL and the contacts.
    """
    surveys = {kind: external_survey_get(department=department, kind=kind) for kind in _kinds(touches)}
    try:
        return _record(department, touches, surveys)
    except IntegrityError:
        # The same (tool, id) recorded by a concurrent call between our read and our insert (for
        # another contact, so its lock did not serialise us): read theirs now.
        return _record(department, touches, surveys)


def _kinds(touches: list[TouchInput]) -> list[str]:
    return sorted({touch.survey_kind for touch in touches})


def _record(department: Department, touches: list[TouchInput], surveys: dict[str, Survey]) -> list[Recorded]:
    with transaction.atomic():
        # Lock order 4 (surveys/gatekeeper/locks.py): the race with a screening counting these contacts.
        locks.lock_contacts(sorted({touch.contact_id for touch in touches}))
        stored = external_touches_by_key(department=department, keys=[touch.key for touch in touches])
        new: dict[tuple[str, str], TouchInput] = {}
        for touch in touches:
            if touch.key not in stored:
                new.setdefault(touch.key, touch)
        made = external_touches_create(
            department=department,
            touches=list(new.values()),
            surveys=surveys,
            status=Invitation.Status.EXPIRED,
        )
        stored.update(made)
    return [Recorded(touch=stored[touch.key], created=touch.key in made) for touch in touches]


def external_touches_by_key(
    *, department: Department, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], ExternalTouch]:
    """The department's stored touches with these (source tool, external id), with their invitation."""
    wanted = {key for key in keys if key[1]}
    if not wanted:
        return {}
    tools = {tool for tool, _ in wanted}
    ids = {external_id for _, external_id in wanted}
    found = ExternalTouch.objects.filter(
        department=department, source_tool__in=tools, external_id__in=ids
    ).select_related("invitation")
    return {(t.source_tool, t.external_id): t for t in found if (t.source_tool, t.external_id) in wanted}


def external_touches_create(
    *,
    department: Department,
    touches: list[TouchInput],
    surveys: dict[str, Survey],
    status: str,
    reserved_until: dt.datetime | None = None,
) -> dict[tuple[str, str], ExternalTouch]:
    """A send request, an invitation in `status` (expired: sent; queued: reserved until
    `reserved_until`) and an ExternalTouch per touch; the caller holds the contacts' locks.
    Returns them by key."""
    now = timezone.now()
    sent = status != Invitation.Status.QUEUED
    requests = SendRequest.objects.bulk_create(
        SendRequest(
            department=department,
            survey=surveys[touch.survey_kind],
            channel=touch.channel,
            audience_kind=SendRequest.AudienceKind.EXTERNAL,
            earliest_send_at=touch.at,
            purpose=f"Sent by {touch.source_tool}"[:500],
            status=SendRequest.Status.COMPLETED,
            submitted_at=now,
            screened_at=now,
        )
        for touch in touches
    )
    invitations = Invitation.objects.bulk_create(
        _invitation(touch, request, surveys[touch.survey_kind], status=status, sent=sent)
        for touch, request in zip(touches, requests, strict=True)
    )
    made = ExternalTouch.objects.bulk_create(
        ExternalTouch(
            department=department,
            source_tool=touch.source_tool,
            external_id=touch.external_id,
            invitation=invitation,
            reserved_until=reserved_until,
            created_at=now,
        )
        for touch, invitation in zip(touches, invitations, strict=True)
    )
    return {touch.key: external for touch, external in zip(touches, made, strict=True)}


def _invitation(
    touch: TouchInput, request: SendRequest, survey: Survey, *, status: str, sent: bool
) -> Invitation:
    return Invitation(
        send_request=request,
        survey=survey,
        survey_family_id=survey.family_id,
        department_id=request.department_id,
        survey_kind=touch.survey_kind,
        contact_id=touch.contact_id,
        channel=touch.channel,
        status=status,
        touched_at=touch.at,
        sent_at=touch.at if sent else None,
        # Expired at its own send: no expiry run or reminder ever picks it up.
        expires_at=touch.at if sent else None,
    )
