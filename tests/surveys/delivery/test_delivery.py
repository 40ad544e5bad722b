"""Delivery in-process: claim, send, mark; failures; dispatch, sweeper and expiry; channels.

The real worker and its crashes are in test_delivery_worker.py; quiet hours and reminders have
files of their own.
"""

import datetime as dt
import http.client
import logging
import smtplib
import threading

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from contacts.models import Consent, Identity
from surveys.delivery import links, sending
from surveys.delivery.channels import Outgoing, PermanentFailure, TransientFailure
from surveys.delivery.channels.email import email_failure
from surveys.delivery.channels.sms import LocmemSmsBackend, TwilioSmsBackend, sms_text
from surveys.delivery.dispatch import invitations_dispatch_due, send_request_complete_finished
from surveys.delivery.invitation_status import invitation_mark_sent
from surveys.delivery.sending import invitation_claim, invitations_send_batch
from surveys.delivery.sweeper import invitations_expire, invitations_sweep_stuck
from surveys.delivery.tokens import token_hash
from surveys.models import Invitation, InvitationToken, SendRequest
from tests import factories
from tests.smtp import loopback_smtp, send_through


@pytest.fixture(autouse=True)
def no_quiet_hours(settings):
    # Tests run at any hour; quiet hours have tests of their own (test_quiet_hours.py).
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"


@pytest.fixture
def smtp_server():
    with loopback_smtp() as server:
        yield server


def queued(support, *emails, **kwargs) -> list[Invitation]:
    for address in emails:
        factories.known_contact(support, email=address)
    send_request = factories.screened_request(support, **kwargs)
    return list(Invitation.objects.filter(send_request=send_request).order_by("pk"))


def ids(invitations) -> list[int]:
    return [i.pk for i in invitations]


def token_in(text: str, prefix: str) -> str:
    start = text.index(f"{prefix}/") + len(prefix) + 1
    return text[start:].split()[0].split('"')[0].split(">")[0]


def test_a_batch_sends_each_invitation_with_its_own_link_and_unsubscribe_headers(support):
    invitations = queued(support, "ann@example.com", "bob@example.com", survey__name="After your call")

    outcome = invitations_send_batch(invitation_ids=ids(invitations))

    assert sorted(outcome.sent) == ids(invitations)
    assert len(mail.outbox) == 2
    for invitation, message in zip(
        invitations, sorted(mail.outbox, key=lambda m: m.extra_headers["Message-ID"]), strict=True
    ):
        invitation.refresh_from_db()
        token = token_in(message.body, "/t")
        assert (
            message.extra_headers["Message-ID"] == f"<invitation-{invitation.pk}.invite@cxfeedback.localhost>"
        )
        assert message.extra_headers["List-Unsubscribe"] == (
            f"<{links.unsubscribe_url(token)}>, "
            f"<mailto:unsubscribe@cxfeedback.localhost?subject=unsubscribe-{token}>"
        )
        assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "After your call" in message.body
        html, mimetype = message.alternatives[0]
        assert mimetype == "text/html" and links.survey_url(token) in html
        # Only the hash is stored, and it names this invitation.
        assert InvitationToken.objects.get(token_hash=token_hash(token)).invitation_id == invitation.pk
        assert invitation.status == "sent" and invitation.attempts == 1
        # The touch keeps its reserved time; sent_at says when it went out.
        assert invitation.touched_at <= invitation.sent_at
        assert invitation.expires_at == pytest.approx(
            invitation.sent_at + dt.timedelta(days=14), abs=dt.timedelta(seconds=5)
        )


def test_no_link_names_a_contact_or_an_invitation(support):
    [invitation] = queued(support, "ann@example.com")

    invitations_send_batch(invitation_ids=[invitation.pk])

    [message] = mail.outbox
    token = token_in(message.body, "/t")
    assert len(token) >= 32  # 192 bits
    for prefix in ("t", "u", "p"):
        # The whole path is the prefix and the token: nothing else names the person.
        assert f"http://127.0.0.1:8000/{prefix}/{token}" in message.body


