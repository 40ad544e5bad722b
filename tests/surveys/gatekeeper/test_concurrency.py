"""Never over-survey, even when everyone asks at once (PRODUCT.md §4.1, §4.3).

Real threads, each with its own database connection, start together at a barrier: screenings of
send requests from three departments with overlapping audiences, and single-contact triggers on
the same contacts. Afterwards an SQL query written here — not the gatekeeper's — looks for any
contact with more counted touches in some rule's window than the rule allows, and for any second
open invitation for one survey. The same race without the contacts' lock must go wrong, which
shows these tests can fail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from unittest import mock

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from contacts.models import Contact, Identity
from surveys.gatekeeper import locks
from surveys.gatekeeper.send_requests import send_request_screen
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import AudienceMember, FrequencyRule, Invitation, SendRequest, Survey
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 20
SCREENINGS = 9  # of the THREADS: three send requests per department; the rest are triggers
CONTACTS = 10  # fresh ones per round, so rounds do not block each other
AUDIENCE = 6  # contacts per send request, drawn from the round's CONTACTS: audiences overlap
ROUNDS = 6
DAY = dt.timedelta(days=1)

RULE_SETS = {
    "1 per 30 days for everyone": [{"max_touches": 1, "window": 30 * DAY}],
    "2 per 90 days, and 1 transactional per 30 days": [
        {"max_touches": 2, "window": 90 * DAY},
        {"max_touches": 1, "window": 30 * DAY, "scope_survey_kind": "transactional"},
    ],
}

OVER_LIMIT_SQL = """
    -- For each counted touch t, the counted touches u in the window [t, t + window) that starts
    -- with it, under each active rule's scope; any such window holding more than the limit is a
    -- violation. (The rules here all count by invitation time.)
    SELECT r.id, t.contact_id, t.touched_at, count(*) AS touches, r.max_touches
    FROM surveys_frequencyrule r
    JOIN surveys_invitation t ON t.contact_id = ANY(%(contacts)s)
    JOIN surveys_invitation u ON u.contact_id = t.contact_id
        AND u.touched_at >= t.touched_at AND u.touched_at < t.touched_at + r."window"
    WHERE r.is_active
      AND t.status NOT IN ('cancelled', 'failed') AND u.status NOT IN ('cancelled', 'failed')
      AND (r.scope_department_id IS NULL
           OR (t.department_id = r.scope_department_id AND u.department_id = r.scope_department_id))
      AND (r.scope_survey_kind = ''
           OR (t.survey_kind = r.scope_survey_kind AND u.survey_kind = r.scope_survey_kind))
      AND (r.scope_channel = '' OR (t.channel = r.scope_channel AND u.channel = r.scope_channel))
    GROUP BY r.id, r.max_touches, t.id, t.contact_id, t.touched_at
    HAVING count(*) > r.max_touches
"""

DOUBLE_OPEN_SQL = """
    SELECT contact_id, survey_family_id, count(*)
    FROM surveys_invitation
    WHERE contact_id = ANY(%(contacts)s) AND status IN ('queued', 'sending', 'sent', 'delivered', 'opened')
    GROUP BY contact_id, survey_family_id
    HAVING count(*) > 1
