"""Triggers in flight, as the dispatch and the sweeper see them: thousands at once under load, so
their work is one statement for all of them, and each trigger's request still ends completed."""

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from surveys.delivery.dispatch import HAND_OVER_TRIGGERS, invitations_dispatch_due
from surveys.delivery.sending import invitations_send_batch
from surveys.delivery.sweeper import invitations_sweep_stuck
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Invitation, SendRequest
from tests import factories
from tests.threads import sessions_waiting_for_a_lock
from tests.workers import wait_until

HOUR = dt.timedelta(hours=1)


@pytest.fixture(autouse=True)
def no_quiet_hours(settings):
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"


def triggers(department, survey, count: int, *, opted_out: int = 0) -> list[SendRequest]:
    """`count` triggers of `survey`, each to a new contact; the first `opted_out` of them refused."""
    requests = []
    for n in range(count):
        contact = factories.known_contact(department, email=f"person{n}@example.com")
        if n < opted_out:
            factories.ConsentFactory(contact=contact)
        sent = trigger_send(department=department, survey=survey, channel="email", contact_id=contact.pk)
        requests.append(sent.send_request)
    return requests


def statuses(requests: list[SendRequest]) -> list[str]:
    by_id = dict(SendRequest.objects.filter(pk__in=[r.pk for r in requests]).values_list("pk", "status"))
    return [by_id[r.pk] for r in requests]


def dispatch_statements(now: dt.datetime) -> int:
    with CaptureQueriesContext(connection) as queries:
        invitations_dispatch_due(now=now)
    return len(queries)


@pytest.mark.parametrize("count", [3, 30])
def test_the_dispatch_does_the_same_few_statements_however_many_triggers_are_in_flight(support, count):
    """Per request, the dispatch once moved each trigger to sending and looked for its rows: 3,000
    requests every ten seconds at 300 triggers a second. Now the statements do not grow with them."""
    survey = factories.SurveyFactory(department=support)
    in_flight = triggers(support, survey, count, opted_out=1)
    factories.known_contact(support, email="list@example.com")
    listed = factories.screened_request(support)  # a list request: still visited on its own

    # Triggers; the lists, the list's move and its rows; completion.
    assert dispatch_statements(timezone.now()) == 5
    assert statuses(in_flight) == ["completed"] + ["screened"] * (count - 1)  # the refused one is done
    assert statuses([listed]) == ["sending"]


def test_a_trigger_completes_once_its_invitation_is_sent(support):
    survey = factories.SurveyFactory(department=support)
    [request] = triggers(support, survey, 1)
    invitation = Invitation.objects.get(send_request=request)

    invitations_dispatch_due()
    assert statuses([request]) == ["screened"]  # queued: not finished

    invitations_send_batch(invitation_ids=[invitation.pk])
    invitations_dispatch_due()
    assert statuses([request]) == ["completed"]


def test_a_deferred_trigger_invitation_is_handed_over_once_its_time_comes(support):
    now = timezone.now()
    survey = factories.SurveyFactory(department=support)
    [request] = triggers(support, survey, 1)
    # As quiet hours leave it: back in the queue, planned for later, no task holding it.
    Invitation.objects.filter(send_request=request).update(send_after=now + HOUR, dispatched_at=None)

    assert invitations_dispatch_due(now=now) == 0
    assert invitations_dispatch_due(now=now + 2 * HOUR) == 1
    assert invitations_dispatch_due(now=now + 2 * HOUR) == 0  # handed over once
    assert statuses([request]) == ["screened"]


def test_the_sweeper_hands_a_lost_trigger_invitation_over_again(support, settings):
    survey = factories.SurveyFactory(department=support)
    [request] = triggers(support, survey, 1)
    invitation = Invitation.objects.get(send_request=request)
    Invitation.objects.filter(pk=invitation.pk).update(dispatched_at=timezone.now())  # its message lost

    later = timezone.now() + dt.timedelta(seconds=settings.DELIVERY_HANDOFF_LEASE + 1)
    swept = invitations_sweep_stuck(now=later)

    assert (swept.handed_again, swept.handed_over) == (1, 1)
    assert Invitation.objects.get(pk=invitation.pk).dispatched_at == later


def test_the_sweeper_requeues_a_trigger_invitation_a_dead_worker_left_in_sending(support, settings):
    survey = factories.SurveyFactory(department=support)
    [request] = triggers(support, survey, 1)
    invitation = Invitation.objects.get(send_request=request)
    long_ago = timezone.now() - dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER + 1)
    Invitation.objects.filter(pk=invitation.pk).update(status="sending", attempts=1, updated_at=long_ago)

    swept = invitations_sweep_stuck()

    assert (swept.requeued, swept.handed_over) == (1, 1)
    assert Invitation.objects.get(pk=invitation.pk).status == "queued"


def hand_over_triggers(now: dt.datetime) -> list[int]:
    """The dispatch's statement for triggers, without the broker: the invitation ids it took."""
    with connection.cursor() as cursor:
        cursor.execute(HAND_OVER_TRIGGERS, {"now": now})
        return sorted(row[0] for row in cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_hand_each_trigger_invitation_over_once(support):
    """Beat can start a dispatch while the last one still runs (a slow broker, two beat processes by
    mistake). The second waits on the rows the first took, then finds them handed over already."""
    for n in range(4):
        factories.known_contact(support, email=f"person{n}@example.com")
    requests = [factories.screened_request(support) for _ in range(3)]
    SendRequest.objects.filter(pk__in=[r.pk for r in requests]).update(audience_kind="trigger")
    due = sorted(Invitation.objects.filter(send_request__in=requests).values_list("pk", flat=True))
    now = timezone.now()
    second: list[list[int]] = []  # stays empty if the second dispatcher failed

    def second_dispatcher() -> None:
        try:
            second.append(hand_over_triggers(now))
        finally:
            connection.close()

    with transaction.atomic():
        first = hand_over_triggers(now)
        thread = threading.Thread(target=second_dispatcher)
        thread.start()
        wait_until(sessions_waiting_for_a_lock, message="the second dispatcher to wait")
    thread.join(timeout=30)

    assert len(due) == 12 and first == due
    assert second == [[]]
