"""Invitation status moves: the map (Invitation.TRANSITIONS) holds exactly the moves the code makes,
and each helper of surveys/delivery/invitation_status.py moves only the rows the map lets it move —
in the database, whatever status the row is in."""

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from django.utils import timezone

from surveys.delivery import invitation_status
from surveys.delivery.invitation_status import (
    AWAITING_ANSWER,
    Move,
    invitation_mark_failed,
    invitation_mark_opened,
    invitation_mark_sent,
    invitation_stop,
    invitation_unmark_sent,
    invitations_cancel_queued,
    invitations_expire_due,
    invitations_mark_sending,
    invitations_mark_sent,
    invitations_release,
    invitations_release_expired_reservations,
    invitations_requeue_stuck,
    sources,
)
from surveys.delivery.sending import invitation_claim
from surveys.errors import AlreadyAnswered, InvalidStatusTransition, InvitationExpired
from surveys.models import Invitation
from surveys.public.responses import SUBMIT_SQL, response_submit
from tests import factories

Status = Invitation.Status
TRANSITIONS = Invitation.TRANSITIONS
EVERY_STATUS = list(Status.values)
OPEN = {Status.QUEUED, Status.SENDING, Status.SENT, Status.DELIVERED, Status.OPENED}


@pytest.fixture(autouse=True)
def no_quiet_hours(settings):
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"


def code_moves() -> set[tuple[str, str]]:
    """Every (from, to) the helpers' moves make."""
    moves = [value for value in vars(invitation_status).values() if isinstance(value, Move)]
    moves += invitation_status.STOPS.values()
    return {(source, move.to) for move in moves for source in move.sources}


def test_the_map_holds_exactly_the_moves_the_code_makes():
    in_the_map = {(source, to) for source, targets in TRANSITIONS.items() for to in targets}

    assert set(TRANSITIONS) == set(EVERY_STATUS)
    assert code_moves() == in_the_map


def test_final_statuses_never_move_again():
    for final in (Status.ANSWERED, Status.FAILED, Status.CANCELLED, Status.EXPIRED, Status.BOUNCED):
        assert TRANSITIONS[final] == set()


def test_the_survey_page_and_the_expiry_read_their_statuses_from_the_map():
    # Answerable while open (the invitation_one_open_per_survey constraint's statuses); expired from
    # what awaits an answer (the statuses reminders go to and the expiry's index holds).
    assert set(sources(Status.ANSWERED)) == set(Invitation.OPEN) == OPEN
    assert set(sources(Status.EXPIRED)) == set(AWAITING_ANSWER)
    assert "status IN ('queued', 'sending', 'sent', 'delivered', 'opened')" in SUBMIT_SQL
    assert "status IN ('sending')" in invitation_status.MARK_SENT_SQL


@pytest.mark.parametrize(
    ("to", "from_"),
    [
        (Status.SENT, (Status.ANSWERED,)),
        (Status.SENDING, (Status.CANCELLED,)),
        (Status.QUEUED, (Status.SENT,)),
        (Status.DELIVERED, ()),  # nothing may become delivered yet
    ],
)
def test_a_move_the_map_forbids_cannot_even_be_written(to, from_):
    with pytest.raises(InvalidStatusTransition):
        Move(to, from_)


def test_a_stop_is_cancelled_or_failed_and_nothing_else():
    with pytest.raises(InvalidStatusTransition):
        invitation_stop(invitation_id=1, to=Status.ANSWERED, reason="", now=timezone.now())


# The table: each helper, tried on an invitation in every status. `moves` lists by hand the statuses
# it must move (every other must stay as it was); the test checks they are the map's.

NOW = timezone.now()
LONG_AGO = NOW - dt.timedelta(days=1)


@dataclass(frozen=True)
class Case:
    name: str
    call: Callable[[Invitation, dt.datetime], object]
    to: str
    moves: set[str]
    fields: dict = field(default_factory=dict)  # set on every invitation first
    via: tuple[str, ...] = ()  # the statuses a helper of more than one move passes through

    def steps(self, status: str) -> list[tuple[str, str]]:
        path = [status, *(step for step in self.via if step != status), self.to]
        return list(pairwise(path))


def answer(invitation: Invitation, now: dt.datetime) -> None:
    with contextlib.suppress(AlreadyAnswered, InvitationExpired):  # its refusals
        response_submit(invitation=invitation, answers={1: 9}, now=now)


def release(attempted: bool) -> Callable[[Invitation, dt.datetime], object]:
    return lambda i, now: invitations_release(
        invitation_ids=[i.pk], reason="451 try later", attempted=attempted
    )