def test_the_same_batch_twice_sends_each_invitation_once(support):
    invitations = queued(support, "ann@example.com", "bob@example.com")

    invitations_send_batch(invitation_ids=ids(invitations))
    again = invitations_send_batch(invitation_ids=ids(invitations))

    assert again.sent == [] and len(mail.outbox) == 2


@pytest.mark.django_db(transaction=True)
def test_claims_racing_for_one_batch_claim_each_invitation_once(support):
    invitations = queued(support, *(f"person{n}@example.com" for n in range(30)))

    def claim(barrier: threading.Barrier, claimed: list[list[int]]) -> None:
        barrier.wait()
        try:
            result = invitation_claim(invitation_ids=ids(invitations), now=timezone.now())
            claimed.append([m.invitation_id for m in result.outgoing])
        finally:
            connection.close()

    for _ in range(5):
        Invitation.objects.update(status="queued")
        barrier, claimed = threading.Barrier(4), []
        threads = [threading.Thread(target=claim, args=(barrier, claimed)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        every = [pk for batch in claimed for pk in batch]
        assert sorted(every) == ids(invitations), "each invitation claimed by exactly one worker"


def test_an_opt_out_after_screening_cancels_the_invitation_before_sending(support, marketing):
    ann, bob, cid = queued(support, "ann@example.com", "bob@example.com", "cid@example.com")
    factories.ConsentFactory(contact_id=ann.contact_id, kind=Consent.Kind.OPT_OUT)
    factories.ConsentFactory(
        contact_id=bob.contact_id, kind=Consent.Kind.SNOOZE, until=timezone.now() + dt.timedelta(days=30)
    )
    # Another department's opt-out is not ours to obey.
    factories.ConsentFactory(contact_id=cid.contact_id, kind=Consent.Kind.OPT_OUT, department=marketing)

    outcome = invitations_send_batch(invitation_ids=ids([ann, bob, cid]))

    assert outcome.sent == [cid.pk] and outcome.cancelled == 2
    ann.refresh_from_db()
    bob.refresh_from_db()
    assert ann.status == "cancelled" and ann.failure_reason.startswith("opted_out")
    assert bob.status == "cancelled" and bob.failure_reason.startswith("snoozed")
    assert [m.to[0].split("<")[-1] for m in mail.outbox] == ["cid@example.com>"]


def test_a_contact_whose_address_is_gone_is_cancelled_not_sent(support):
    [invitation] = queued(support, "ann@example.com")
    Identity.objects.filter(contact_id=invitation.contact_id).delete()

    invitations_send_batch(invitation_ids=[invitation.pk])

    invitation.refresh_from_db()
    assert invitation.status == "cancelled" and invitation.failure_reason.startswith("no_address")
    assert mail.outbox == []


def test_a_550_for_one_recipient_fails_that_invitation_and_sends_the_others(support, settings, smtp_server):
    send_through(settings, smtp_server)
    smtp_server.handler.refuse["bob@example.com"] = "550 5.1.1 No such user here"
    ann, bob, cid = queued(support, "ann@example.com", "bob@example.com", "cid@example.com")

    outcome = invitations_send_batch(invitation_ids=ids([ann, bob, cid]))

    assert outcome.sent == [ann.pk, cid.pk] and outcome.failed == [bob.pk]
    bob.refresh_from_db()
    assert bob.status == "failed" and "550" in bob.failure_reason and "No such user" in bob.failure_reason
    assert bob.status in Invitation.NOT_COUNTED
    assert [m["To"].addresses[0].addr_spec for m in smtp_server.messages] == [
        "ann@example.com",
        "cid@example.com",
    ]


def test_smtp_down_puts_the_batch_back_and_a_retry_sends_it_once(support, settings, smtp_server):
    send_through(settings, smtp_server)
    invitations = queued(support, "ann@example.com", "bob@example.com")
    smtp_server.stop()

    down = invitations_send_batch(invitation_ids=ids(invitations))

    assert down.retry == ids(invitations) and down.retry_code == "connection-refused"
    assert set(Invitation.objects.values_list("status", "attempts")) == {("queued", 1)}
    smtp_server.start()
    back = invitations_send_batch(invitation_ids=down.retry)
    assert back.sent == ids(invitations)
    assert sorted(smtp_server.message_ids().values()) == [1, 1]
    assert set(Invitation.objects.values_list("status", "attempts", "failure_reason")) == {("sent", 2, "")}


def test_a_4xx_is_tried_again_later(support, settings, smtp_server):
    send_through(settings, smtp_server)
    [invitation] = queued(support, "ann@example.com")
    smtp_server.handler.refuse_all = "451 4.3.0 Mailbox busy, try again later"

    later = invitations_send_batch(invitation_ids=[invitation.pk])

    invitation.refresh_from_db()
    assert later.retry == [invitation.pk] and invitation.status == "queued"
    assert invitation.failure_reason.startswith("451")
    smtp_server.handler.refuse_all = ""
    assert invitations_send_batch(invitation_ids=[invitation.pk]).sent == [invitation.pk]


def test_the_invitation_is_marked_sent_when_the_server_has_the_whole_message_and_not_before(
    support, settings, smtp_server, monkeypatch
):
    """SMTP's point of no return: every byte but the final "." is with the server. A worker killed
    from here on leaves the invitation sent, and nothing sends it a second time."""
    send_through(settings, smtp_server)
    [invitation] = queued(support, "ann@example.com")
    seen_at_mark = []
    original = invitation_mark_sent

    def watched(**kwargs):
        stored = original(**kwargs)
        seen_at_mark.append(smtp_server.received)  # the server delivers only after the "."
        return stored

    monkeypatch.setattr(sending, "invitation_mark_sent", watched)
    outcome = invitations_send_batch(invitation_ids=[invitation.pk])

    assert outcome.sent == [invitation.pk] and seen_at_mark == [0]
    assert smtp_server.received == 1
    invitation.refresh_from_db()
    assert invitation.status == "sent" and invitation.sent_at is not None


@pytest.mark.parametrize(
    ("reply", "status"),
    [("451 4.3.0 Try again later", "queued"), ("554 5.6.0 Message content rejected", "failed")],
)
def test_a_refusal_after_the_whole_message_undoes_the_sent_mark(
    support, settings, smtp_server, reply, status
):
    send_through(settings, smtp_server)
    [invitation] = queued(support, "ann@example.com")
    smtp_server.handler.refuse_data = reply

    invitations_send_batch(invitation_ids=[invitation.pk])

    invitation.refresh_from_db()
    assert (invitation.status, invitation.sent_at) == (status, None)
    assert invitation.failure_reason.startswith(reply[:3]) and smtp_server.received == 0
    smtp_server.handler.refuse_data = ""
    if status == "queued":
        assert invitations_send_batch(invitation_ids=[invitation.pk]).sent == [invitation.pk]
        assert smtp_server.received == 1


def test_an_invitation_out_of_attempts_fails_with_the_last_error(support, settings, smtp_server):
    send_through(settings, smtp_server)
    settings.DELIVERY_MAX_ATTEMPTS = 2
    [invitation] = queued(support, "ann@example.com")
    smtp_server.stop()

    first = invitations_send_batch(invitation_ids=[invitation.pk])
    second = invitations_send_batch(invitation_ids=[invitation.pk])

    invitation.refresh_from_db()
    assert first.retry == [invitation.pk] and second.retry == []
    assert invitation.status == "failed" and invitation.attempts == 2
    assert invitation.failure_reason.startswith("attempts: gave up after 2 attempts: [Errno 111]")


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x.test": (550, b"5.1.1 unknown")}), PermanentFailure, "smtp-550"),
        (smtplib.SMTPRecipientsRefused({"a@x.test": (450, b"4.2.1 busy")}), TransientFailure, "smtp-450"),
        (smtplib.SMTPDataError(554, b"5.7.1 rejected as spam"), PermanentFailure, "smtp-554"),
        (smtplib.SMTPDataError(451, b"4.3.0 local error"), TransientFailure, "smtp-451"),
        (smtplib.SMTPSenderRefused(550, b"not our sender", "s@x.test"), TransientFailure, "smtp-550"),
        (smtplib.SMTPConnectError(421, b"too busy"), TransientFailure, "smtp-421"),
        (smtplib.SMTPServerDisconnected("gone"), TransientFailure, "smtp-disconnected"),
        (ConnectionRefusedError(111, "Connection refused"), TransientFailure, "connection-refused"),
        (TimeoutError("timed out"), TransientFailure, "timeout"),
        (ValueError("Invalid address 'a@@x'"), PermanentFailure, "invalid-address"),
    ],
)
def test_smtp_errors_are_transient_or_permanent(error, kind, code):
    failure = email_failure(error)

    assert type(failure) is kind and failure.code == code


