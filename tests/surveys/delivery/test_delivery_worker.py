"""Delivery with a real Celery worker process, the real broker and a real SMTP server on loopback:
what a customer's mailbox receives, and that crashes and outages neither lose nor repeat a message."""

import datetime as dt
import time

import pytest
from django.utils import timezone

from surveys.delivery.dispatch import invitations_dispatch_due
from surveys.delivery.sweeper import invitations_sweep_stuck
from surveys.delivery.tokens import token_hash
from surveys.gatekeeper.triggers import trigger_send
from surveys.models import Invitation, InvitationToken
from tests import factories
from tests.smtp import loopback_smtp
from tests.workers import CeleryProcess, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def no_quiet_hours(settings):
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"


@pytest.fixture
def smtp_server():
    with loopback_smtp() as server:
        yield server


@pytest.fixture
def start_worker(transactional_db, smtp_server):
    """Start (and, at the end, stop) worker processes that send through the loopback server."""
    from cxfeedback.celery import app

    with app.connection_for_write() as conn:
        # Tasks left by earlier tests refer to rows that are gone; start from an empty queue.
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    workers: list[CeleryProcess] = []

    def start() -> CeleryProcess:
        env = {
            **smtp_server.env(),
            "QUIET_HOURS_START": "00:00",
            "QUIET_HOURS_END": "00:00",
            "DELIVERY_RETRY_BACKOFF": "1",
        }
        workers.append(CeleryProcess("worker", env=env).start())
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


def audience(support, count: int) -> list[str]:
    emails = [f"person{n}@example.com" for n in range(count)]
    for address in emails:
        factories.known_contact(support, email=address)
    return emails


def statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Invitation.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def settle(smtp_server, *, quiet_for: float = 1.5, timeout: float = 20) -> None:
    """Wait until neither the invitations nor the mailbox change any more: the worker is idle."""
    last, since = None, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = (statuses(), len(smtp_server.messages))
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_for:
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not settle")


def test_the_worker_emails_each_invitation_with_a_link_that_opens_its_survey(
    start_worker, smtp_server, support, client
):
    worker = start_worker()
    factories.known_contact(support, email="ann@example.com", name="Ann Example")
    factories.known_contact(support, email="bob@example.com", name="Bob Example")
    send_request = factories.screened_request(support, survey__name="After your call")

    assert invitations_dispatch_due() == 2
    wait_until(lambda: statuses() == {"sent": 2}, timeout=30, message="both invitations sent")
    settle(smtp_server)  # marked sent just before the final ".": the server's record may follow

    received = sorted(smtp_server.messages, key=lambda m: str(m["To"]))
    assert [m["To"].addresses[0].addr_spec for m in received] == ["ann@example.com", "bob@example.com"]
    tokens = []
    for message, invitation in zip(
        received, Invitation.objects.filter(send_request=send_request).order_by("contact__name"), strict=True
    ):
        assert message["From"] == "Support <surveys@cxfeedback.localhost>"  # the department, no company named
        assert message["Subject"] == "Support would like your feedback"
        assert message["Message-ID"] == f"<invitation-{invitation.pk}.invite@cxfeedback.localhost>"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        token = text.split("/t/")[1].split()[0]
        tokens.append(token)
        assert f'href="http://127.0.0.1:8000/t/{token}"' in html and "After your call" in html
        assert message["List-Unsubscribe"] == (
            f"<http://127.0.0.1:8000/u/{token}>, "
            f"<mailto:unsubscribe@cxfeedback.localhost?subject=unsubscribe-{token}>"
        )
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert InvitationToken.objects.get(token_hash=token_hash(token)).invitation_id == invitation.pk

        # The customer follows the link: the page finds the invitation by the token's hash.
        page = client.get(f"/t/{token}")
        assert page.status_code == 200
        assert "How likely are you to recommend us" in page.content.decode()

    log = worker.stop()
    assert "invitation batch: 2 sent" in log
    assert not any(token in log for token in tokens) and "example.com" not in log


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_nothing(
    start_worker, smtp_server, support, settings
):
    settings.DELIVERY_BATCH_SIZE = 10
    count = 40
    audience(support, count)
    factories.screened_request(support)
    smtp_server.handler.delay = 0.05  # slow enough to kill the worker inside a batch
    worker = start_worker()

    invitations_dispatch_due()
    wait_until(lambda: len(smtp_server.messages) >= 15, timeout=30, message="the second batch under way")
    worker.kill()
    at_kill = statuses()
    assert at_kill.get("sending"), f"killed between batches, not inside one: {at_kill}"

    smtp_server.handler.delay = 0
    start_worker()
    # The new worker takes the batches still in the broker (prefetch 1: the dead one held only its
    # own); the batch it was sending stays in sending, as after any crash.
    wait_until(lambda: "queued" not in statuses(), timeout=30, message="the broker's batches taken")
    settle(smtp_server)
    assert statuses()["sending"] == at_kill["sending"]
    # The sweeper, once DELIVERY_STUCK_AFTER has passed (no task can still be sending them).
    later = timezone.now() + dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER + 1)
    swept = invitations_sweep_stuck(now=later)
    assert swept.requeued == at_kill["sending"] and swept.handed_again == 0
    wait_until(lambda: statuses() == {"sent": count}, timeout=30, message="every invitation sent")
    # Marked sent just before the final ".", so the server's record may follow by a moment.
    settle(smtp_server)

    transactions = smtp_server.message_ids()
    expected = {
        f"<invitation-{pk}.invite@cxfeedback.localhost>"
        for pk in Invitation.objects.values_list("pk", flat=True)
    }
    assert set(transactions) == expected, "every invitation arrived (no loss)"
    # The worker most likely died while the server took a message (it answers 50 ms after the
    # whole message is in): that invitation was marked sent before the final ".", so it is not
    # among those swept, and no invitation reached the server twice.
    assert max(transactions.values()) == 1, "no invitation sent twice"


