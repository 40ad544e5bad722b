"""A send request's screening commits batch by batch (surveys/gatekeeper/screening_batches.py): its
progress moves and is shown, a crash resumes after the last committed batch with nothing doubled or
missed, a cancel stops it after the batch running, and a trigger waits at most one batch."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
from unittest import mock

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from departments.actors import actor_for_user
from surveys.gatekeeper import screening_batches, send_requests
from surveys.gatekeeper.screening_batches import screening_batch_run, screening_batch_size
from surveys.gatekeeper.send_requests import send_request_cancel, send_request_screen
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Decision, Invitation, SendRequest, Survey
from surveys.tasks import sweep_stuck_task
from tests import factories
from tests.threads import sessions_waiting_for_a_lock
from tests.workers import wait_until

BATCH = 3


@pytest.fixture
def small_batches(settings):
    settings.SCREENING_BATCH_CONTACTS = BATCH


def _survey(department, name: str = "After your call") -> Survey:
    survey = Survey.objects.create(department=department, name=name)
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    factories.QuestionFactory(survey=survey, position=1, kind="nps", text="Would you recommend us?")
    return Survey.objects.get(pk=survey.pk)


def _submitted(department, contacts: int, **fields) -> tuple[SendRequest, list[int]]:
    ids = [factories.known_contact(department).pk for _ in range(contacts)]
    request = SendRequest.objects.create(
        department=department, survey=_survey(department), audience_kind="all_known", status="submitted",
        submitted_at=timezone.now(), **fields,
    )  # fmt: skip
    return request, ids


def _decided(request: SendRequest) -> list[int]:
    return sorted(Decision.objects.filter(send_request=request).values_list("contact_id", flat=True))


def _invited(request: SendRequest) -> list[int]:
    return sorted(Invitation.objects.filter(send_request=request).values_list("contact_id", flat=True))


def test_progress_moves_with_each_committed_batch_and_the_api_shows_it(
    small_batches, support, support_api, marketing_api
):
    request, ids = _submitted(support, 7)
    url = f"/api/v1/send-requests/{request.public_id}"

    assert screening_batch_run(send_request_id=request.pk) is False
    request.refresh_from_db()
    assert (request.screening_done, request.screening_total, request.status) == (3, 7, "submitted")
    assert _decided(request) == ids[:3] and _invited(request) == ids[:3]
    shown = support_api.get(url).json()["screening"]
    assert (shown["rows_done"], shown["rows_total"], shown["percent"], shown["running"]) == (3, 7, 42, True)
    assert shown["updated_at"] is not None
    # The second department learns nothing of the first's screening, not even that it exists.
    assert marketing_api.get(url).status_code == 404

    assert screening_batch_run(send_request_id=request.pk) is False
    assert support_api.get(url).json()["screening"]["rows_done"] == 6

    assert send_request_screen(send_request_id=request.pk) is not None
    request.refresh_from_db()
    assert request.status == "screened" and request.screening_done == 7
    assert request.screening_summary["allowed"] == 7 and request.screening_summary["contacts"] == 7
    assert _decided(request) == ids and _invited(request) == ids
    shown = support_api.get(url).json()["screening"]
    assert (shown["rows_done"], shown["rows_total"], shown["percent"], shown["running"]) == (7, 7, 100, False)


def test_the_admin_page_shows_a_progress_bar_while_screening(
    small_batches, support, alice_client, mallory_client
):
    request, _ = _submitted(support, 5)
    screening_batch_run(send_request_id=request.pk)
    page = reverse("admin:surveys_sendrequest_preflight", args=[request.pk])

    body = alice_client.get(page).content.decode()

    assert '<progress id="screening-bar" max="5" value="3">60%</progress>' in body
    assert mallory_client.get(page).status_code == 404
    send_request_screen(send_request_id=request.pk)
    assert 'id="screening-bar"' not in alice_client.get(page).content.decode()


def test_a_crash_mid_batch_resumes_after_the_last_committed_one(small_batches, support):
    request, ids = _submitted(support, 8)
    screening_batch_run(send_request_id=request.pk)
    screening_batch_run(send_request_id=request.pk)

    # The worker dies after the third batch wrote its decisions and invitations, before its commit.
    killed = mock.patch.object(screening_batches, "summaries_add", side_effect=RuntimeError("killed"))
    with killed, pytest.raises(RuntimeError):
        send_request_screen(send_request_id=request.pk)
    request.refresh_from_db()
    assert request.screening_done == 6 and _decided(request) == ids[:6] and _invited(request) == ids[:6]

    send_request_screen(send_request_id=request.pk)

    request.refresh_from_db()
    assert request.status == "screened"
    assert _decided(request) == ids, "every contact decided once, none missed"
    assert _invited(request) == ids, "every allowed contact invited once"
    assert request.screening_summary["contacts"] == 8 and request.screening_summary["allowed"] == 8


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_sweeper_carries_on_a_screening_whose_worker_died(celery_worker, support, settings):
    settings.SCREENING_BATCH_CONTACTS = BATCH
    long_ago = timezone.now() - dt.timedelta(hours=2)
    request, ids = _submitted(support, 8)
    screening_batch_run(send_request_id=request.pk)
    SendRequest.objects.filter(pk=request.pk).update(submitted_at=long_ago, screening_progress_at=long_ago)

    sweep_stuck_task()

    wait_until(
        lambda: SendRequest.objects.get(pk=request.pk).status == "screened",
        timeout=60,
        message="the worker to carry on the screening",
    )
    assert _decided(request) == ids and _invited(request) == ids


def test_the_sweeper_leaves_alone_a_screening_still_making_progress(support):
    from surveys.gatekeeper.send_requests import send_requests_screen_again

    long_ago = timezone.now() - dt.timedelta(hours=2)
    request, _ = _submitted(support, 1)
    SendRequest.objects.filter(pk=request.pk).update(
        submitted_at=long_ago, screening_progress_at=timezone.now()
    )

    assert send_requests_screen_again() == []


def test_a_request_cancelled_between_batches_is_not_screened_further(small_batches, support, alice):
    request, ids = _submitted(support, 9)
    screening_batch_run(send_request_id=request.pk)

    send_request_cancel(send_request=SendRequest.objects.get(pk=request.pk), actor=actor_for_user(alice))

    assert send_request_screen(send_request_id=request.pk) is None
    assert _decided(request) == ids[:3]
    assert set(Invitation.objects.filter(send_request=request).values_list("status", flat=True)) == {
        "cancelled"
    }


def _paused_screen(paused: threading.Event, go_on: threading.Event, *, batches: int = 1):
    """screen() that, in its first `batches` calls, waits after writing (stripes and the request's row
    still held) until `go_on`."""
    real = screening_batches.screen
    calls = []

    def screen(**kwargs):
        outcome = real(**kwargs)
        calls.append(1)
        if len(calls) <= batches:
            paused.set()
            go_on.wait(timeout=30)
        return outcome

    return screen


@pytest.mark.django_db(transaction=True)
def test_a_cancel_during_a_batch_waits_for_it_and_releases_its_invitations(small_batches, support, alice):
    request, ids = _submitted(support, 9)
    paused, go_on, results = threading.Event(), threading.Event(), {}

    def screening() -> None:
        try:
            results["screened"] = send_request_screen(send_request_id=request.pk)
        finally:
            connection.close()

    def cancel() -> None:
        try:
            send_request_cancel(
                send_request=SendRequest.objects.get(pk=request.pk), actor=actor_for_user(alice)
            )
            results["cancelled_at"] = time.monotonic()
        finally:
            connection.close()

    with mock.patch.object(screening_batches, "screen", _paused_screen(paused, go_on)):
        screener = threading.Thread(target=screening)
        screener.start()
        assert paused.wait(timeout=30)
        canceller = threading.Thread(target=cancel)
        canceller.start()
        (cancel_pid,) = wait_until(sessions_waiting_for_a_lock, message="the cancel to wait for the batch")
        assert "cancelled_at" not in results, "the cancel waits for the batch running"
        # The cancel's session is slow to wake (a busy server): the screening, awake already, must
        # still not start its next batch before the cancel is through.
        os.kill(cancel_pid, signal.SIGSTOP)
        try:
            go_on.set()
            wait_until(
                lambda: not screener.is_alive() or set(sessions_waiting_for_a_lock()) - {cancel_pid},
                message="the screening to go on or to wait",
            )
        finally:
            os.kill(cancel_pid, signal.SIGCONT)
        screener.join(timeout=30)
        canceller.join(timeout=30)

    assert results["screened"] is None and "cancelled_at" in results
    assert SendRequest.objects.get(pk=request.pk).status == "cancelled"
    assert _decided(request) == ids[:3], "stopped after the batch that was running"
    statuses = set(Invitation.objects.filter(send_request=request).values_list("status", flat=True))
    assert statuses == {"cancelled"}, "no invitation of the last batch stays reserved"


@pytest.mark.django_db(transaction=True)
def test_a_cancel_during_the_last_step_cancels_the_request_it_leaves_screened(small_batches, support, alice):
    request, ids = _submitted(support, 5)
    paused, go_on, results = threading.Event(), threading.Event(), {}
    real = send_requests.slots_take

    def paused_slots_take(*args, **kwargs):
        # The last step, every contact decided, holds the request's locks here until `go_on`.
        paused.set()
        go_on.wait(timeout=30)
        return real(*args, **kwargs)

    def screening() -> None:
        try:
            results["screened"] = send_request_screen(send_request_id=request.pk)
        finally:
            connection.close()

    def cancel(seen: SendRequest) -> None:
        try:
            results["cancelled"] = send_request_cancel(send_request=seen, actor=actor_for_user(alice))
        except Exception as error:  # the test's assertion below names it
            results["cancel_error"] = error
        finally:
            connection.close()

    with mock.patch.object(send_requests, "slots_take", paused_slots_take):
        screener = threading.Thread(target=screening)
        screener.start()
        assert paused.wait(timeout=30)
        # As the API reads it: still submitted, its owner asks to cancel it.
        seen = SendRequest.objects.get(pk=request.pk)
        assert seen.status == "submitted"
        canceller = threading.Thread(target=cancel, args=(seen,))
        canceller.start()
        wait_until(sessions_waiting_for_a_lock, message="the cancel to wait for the last step")
        go_on.set()
        screener.join(timeout=30)
        canceller.join(timeout=30)

    assert "cancel_error" not in results, f"the cancel was refused: {results.get('cancel_error')}"
    assert results["screened"].status == "screened", "the last step ended before the cancel"
    assert results["cancelled"].status == "cancelled"
    assert SendRequest.objects.get(pk=request.pk).status == "cancelled"
    assert _decided(request) == ids
    statuses = set(Invitation.objects.filter(send_request=request).values_list("status", flat=True))
    assert statuses == {"cancelled"}, "none of its invitations stays reserved"


@pytest.mark.django_db(transaction=True)
def test_a_trigger_waits_for_one_batch_not_the_whole_screening(settings, support):
    settings.SCREENING_BATCH_CONTACTS = 10
    request, ids = _submitted(support, 60)
    survey = _survey(support, "After your order")
    # Each batch holds every stripe 0.04 s per contact it decides (its 10: 0.4 s): the screening of
    # 60 takes 2.4 s at least, however it is cut.
    hold = 0.4
    real = screening_batches.screen
    started = threading.Event()

    def slow_screen(**kwargs):
        started.set()
        outcome = real(**kwargs)
        time.sleep(hold * outcome.contacts / 10)
        return outcome

    def screening() -> None:
        try:
            send_request_screen(send_request_id=request.pk)
        finally:
            connection.close()

    with mock.patch.object(screening_batches, "screen", slow_screen):
        begun = time.monotonic()
        screener = threading.Thread(target=screening)
        screener.start()
        assert started.wait(timeout=30)
        time.sleep(0.05)  # the first batch holds the stripes now
        asked = time.monotonic()
        trigger_send(department=support, survey=survey, channel="email", contact_id=ids[-1])
        waited = time.monotonic() - asked
        screener.join(timeout=60)
        screening_took = time.monotonic() - begun

    assert SendRequest.objects.get(pk=request.pk).status == "screened"
    assert screening_took >= 6 * hold
    # One batch (and its share of a busy machine), not the whole screening as when every batch
    # shared one transaction holding every stripe.
    assert waited < screening_took / 3, (
        f"the trigger waited {waited:.2f} s of a {screening_took:.2f} s screening"
    )


def test_a_budget_counts_a_request_being_screened_once_its_screening_ends(small_batches, support):
    from surveys.gatekeeper.budgets import budget_use

    support.monthly_touch_budget = 100
    support.save(update_fields=["monthly_touch_budget"])
    request, _ = _submitted(support, 5)
    screening_batch_run(send_request_id=request.pk)
    now = timezone.now()

    # Its first batch's 3 invitations are written, but it spends the budget when it ends: of two
    # requests screened at once, the first to end spends first.
    assert budget_use(department=support, at=now).used == 0
    send_request_screen(send_request_id=request.pk)
    assert budget_use(department=support, at=now).used == 5


def test_a_batch_is_sized_by_the_pace_of_the_one_before(settings):
    settings.SCREENING_BATCH_CONTACTS, settings.SCREENING_BATCH_MS = 10_000, 250

    assert screening_batch_size() == 500, "the first batch is the least"
    assert screening_batch_size(500, seconds=0.05) == 1_000, "quick: at most twice the last"
    assert screening_batch_size(8_000, seconds=0.1) == 10_000, "never past the most"
    assert screening_batch_size(4_000, seconds=0.5) == 2_000, "4,000 in 0.5 s: 2,000 in 250 ms"
    assert screening_batch_size(4_000, seconds=30) == 500, "never under the least"


def _batch_sizes(department, contacts: int, *, pause: float) -> list[int]:
    """The sizes of a screening's batches, each held `pause` seconds longer than it takes."""
    request, ids = _submitted(department, contacts)
    real, sizes = screening_batches.screen, []

    def screen(**kwargs):
        outcome = real(**kwargs)
        sizes.append(outcome.contacts)
        time.sleep(pause)
        return outcome

    with mock.patch.object(screening_batches, "screen", screen):
        send_request_screen(send_request_id=request.pk)
    assert _decided(request) == ids, "every contact decided once, whatever the batches' sizes"
    return sizes


def test_batches_grow_while_quick_and_stay_small_while_slow(settings, support, marketing, monkeypatch):
    monkeypatch.setattr(screening_batches, "SCREENING_BATCH_MIN", 2)
    settings.SCREENING_BATCH_CONTACTS = 8

    settings.SCREENING_BATCH_MS = 10_000
    assert _batch_sizes(support, 22, pause=0) == [2, 4, 8, 8]
    # Each batch holds its stripes 0.2 s at least, twice the 0.1 s aimed at: they stay the least.
    settings.SCREENING_BATCH_MS = 100
    assert _batch_sizes(marketing, 8, pause=0.2) == [2, 2, 2, 2]
