"""A screening batch holds the stripes of its own range of contact ids (surveys/gatekeeper/locks.py
`lock_contact_range`), not every stripe: while it decides, a trigger for a contact elsewhere goes on,
and one for a contact of the batch, or of an account one of them belongs to, waits for it."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.db import OperationalError, connection

from contacts.models import Account
from surveys.gatekeeper import locks, screening_batches
from surveys.gatekeeper.send_requests import send_request_screen
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import SendRequest
from tests import factories
from tests.surveys.gatekeeper.test_screening_batches import _paused_screen, _submitted, _survey

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 5


@pytest.fixture
def batches_of_five(settings):
    settings.SCREENING_BATCH_CONTACTS = BATCH


def trigger_while_the_first_batch_decides(request: SendRequest, survey, contact_id: int) -> str:
    """Trigger `survey` (of any department) for the contact while the request's first batch holds its
    locks: "sent" if
    the trigger went through at once, "waited" if it would have waited for the batch."""
    paused, go_on = threading.Event(), threading.Event()

    def screening() -> None:
        try:
            send_request_screen(send_request_id=request.pk)
        finally:
            connection.close()

    with mock.patch.object(screening_batches, "screen", _paused_screen(paused, go_on)):
        screener = threading.Thread(target=screening)
        screener.start()
        try:
            assert paused.wait(timeout=30)
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")  # the batch waits 30 s for go_on
            trigger_send(department=survey.department, survey=survey, channel="email", contact_id=contact_id)
            return "sent"
        except OperationalError as error:
            assert "lock timeout" in str(error)
            return "waited"
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
            go_on.set()
            screener.join(timeout=60)


def test_a_trigger_for_a_contact_outside_the_running_batch_does_not_wait_for_it(batches_of_five, support):
    request, _ = _submitted(support, BATCH)
    factories.contact_ids_skipped(4 * locks.STRIPE_RUN)
    elsewhere = factories.known_contact(support).pk  # in the audience too, its next batch

    outcome = trigger_while_the_first_batch_decides(request, _survey(support, "After your order"), elsewhere)

    assert outcome == "sent"
    assert SendRequest.objects.get(pk=request.pk).status == "screened"


def test_a_trigger_for_a_contact_of_the_running_batch_waits_for_it(batches_of_five, support):
    request, ids = _submitted(support, BATCH)

    outcome = trigger_while_the_first_batch_decides(request, _survey(support, "After your order"), ids[-1])

    assert outcome == "waited"


def test_a_trigger_for_an_account_mate_of_a_contact_of_the_batch_waits_for_it(batches_of_five, support):
    """A rule per account counts the touches of the account's people together, so the batch holds the
    stripes of its contacts' account mates too, wherever their ids are."""
    request, ids = _submitted(support, BATCH)
    factories.contact_ids_skipped(4 * locks.STRIPE_RUN)
    mate = factories.known_contact(support)
    account = Account.objects.create(name="Acme", external_id="ACME-1")
    type(mate).objects.filter(pk__in=[ids[0], mate.pk]).update(account=account)

    outcome = trigger_while_the_first_batch_decides(request, _survey(support, "After your order"), mate.pk)

    assert outcome == "waited"


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_last_batch_leaves_the_stripes_of_contacts_before_and_after_its_own_free(
    batches_of_five, support, marketing, when
):
    """A batch runs from its first contact to its last: the only batch of a small audience does not
    reach down to older contacts or up to every id to come."""
    older = factories.known_contact(marketing).pk
    factories.contact_ids_skipped(4 * locks.STRIPE_RUN)
    request, _ = _submitted(support, 3)  # its first batch is its last
    factories.contact_ids_skipped(4 * locks.STRIPE_RUN)
    newer = factories.known_contact(marketing).pk
    survey = _survey(marketing, "Marketing's survey")

    outcome = trigger_while_the_first_batch_decides(request, survey, older if when == "before" else newer)

    assert outcome == "sent"
    assert SendRequest.objects.get(pk=request.pk).status == "screened"
