"""Other tools' sends arriving while screenings decide for the same contacts (issue 16): never over a
rule. Reservations (ask-then-record) decide under the contacts' stripe locks like triggers, and
touches recorded from other tools take the same locks, so a screening counts each one or waits.

The race and its check are tests/surveys/gatekeeper/test_concurrency.py's: real threads released at
once by a barrier, then an SQL query written there looks for any window over a rule. The same race
without the lock must go wrong, which shows the test can fail.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from types import SimpleNamespace
from unittest import mock

import pytest
from django.utils import timezone

from departments.actors import Actor
from surveys.external import reservations
from surveys.external.reservations import external_reservation_confirm, external_reservation_create
from surveys.external.touches import TouchInput, external_touches_record
from surveys.gatekeeper.send_requests import send_request_screen
from surveys.models import AudienceMember, ExternalTouch, SendRequest
from tests.surveys.gatekeeper import test_concurrency as race

pytestmark = pytest.mark.django_db(transaction=True)

SCREENINGS = 6  # of race.THREADS; the rest are other tools' sends
RULES = race.RULE_SETS["1 per 30 days for everyone"]


def reserve_and_confirm(department, touch: TouchInput) -> None:
    """What an ask-then-record integration does: reserve, and confirm once its tool has sent."""
    actor = Actor(department_ids=frozenset([department.pk]))
    reservation = external_reservation_create(actor=actor, department=department, touch=touch)
    if reservation.touch is not None:
        external_reservation_confirm(touch=reservation.touch)


def record(department, touch: TouchInput) -> None:
    external_touches_record(department=department, touches=[touch])


def round_calls(world: race.World, contact_ids: list[int], rng: random.Random, number: int) -> list[Callable]:
    calls: list[Callable] = []
    for index in range(SCREENINGS):
        survey = rng.choice([s for s in world.surveys if s.department_id == world.departments[index % 3].pk])
        request = SendRequest.objects.create(
            department_id=survey.department_id, survey=survey, audience_kind="upload", status="submitted",
            earliest_send_at=timezone.now() - race.DAY, submitted_at=timezone.now(),
        )  # fmt: skip
        AudienceMember.objects.bulk_create(
            AudienceMember(send_request=request, contact_id=contact_id, row_number=row)
            for row, contact_id in enumerate(rng.sample(contact_ids, race.AUDIENCE), start=2)
        )
        calls.append(lambda pk=request.pk: send_request_screen(send_request_id=pk))
    for index in range(race.THREADS - SCREENINGS):
        department = world.departments[index % 3]
        kind = rng.choice(["relationship", "transactional"])
        external_id = f"{number}-{index}"
        if index % 4:
            touch = TouchInput(
                rng.choice(contact_ids), kind, "email", timezone.now(), "Typeform", external_id
            )
            calls.append(lambda d=department, t=touch: reserve_and_confirm(d, t))
        else:  # an old send, alone in its window (40 days apart; history is 45 days old): a fact
            # that counts but breaks no rule, and must neither block nor slip past a screening
            at = timezone.now() - (100 + 40 * index) * race.DAY
            touch = TouchInput(rng.choice(contact_ids), kind, "email", at, "Medallia", external_id)
            calls.append(lambda d=department, t=touch: record(d, t))
    rng.shuffle(calls)
    return calls


def run_race(*, lock: bool, rounds: int, stop_when_wrong: bool = False) -> race.RaceResult:
    world = race.build_world(RULES)
    rng = random.Random(16)
    result = race.RaceResult()
    # Only the reservations go without the lock: screenings still take it, so what goes wrong is
    # a reservation and a screening both seeing room.
    without_lock = mock.patch.object(reservations, "locks", SimpleNamespace(lock_contacts=lambda ids: None))
    with contextlib.nullcontext() if lock else without_lock:
        for number in range(rounds):
            contact_ids = race.round_contacts(world, rng)
            race.run_together(round_calls(world, contact_ids, rng, number), result)
            race.check_round(contact_ids, result)
            result.rounds += 1
            if stop_when_wrong and result.went_wrong:
                break
    return result


def test_other_tools_sends_during_screenings_never_over_survey():
    result = run_race(lock=True, rounds=5)

    assert not result.errors, result.errors
    assert result.over_limit == [], "contacts surveyed more often than the rule allows"
    assert result.double_open == [], "two open invitations for one survey"
    assert result.collisions == [], "deciders collided although the lock should serialise them"
    confirmed = ExternalTouch.objects.filter(source_tool="Typeform", invitation__status="expired")
    assert confirmed.exists(), "not vacuous: some reservations won their slot"
    assert result.invitations >= result.rounds, "not vacuous: screenings queued invitations"


def test_reservations_without_the_lock_over_survey():
    result = run_race(lock=False, rounds=12, stop_when_wrong=True)

    assert not result.errors, result.errors
    assert result.went_wrong, f"no over-surveying in {result.rounds} rounds without the lock"