def test_an_invalid_address_fails_for_good(support):
    [invitation] = queued(support, "ann@example.com")
    Identity.objects.filter(contact_id=invitation.contact_id).update(value="ann@@example.com")

    outcome = invitations_send_batch(invitation_ids=[invitation.pk])

    invitation.refresh_from_db()
    assert outcome.failed == [invitation.pk] and invitation.status == "failed"
    assert invitation.failure_reason.startswith("Invalid address")


def test_logs_name_neither_the_address_nor_the_token(support, settings, smtp_server, caplog):
    send_through(settings, smtp_server)
    smtp_server.handler.refuse["bob@example.com"] = "550 5.1.1 <bob@example.com> unknown"
    queued(support, "ann@example.com", "bob@example.com")
    caplog.set_level(logging.DEBUG)

    invitations_send_batch(invitation_ids=list(Invitation.objects.values_list("pk", flat=True)))

    [received] = smtp_server.messages
    token = token_in(received.get_body(("plain",)).get_content(), "/t")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")  # mail.log: the server's
    assert "invitation batch: 1 sent, 1 failed" in ours
    assert token not in ours and "example.com" not in ours


def test_the_email_speaks_the_contacts_language(support):
    factories.known_contact(support, email="jan@example.de", locale="de", time_zone="Europe/Berlin")
    send_request = factories.screened_request(support)

    invitations_send_batch(
        invitation_ids=list(Invitation.objects.filter(send_request=send_request).values_list("pk", flat=True))
    )

    [message] = mail.outbox
    html = message.alternatives[0][0]
    assert '<html lang="de">' in html
    expires = Invitation.objects.get().expires_at.astimezone(dt.timezone(dt.timedelta(hours=1)))
    german_months = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August"]
    german_months += ["September", "Oktober", "November", "Dezember"]
    assert german_months[expires.month - 1] in message.body


