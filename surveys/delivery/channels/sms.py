"""SMS invitations through a pluggable backend, named by settings.SMS_BACKEND (a dotted path).

A backend has `open()`, `send_text(to=, body=)` and `close()`, and raises the channel failures
(surveys/delivery/channels/__init__.py). Three come with the app:
- ConsoleSmsBackend (the default): logs that a message went out, never its number, text or link;
- LocmemSmsBackend: keeps messages in `LocmemSmsBackend.outbox`, for tests;
- TwilioSmsBackend: Twilio's REST API over HTTPS, one kept-alive connection per batch, with the
  TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER settings.

There is no Message-ID for SMS: a message sent a second time in the crash window (see
surveys/delivery/) arrives twice.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
from typing import ClassVar
from urllib.parse import urlencode

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.module_loading import import_string

from surveys.delivery.channels import MarkSent, Outgoing, PermanentFailure, TransientFailure
from surveys.delivery.channels.content import language_of, message_context

logger = logging.getLogger(__name__)


class SmsBackend:
    """The interface; subclasses override send_text (and open/close if they hold a connection)."""

    def open(self) -> None:
        pass

    def send_text(self, *, to: str, body: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ConsoleSmsBackend(SmsBackend):
    def send_text(self, *, to: str, body: str) -> None:
        # Only the length: the number and the link (its token) never reach a log.
        logger.info("SMS sent by the console backend: %d characters", len(body))


class LocmemSmsBackend(SmsBackend):
    outbox: ClassVar[list[dict[str, str]]] = []

    def send_text(self, *, to: str, body: str) -> None:
        self.outbox.append({"to": to, "body": body})


class TwilioSmsBackend(SmsBackend):
    """Twilio's Messages API. HTTP 400 (invalid or unsubscribed number, Twilio codes 21211, 21610,
    21614 …) is permanent; 429, 5xx, our own credentials (401/403) and network errors are transient."""

    host = "api.twilio.com"

    def __init__(self) -> None:
        self.account = settings.TWILIO_ACCOUNT_SID
        credentials = f"{self.account}:{settings.TWILIO_AUTH_TOKEN}".encode()
        self.authorization = "Basic " + base64.b64encode(credentials).decode()
        self.connection: http.client.HTTPSConnection | None = None

    def open(self) -> None:
        self.connection = http.client.HTTPSConnection(self.host, timeout=settings.EMAIL_TIMEOUT)

    def send_text(self, *, to: str, body: str) -> None:
        if self.connection is None:
            self.open()
        form = urlencode({"To": to, "From": settings.TWILIO_FROM_NUMBER, "Body": body})
        headers = {
            "Authorization": self.authorization,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        try:
            self.connection.request(
                "POST", f"/2010-04-01/Accounts/{self.account}/Messages.json", body=form, headers=headers
            )
            response = self.connection.getresponse()
            status, payload = response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise TransientFailure(type(error).__name__, str(error), connection_lost=True) from error
        if status < 300:
            return
        reason = _twilio_error(status, payload)
        if status == 400:
            raise PermanentFailure(f"http-{status}", reason)
        raise TransientFailure(f"http-{status}", reason, connection_lost=status in (401, 403))

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _twilio_error(status: int, payload: bytes) -> str:
    try:
        error = json.loads(payload)
        return f"{status} Twilio {error.get('code')}: {error.get('message')}"
    except (ValueError, AttributeError):
        return f"{status} {payload[:200].decode(errors='replace')}"


def sms_text(message: Outgoing) -> str:
    """The SMS body, in the contact's language, with the short survey link."""
    with translation.override(language_of(message)):
        return render_to_string("surveys/sms/invitation.txt", message_context(message)).strip()


class SmsSender:
    """Sends a batch of SMS through one backend instance (one connection where it has one)."""

    def __init__(self) -> None:
        self.backend: SmsBackend = import_string(settings.SMS_BACKEND)()

    def open(self) -> None:
        self.backend.open()

    def send(self, message: Outgoing, *, mark_sent: MarkSent) -> None:
        """An SMS has no point of no return to wait for: marked sent once the provider took it."""
        self.backend.send_text(to=message.address, body=sms_text(message))
        mark_sent()()

    def close(self) -> None:
        self.backend.close()