def test_smtp_down_then_back_delivers_after_retries_each_once(start_worker, smtp_server, support):
    audience(support, 5)
    factories.screened_request(support)
    smtp_server.stop()
    start_worker()

    invitations_dispatch_due()
    wait_until(
        lambda: Invitation.objects.filter(status="queued", attempts__gte=2).count() == 5,
        timeout=30,
        message="two refused attempts, each put back for a retry",
    )
    assert "Connection refused" in Invitation.objects.first().failure_reason
    smtp_server.start()

    wait_until(lambda: statuses() == {"sent": 5}, timeout=30, message="delivered once the server is back")
    settle(smtp_server)  # marked sent just before the final ".": the server's record may follow
    assert sorted(smtp_server.message_ids().values()) == [1] * 5
    assert set(Invitation.objects.values_list("failure_reason", flat=True)) == {""}


def test_a_550_for_one_recipient_fails_that_invitation_only(start_worker, smtp_server, support):
    audience(support, 3)
    smtp_server.handler.refuse["person1@example.com"] = "550 5.1.1 No such mailbox"
    factories.screened_request(support)
    start_worker()

    invitations_dispatch_due()

    wait_until(lambda: statuses() == {"sent": 2, "failed": 1}, timeout=30, message="two sent, one failed")
    settle(smtp_server)  # marked sent just before the final ".": the server's record may follow
    failed = Invitation.objects.get(status="failed")
    assert failed.contact.identities.get().value == "person1@example.com"
    assert failed.failure_reason == "550 5.1.1 No such mailbox" and failed.attempts == 1
    assert len(smtp_server.messages) == 2


def test_a_trigger_is_sent_without_waiting_for_the_dispatch(start_worker, smtp_server, support):
    start_worker()
    contact = factories.known_contact(support, email="ann@example.com")
    survey = factories.SurveyFactory(department=support)

    result = trigger_send(department=support, survey=survey, channel="email", contact_id=contact.pk)

    assert result.invitation is not None
    wait_until(lambda: len(smtp_server.messages) == 1, timeout=30, message="the triggered email")
    assert (
        smtp_server.messages[0]["Message-ID"]
        == f"<invitation-{result.invitation.pk}.invite@cxfeedback.localhost>"
    )
    wait_until(lambda: statuses() == {"sent": 1}, timeout=10, message="marked sent")