CASES = [
    Case(
        "claim",
        lambda i, now: invitation_claim(invitation_ids=[i.pk], now=now),
        Status.SENDING,
        {Status.QUEUED},
    ),
    Case(
        "mark sending",
        lambda i, now: invitations_mark_sending(invitation_ids=[i.pk], now=now),
        Status.SENDING,
        {Status.QUEUED},
    ),
    Case(
        "stop cancelled",
        lambda i, now: invitation_stop(
            invitation_id=i.pk, to=Status.CANCELLED, reason="opted_out: x", now=now
        ),
        Status.CANCELLED,
        {Status.QUEUED},
    ),
    Case(
        "stop failed",
        lambda i, now: invitation_stop(invitation_id=i.pk, to=Status.FAILED, reason="attempts: x", now=now),
        Status.FAILED,
        {Status.QUEUED},
    ),
    Case(
        "cancel queued",
        lambda i, now: invitations_cancel_queued(send_request_id=i.send_request_id, now=now),
        Status.CANCELLED,
        {Status.QUEUED},
    ),
    Case(
        "release expired reservations",
        lambda i, now: invitations_release_expired_reservations(
            now=now, hold_before=NOW, window_reason="window", hold_reason="hold"
        ),
        Status.CANCELLED,
        {Status.QUEUED},
    ),
    Case(
        "mark sent",
        lambda i, now: invitation_mark_sent(invitation_id=i.pk, expires_at=now + dt.timedelta(days=14))(),
        Status.SENT,
        {Status.SENDING},
    ),
    Case(
        "mark sent (demo history)",
        lambda i, now: invitations_mark_sent(send_request_id=i.send_request_id, sent_at=now, expires_at=now),
        Status.SENT,
        {Status.QUEUED, Status.SENDING},
        via=(Status.SENDING,),
    ),
    Case(
        "unmark sent",
        lambda i, now: invitation_unmark_sent(invitation_id=i.pk),
        Status.SENDING,
        {Status.SENT},
    ),
    Case(
        "mark failed",
        lambda i, now: invitation_mark_failed(invitation_id=i.pk, reason="550 no such user"),
        Status.FAILED,
        {Status.SENDING},
    ),
    # A sending invitation was claimed at least once: attempts ≥ 1.
    Case("release", release(attempted=True), Status.QUEUED, {Status.SENDING}, {"attempts": 1}),
    Case("release untried", release(attempted=False), Status.QUEUED, {Status.SENDING}, {"attempts": 1}),
    Case(
        "release out of attempts", release(attempted=True), Status.FAILED, {Status.SENDING}, {"attempts": 99}
    ),
    Case(
        "requeue stuck",
        lambda i, now: invitations_requeue_stuck(
            invitations=Invitation.objects.filter(send_request_id=i.send_request_id),
            stuck_before=NOW,
            now=now,
        ),
        Status.QUEUED,
        {Status.SENDING},
        {"updated_at": LONG_AGO},
    ),
    Case(
        "expire due",
        lambda i, now: invitations_expire_due(now=now),
        Status.EXPIRED,
        {Status.SENT, Status.DELIVERED, Status.OPENED},
        {"expires_at": LONG_AGO},
    ),
    Case(
        "mark opened",
        lambda i, now: invitation_mark_opened(invitation_id=i.pk, now=now),
        Status.OPENED,
        {Status.SENT, Status.DELIVERED},
    ),
    Case("answer", answer, Status.ANSWERED, OPEN),
]


def invitations_in_every_status(support, **fields) -> dict[str, Invitation]:
    """One invitation in each status, each to a contact of its own (one open invitation per survey
    and contact), all of one request being sent."""
    send_request = factories.SendRequestFactory(department=support, status="sending")
    survey = send_request.survey
    invitations = {}
    for status in EVERY_STATUS:
        contact = factories.known_contact(support, email=f"{status}@example.com")
        invitation = Invitation.objects.create(
            send_request=send_request,
            survey=survey,
            survey_family_id=survey.family_id,
            department=support,
            survey_kind=survey.kind,
            contact=contact,
            channel="email",
            status=status,
            touched_at=LONG_AGO,
        )
        Invitation.objects.filter(pk=invitation.pk).update(**fields)  # updated_at is auto_now in save()
        invitation.refresh_from_db()
        invitations[status] = invitation
    return invitations


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_each_helper_moves_only_what_the_map_allows(support, case):
    invitations = invitations_in_every_status(support, **case.fields)

    for invitation in invitations.values():
        case.call(invitation, timezone.now())

    after = dict(
        Invitation.objects.filter(send_request=invitations[Status.QUEUED].send_request).values_list(
            "pk", "status"
        )
    )
    assert {status: after[i.pk] for status, i in invitations.items()} == {
        status: case.to if status in case.moves else status for status in EVERY_STATUS
    }
    for status in case.moves:
        assert all(to in TRANSITIONS[source] for source, to in case.steps(status)), status


def test_an_answered_invitation_stays_answered_whatever_delivery_does(support):
    answered = invitations_in_every_status(support, expires_at=LONG_AGO)[Status.ANSWERED]
    now = timezone.now()

    assert invitation_mark_sent(invitation_id=answered.pk, expires_at=now)() is False
    assert invitation_mark_failed(invitation_id=answered.pk, reason="550") is False
    assert invitation_stop(invitation_id=answered.pk, to=Status.CANCELLED, reason="x", now=now) is False
    assert invitations_cancel_queued(send_request_id=answered.send_request_id, now=now) == 1  # the queued one
    assert invitations_expire_due(now=now) == 3  # the sent, delivered and opened ones

    answered.refresh_from_db()
    assert answered.status == Status.ANSWERED


def test_a_cancelled_invitation_cannot_be_claimed(support):
    cancelled = invitations_in_every_status(support)[Status.CANCELLED]

    claim = invitation_claim(invitation_ids=[cancelled.pk], now=timezone.now())

    cancelled.refresh_from_db()
    assert claim.outgoing == [] and cancelled.status == Status.CANCELLED and cancelled.attempts == 0