# Dispatch, sweeper, completion, expiry


def test_dispatch_hands_due_invitations_over_once_and_moves_the_request_to_sending(support):
    invitations = queued(support, "ann@example.com", "bob@example.com")
    later = queued(support, "cid@example.com", earliest_send_at=timezone.now() + dt.timedelta(days=1))
    send_request = SendRequest.objects.get(pk=invitations[0].send_request_id)

    assert invitations_dispatch_due() == 2
    assert invitations_dispatch_due() == 0

    send_request.refresh_from_db()
    assert send_request.status == "sending"
    assert all(i.dispatched_at for i in Invitation.objects.filter(pk__in=ids(invitations)))
    assert Invitation.objects.get(pk=later[0].pk).dispatched_at is None
    assert SendRequest.objects.get(pk=later[0].send_request_id).status == "screened"


def test_a_request_completes_when_nothing_is_queued_or_sending(support):
    invitations = queued(support, "ann@example.com", "bob@example.com")
    send_request = SendRequest.objects.get(pk=invitations[0].send_request_id)
    invitations_dispatch_due()
    invitations_send_batch(invitation_ids=[invitations[0].pk])

    assert send_request_complete_finished() == []

    invitations_send_batch(invitation_ids=[invitations[1].pk])
    assert send_request_complete_finished() == [send_request.pk]
    send_request.refresh_from_db()
    assert send_request.status == "completed"


