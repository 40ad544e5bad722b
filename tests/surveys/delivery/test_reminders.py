"""Reminders: only to those who have not answered, at most REMINDER_MAX, REMINDER_MIN_GAP_DAYS apart,
never after the link expired, and never a touch (no invitation is made for them)."""

import datetime as dt

import pytest
import time_machine
from django.core import mail

from contacts.models import Consent
from surveys.delivery import links
from surveys.delivery.reminders import ReminderOutcome, reminders_send
from surveys.delivery.sending import invitations_send_batch
from surveys.delivery.sweeper import invitations_expire
from surveys.delivery.tokens import token_hash
from surveys.models import Invitation, InvitationToken
from tests import factories

SENT_AT = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def no_quiet_hours(settings):
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"
    settings.REMINDER_MAX, settings.REMINDER_MIN_GAP_DAYS = 1, 3


def sent(support, *emails) -> list[Invitation]:
    """Invitations sent at SENT_AT, valid 14 days; the outbox emptied."""
    for address in emails:
        factories.known_contact(support, email=address)
    with time_machine.travel(SENT_AT, tick=False):
        send_request = factories.screened_request(support)
        invitations = list(Invitation.objects.filter(send_request=send_request).order_by("pk"))
        invitations_send_batch(invitation_ids=[i.pk for i in invitations])
    mail.outbox.clear()
    return invitations


def reminders_at(when: dt.datetime) -> ReminderOutcome:
    with time_machine.travel(when, tick=False):
        return reminders_send()


def reminded() -> list[str]:
    return sorted(m.to[0].split("<")[-1].rstrip(">") for m in mail.outbox)


def test_a_reminder_goes_only_to_those_who_have_not_answered(support):
    ann, bob = sent(support, "ann@example.com", "bob@example.com")
    Invitation.objects.filter(pk=bob.pk).update(
        status="answered", responded_at=SENT_AT + dt.timedelta(hours=1)
    )

    outcome = reminders_at(SENT_AT + dt.timedelta(days=3))

    assert outcome.sent == 1 and reminded() == ["ann@example.com"]
    [message] = mail.outbox
    assert message.subject.startswith("Reminder")
    assert message.extra_headers["Message-ID"] == f"<invitation-{ann.pk}.reminder-1@cxfeedback.localhost>"
    # A fresh link of its own, for the same invitation.
    token = message.body.split("/t/")[1].split()[0]
    assert links.unsubscribe_url(token) in message.extra_headers["List-Unsubscribe"]
    assert InvitationToken.objects.get(token_hash=token_hash(token)).invitation_id == ann.pk
    assert InvitationToken.objects.filter(invitation=ann).count() == 2


def test_no_reminder_before_the_gap(support):
    sent(support, "ann@example.com")

    assert reminders_at(SENT_AT + dt.timedelta(days=2, hours=23)).sent == 0
    assert mail.outbox == []


def test_reminders_are_bounded_and_spaced(support, settings):
    settings.REMINDER_MAX = 2
    [ann] = sent(support, "ann@example.com")

    assert reminders_at(SENT_AT + dt.timedelta(days=3)).sent == 1
    assert reminders_at(SENT_AT + dt.timedelta(days=5)).sent == 0  # two days after the first reminder
    assert reminders_at(SENT_AT + dt.timedelta(days=6)).sent == 1
    assert reminders_at(SENT_AT + dt.timedelta(days=12)).sent == 0  # REMINDER_MAX reached

    ann.refresh_from_db()
    assert ann.reminders_sent == 2 and ann.last_reminder_at == SENT_AT + dt.timedelta(days=6)
    assert [m.extra_headers["Message-ID"].split(".")[1].split("@")[0] for m in mail.outbox] == [
        "reminder-1",
        "reminder-2",
    ]
    assert "last reminder" in mail.outbox[1].body and "last reminder" not in mail.outbox[0].body


def test_a_reminder_is_not_a_touch(support):
    [ann] = sent(support, "ann@example.com")

    reminders_at(SENT_AT + dt.timedelta(days=3))

    assert Invitation.objects.count() == 1
    ann_after = Invitation.objects.get()
    assert ann_after.touched_at == ann.touched_at == SENT_AT and ann_after.status == "sent"


def test_no_reminder_after_the_link_expired_or_to_someone_who_opted_out(support):
    _, bob = sent(support, "ann@example.com", "bob@example.com")
    factories.ConsentFactory(
        contact_id=bob.contact_id, kind=Consent.Kind.OPT_OUT, created_at=SENT_AT + dt.timedelta(days=1)
    )

    assert reminders_at(SENT_AT + dt.timedelta(days=3)).skipped == 1
    assert reminded() == ["ann@example.com"]

    mail.outbox.clear()
    Invitation.objects.update(reminders_sent=0, last_reminder_at=None)
    assert reminders_at(SENT_AT + dt.timedelta(days=15)).sent == 0
    with time_machine.travel(SENT_AT + dt.timedelta(days=15), tick=False):
        assert invitations_expire() == 2
    assert set(Invitation.objects.values_list("status", flat=True)) == {"expired"}


def test_a_reminder_the_server_refused_for_now_is_sent_by_the_next_run(support, settings):
    from tests.smtp import loopback_smtp, send_through

    [ann] = sent(support, "ann@example.com")
    with loopback_smtp() as server:
        send_through(settings, server)
        server.handler.refuse_all = "451 4.3.0 Try again later"
        first = reminders_at(SENT_AT + dt.timedelta(days=3))
        ann.refresh_from_db()
        assert first.retry == 1 and ann.reminders_sent == 0 and ann.last_reminder_at is None

        server.handler.refuse_all = ""
        second = reminders_at(SENT_AT + dt.timedelta(days=3, hours=1))

    assert second.sent == 1 and len(server.messages) == 1
    ann.refresh_from_db()
    assert ann.reminders_sent == 1
