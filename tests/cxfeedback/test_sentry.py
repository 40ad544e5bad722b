"""Error reports to Sentry carry no personal-link token, API key, email address or phone number:
a real error in a real view, captured by sentry-sdk with its Django integration, and the envelope
that would have left the machine read back."""

import json

import pytest
import sentry_sdk
from django.test import Client
from sentry_sdk.transport import Transport

from cxfeedback.sentry import sentry_init
from surveys.delivery.tokens import token_new

EMAIL = "ada.lovelace@example.com"
PHONE = "+49 151 23456789"
API_KEY = "cxf_0123456789abcdefghijklmnopqrstuv"


class Outbox(Transport):
    """What sentry-sdk would send, kept here instead (the network is the one part mocked)."""

    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def sent(self) -> str:
        return "\n".join(envelope.serialize().decode("utf-8", "replace") for envelope in self.envelopes)


@pytest.fixture
def sentry():
    outbox = Outbox()
    sentry_init(dsn="https://public@o1.ingest.sentry.io/1", environment="tests", transport=outbox)
    yield outbox
    sentry_sdk.get_client().close()


@pytest.mark.django_db
def test_a_raised_errors_event_carries_no_token_email_or_phone(sentry, monkeypatch):
    token, _ = token_new()

    def broken(given_token):
        email, phone = EMAIL, PHONE  # as locals too: an event could carry a frame's variables
        raise RuntimeError(f"lookup of /t/{given_token} for {email} ({phone}) with {API_KEY} failed")

    monkeypatch.setattr("surveys.public.views.invitation_for_token", broken)
    customer = Client(raise_request_exception=False)

    answer = customer.get(f"/t/{token}?ref={EMAIL}", HTTP_X_REQUEST_ID="req-12345678", HTTP_COOKIE="a=b")
    sentry_sdk.flush()

    assert answer.status_code == 500
    sent = sentry.sent()
    assert "RuntimeError" in sent and "/t/[redacted]" in sent  # the error was reported …
    assert "req-12345678" in sent  # … with the request id of its log lines …
    for secret in (token, EMAIL, PHONE, "15123456789", API_KEY):  # … and nothing personal
        assert secret not in sent, secret
    event = json.loads(next(line for line in sent.splitlines() if '"exception"' in line))
    assert "data" not in event.get("request", {}) and "cookies" not in event.get("request", {})