def test_a_request_with_nobody_allowed_completes_at_once(support):
    contact = factories.known_contact(support)
    factories.ConsentFactory(contact=contact)
    send_request = factories.screened_request(support)

    invitations_dispatch_due()

    send_request.refresh_from_db()
    assert send_request.status == "completed"


def test_the_sweeper_requeues_what_a_dead_worker_left_in_sending(support, settings):
    invitations = queued(support, "ann@example.com", "bob@example.com")
    invitations_dispatch_due()
    # A worker claims the batch and dies before sending: both stay in sending.
    invitation_claim(invitation_ids=ids(invitations), now=timezone.now())

    early = invitations_sweep_stuck()
    assert early.requeued == 0 and set(Invitation.objects.values_list("status", flat=True)) == {"sending"}

    later = timezone.now() + dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER + 1)
    swept = invitations_sweep_stuck(now=later)

    assert swept.requeued == 2 and swept.handed_over == 2
    assert set(Invitation.objects.values_list("status", "attempts")) == {("queued", 1)}
    assert invitations_send_batch(invitation_ids=ids(invitations)).sent == ids(invitations)


def test_the_sweeper_hands_over_again_what_the_broker_lost(support, settings):
    invitations = queued(support, "ann@example.com")
    invitations_dispatch_due()  # its task is lost on the way

    assert invitations_sweep_stuck().handed_again == 0
    later = timezone.now() + dt.timedelta(seconds=settings.DELIVERY_HANDOFF_LEASE + 1)
    swept = invitations_sweep_stuck(now=later)

    assert swept.handed_again == 1 and swept.handed_over == 1
    assert Invitation.objects.get(pk=invitations[0].pk).dispatched_at == later


def test_a_worker_that_died_too_often_fails_the_invitation(support, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    [invitation] = queued(support, "ann@example.com")
    for _ in range(2):  # claimed, worker dies, swept
        invitation_claim(invitation_ids=[invitation.pk], now=timezone.now())
        later = timezone.now() + dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER + 1)
        invitations_sweep_stuck(now=later)

    outcome = invitations_send_batch(invitation_ids=[invitation.pk])

    invitation.refresh_from_db()
    assert outcome.failed == [invitation.pk] and outcome.cancelled == 0
    assert invitation.status == "failed" and invitation.failure_reason.startswith("attempts:")
    assert mail.outbox == []


def test_links_expire(support):
    ann, bob, cid = queued(support, "ann@example.com", "bob@example.com", "cid@example.com")
    invitations_send_batch(invitation_ids=ids([ann, bob, cid]))
    Invitation.objects.filter(pk=cid.pk).update(status="answered", responded_at=timezone.now())
    Invitation.objects.filter(pk=bob.pk).update(expires_at=timezone.now() + dt.timedelta(days=30))

    assert invitations_expire(now=timezone.now() + dt.timedelta(days=15)) == 1

    assert dict(Invitation.objects.values_list("pk", "status")) == {
        ann.pk: "expired",
        bob.pk: "sent",
        cid.pk: "answered",
    }


def test_a_request_cancelled_after_dispatch_sends_nothing(support, alice):
    from departments.actors import actor_for_user
    from surveys.gatekeeper.send_requests import send_request_cancel

    invitations = queued(support, "ann@example.com")
    invitations_dispatch_due()
    send_request = SendRequest.objects.get(pk=invitations[0].send_request_id)
    send_request_cancel(send_request=send_request, actor=actor_for_user(alice))

    assert invitations_send_batch(invitation_ids=ids(invitations)).sent == []
    assert mail.outbox == []


# SMS


def sms_message(**overrides) -> Outgoing:
    fields = {
        "invitation_id": 7,
        "kind": "invite",
        "channel": "sms",
        "address": "+4915112345678",
        "name": "Ann",
        "locale": "en",
        "time_zone": "Europe/Berlin",
        "token": "T0KEN-t0ken-T0KEN-t0ken-T0KEN-t0",
        "survey_name": "After your call",
        "survey_intro": "",
        "department_name": "Support",
        "expires_at": timezone.now() + dt.timedelta(days=14),
    }
    return Outgoing(**{**fields, **overrides})