"""


@dataclass
class RaceResult:
    rounds: int = 0
    over_limit: list[tuple] = field(default_factory=list)  # rows of OVER_LIMIT_SQL
    double_open: list[tuple] = field(default_factory=list)  # rows of DOUBLE_OPEN_SQL
    # Calls that failed on a constraint or a deadlock: two deciders collided, which the lock prevents.
    collisions: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)  # anything else: a bug in the test or code
    invitations: int = 0  # queued by the rounds

    @property
    def went_wrong(self) -> bool:
        return bool(self.over_limit or self.double_open or self.collisions)


@dataclass
class World:
    departments: list
    surveys: list[Survey]  # two per department: one relationship, one transactional


def build_world(rule_set: list[dict]) -> World:
    departments = [
        factories.DepartmentFactory(slug=s, name=s.title()) for s in ("support", "marketing", "sales")
    ]
    surveys = []
    for department in departments:
        for kind in ("relationship", "transactional"):
            survey = Survey.objects.create(department=department, name=f"{department.name} {kind}", kind=kind)
            Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
            survey.family_id = survey.pk
            surveys.append(survey)
    for number, rule in enumerate(rule_set):
        FrequencyRule.objects.create(name=f"rule {number}", **rule)
    assert all(rule.clock == "invitation" for rule in FrequencyRule.objects.all()), (
        "OVER_LIMIT_SQL assumes it"
    )
    return World(departments=departments, surveys=surveys)


def round_contacts(world: World, rng: random.Random) -> list[int]:
    """Fresh contacts with an email address every department may use (the customer gave it); half
    of them were surveyed 45 days ago (which counts for 90-day windows, not 30-day ones)."""
    contacts = Contact.objects.bulk_create([Contact(name=f"Contact {i}") for i in range(CONTACTS)])
    Identity.objects.bulk_create(
        [
            Identity(
                contact=c,
                kind="email",
                value=f"c{c.pk}@example.com",
                normalised=f"c{c.pk}@example.com",
                given_by_customer=True,
            )
            for c in contacts
        ]
    )
    earlier = timezone.now() - 45 * DAY
    for contact in contacts[::2]:
        survey = rng.choice(world.surveys)
        history = SendRequest.objects.create(
            department_id=survey.department_id, survey=survey, audience_kind="upload", status="completed"
        )
        Invitation.objects.create(
            send_request=history, survey=survey, survey_family_id=survey.family_id,
            department_id=survey.department_id, survey_kind=survey.kind, contact=contact, channel="email",
            status="answered", touched_at=earlier, responded_at=earlier + DAY,
        )  # fmt: skip
    return [contact.pk for contact in contacts]


def round_calls(world: World, contact_ids: list[int], rng: random.Random) -> list[Callable[[], object]]:
    """THREADS calls: screenings of submitted requests (three per department) and triggers."""
    calls: list[Callable[[], object]] = []
    for number in range(SCREENINGS):
        survey = rng.choice([s for s in world.surveys if s.department_id == world.departments[number % 3].pk])
        request = SendRequest.objects.create(
            department_id=survey.department_id, survey=survey, audience_kind="upload", status="submitted",
            earliest_send_at=timezone.now() - DAY, submitted_at=timezone.now(),
        )  # fmt: skip
        AudienceMember.objects.bulk_create(
            [
                AudienceMember(send_request=request, contact_id=contact_id, row_number=row)
                for row, contact_id in enumerate(rng.sample(contact_ids, AUDIENCE), start=2)
            ]
        )
        calls.append(lambda pk=request.pk: send_request_screen(send_request_id=pk))
    for _ in range(THREADS - SCREENINGS):
        survey = rng.choice(world.surveys)
        department = next(d for d in world.departments if d.pk == survey.department_id)
        contact_id = rng.choice(contact_ids)
        calls.append(
            lambda d=department, s=survey, c=contact_id: trigger_send(
                department=d, survey=s, channel="email", contact_id=c
            )
        )
    rng.shuffle(calls)
    return calls


def run_together(calls: list[Callable[[], object]], result: RaceResult) -> None:
    """Run each call in its own thread and connection, all released at once by a barrier."""
    barrier = threading.Barrier(len(calls))
    lock = threading.Lock()

    def worker(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            call()
        except DatabaseError as error:  # unique violation or deadlock: a collision
            with lock:
                result.collisions.append(f"{type(error).__name__}: {error}")
        except BaseException as error:
            with lock:
                result.errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a decider hung: a deadlock in the locks?"


def check_round(contact_ids: list[int], result: RaceResult) -> None:
    params = {"contacts": contact_ids}
    with connection.cursor() as cursor:
        cursor.execute(OVER_LIMIT_SQL, params)
        result.over_limit += cursor.fetchall()
        cursor.execute(DOUBLE_OPEN_SQL, params)
        result.double_open += cursor.fetchall()
    result.invitations += Invitation.objects.filter(contact_id__in=contact_ids, status="queued").count()


def run_race(
    rule_set: list[dict], *, lock: bool, rounds: int = ROUNDS, stop_when_wrong: bool = False, seed: int = 0
) -> RaceResult:
    """Race THREADS deciders on shared contacts for `rounds` rounds; `lock=False` takes the
    contacts' lock out of the gatekeeper (to show that the check then finds over-surveying)."""
    world = build_world(rule_set)
    rng = random.Random(seed)
    result = RaceResult()
    without_lock = mock.patch.object(locks, "lock_contacts", lambda contact_ids: None)
    with contextlib.nullcontext() if lock else without_lock:
        for _ in range(rounds):
            contact_ids = round_contacts(world, rng)
            run_together(round_calls(world, contact_ids, rng), result)
            check_round(contact_ids, result)
            result.rounds += 1
            if stop_when_wrong and result.went_wrong:
                break
    return result


@pytest.mark.parametrize("rule_set", RULE_SETS.values(), ids=RULE_SETS.keys())
def test_concurrent_deciders_never_over_survey(rule_set):
    result = run_race(rule_set, lock=True)

    assert not result.errors, result.errors
    assert result.over_limit == [], "contacts surveyed more often than a rule allows"
    assert result.double_open == [], "two open invitations for one survey"
    assert result.collisions == [], "deciders collided although the lock should serialise them"
    assert result.invitations >= result.rounds, "not vacuous: every round queued invitations"


def test_without_the_lock_the_same_race_over_surveys():
    """The check above can fail: without the contacts' lock, concurrent deciders both see room
    under a rule and both add a touch (or collide on the one-open-invitation constraint)."""
    result = run_race(RULE_SETS["1 per 30 days for everyone"], lock=False, rounds=10, stop_when_wrong=True)

    assert not result.errors, result.errors
    assert result.went_wrong, f"no over-surveying in {result.rounds} rounds without the lock"