def test_an_sms_invitation_goes_to_the_phone_with_the_short_link(support, settings):
    settings.SMS_BACKEND = "surveys.delivery.channels.sms.LocmemSmsBackend"
    LocmemSmsBackend.outbox.clear()
    contact = factories.ContactFactory()
    phone = factories.IdentityFactory(
        contact=contact, kind="phone", value="0151 12345678", normalised="+4915112345678"
    )
    factories.DepartmentContactFactory(department=support, contact=contact)
    factories.DepartmentIdentityFactory(department=support, identity=phone)
    send_request = factories.screened_request(support, channel="sms")

    [invitation_id] = Invitation.objects.filter(send_request=send_request).values_list("pk", flat=True)
    outcome = invitations_send_batch(invitation_ids=[invitation_id])

    assert outcome.sent == [invitation_id]
    [sms] = LocmemSmsBackend.outbox
    token = token_in(sms["body"], "/s")
    assert sms["to"] == "+4915112345678" and links.short_url(token) in sms["body"]
    assert InvitationToken.objects.filter(invitation_id=invitation_id, token_hash=token_hash(token)).exists()


def test_the_console_sms_backend_logs_neither_number_nor_link(settings, caplog):
    settings.SMS_BACKEND = "surveys.delivery.channels.sms.ConsoleSmsBackend"
    caplog.set_level(logging.DEBUG)
    from surveys.delivery.channels.sms import SmsSender

    sender = SmsSender()
    sender.open()
    sender.send(sms_message(), mark_sent=lambda: lambda: None)
    sender.close()

    assert "SMS sent" in caplog.text
    assert "T0KEN" not in caplog.text and "12345678" not in caplog.text


class FakeTwilio:
    """Stands in for the HTTPS connection to api.twilio.com: the request would leave the machine."""

    requests: list = []
    status = 201
    payload = b'{"sid": "SM1"}'

    def __init__(self, host, timeout=None):
        self.host = host

    def request(self, method, path, body=None, headers=None):
        self.requests.append({"host": self.host, "method": method, "path": path, "body": body, **headers})

    def getresponse(self):
        status, payload = self.status, self.payload

        class Response:
            def read(self):
                return payload

        response = Response()
        response.status = status
        return response

    def close(self):
        pass


@pytest.fixture
def twilio(settings, monkeypatch):
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "secret"
    settings.TWILIO_FROM_NUMBER = "+15550001111"
    FakeTwilio.requests = []
    FakeTwilio.status, FakeTwilio.payload = 201, b'{"sid": "SM1"}'
    monkeypatch.setattr(http.client, "HTTPSConnection", FakeTwilio)
    return FakeTwilio


def test_twilio_gets_the_number_and_text_with_our_credentials(twilio):
    backend = TwilioSmsBackend()
    backend.open()
    backend.send_text(to="+4915112345678", body=sms_text(sms_message()))

    [sent] = twilio.requests
    assert sent["host"] == "api.twilio.com" and sent["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert "To=%2B4915112345678" in sent["body"] and "From=%2B15550001111" in sent["body"]
    assert sent["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    ("status", "payload", "kind"),
    [
        (400, b'{"code": 21211, "message": "Invalid To number"}', PermanentFailure),
        (429, b'{"code": 20429, "message": "Too many requests"}', TransientFailure),
        (503, b"Service Unavailable", TransientFailure),
        (401, b'{"code": 20003, "message": "Authenticate"}', TransientFailure),
    ],
)
def test_twilio_errors_are_transient_or_permanent(twilio, status, payload, kind):
    twilio.status, twilio.payload = status, payload

    with pytest.raises(kind) as raised:
        TwilioSmsBackend().send_text(to="+4915112345678", body="hello")

    assert raised.value.code == f"http-{status}"
