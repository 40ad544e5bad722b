"""A real SMTP server on loopback (aiosmtpd) that records every message it accepts, for tests and the
dispatch benchmark. It can be told to refuse connections, to answer 4xx (try later) or 5xx (never)
for some or all recipients, and to be slow.

    server = LoopbackSmtp().start()
    … send to 127.0.0.1:server.port …
    server.messages  # email.message.EmailMessage objects, parsed with the default policy

Used by tests/surveys/test_delivery*.py and bench/bench_dispatch.py.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RecordingHandler:
    """aiosmtpd's handler: replies as the server is told to, keeps what it accepts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.raw: list[bytes] = []
        self.received_at: list[float] = []  # time.monotonic() of each message
        self._parsed: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: dict[str, str] = {}  # recipient (lower case) → reply, e.g. "550 5.1.1 No such user"
        self.refuse_all: str = ""  # a reply for every recipient, e.g. "451 4.3.0 Try again later"
        self.refuse_data: str = ""  # a reply to the final ".", e.g. "554 5.6.0 Message rejected"
        self.delay: float = 0.0  # seconds before accepting each message

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refuse_all or self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_data:  # refused once the whole message is in: not delivered
            return self.refuse_data
        with self.lock:
            # Kept raw and parsed when read: the server's time is the sender's to measure, not ours.
            # Recorded when the whole message is in, before the reply: like a real server, which
            # delivers what it received even if the client is gone before it reads the 250.
            self.raw.append(envelope.content)
            self.received_at.append(time.monotonic())
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 2.0.0 Accepted"

    def parsed(self) -> list[EmailMessage]:
        with self.lock:
            raw = list(self.raw)
        for content in raw[len(self._parsed) :]:
            self._parsed.append(email.message_from_bytes(content, policy=policy.default))
        return list(self._parsed)


class LoopbackSmtp:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self.controller: Controller | None = None

    def start(self) -> LoopbackSmtp:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until start() again (same port, same records)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received so far, in order, parsed with the email package's default policy."""
        return self.handler.parsed()

    @property
    def received(self) -> int:
        """How many messages were received (cheap: nothing parsed)."""
        return len(self.handler.raw)

    def forget(self) -> None:
        """Drop what was received so far."""
        with self.handler.lock:
            self.handler.raw.clear()
            self.handler.received_at.clear()
            self.handler._parsed.clear()
            self.handler.envelopes.clear()

    def message_ids(self) -> Counter:
        """How many SMTP transactions delivered each Message-ID."""
        return Counter(message["Message-ID"] for message in self.messages)

    def env(self) -> dict[str, str]:
        """Environment for a worker subprocess that should send here."""
        return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(self.port), "EMAIL_USE_TLS": "false"}


@contextmanager
def loopback_smtp() -> Iterator[LoopbackSmtp]:
    """A started server, stopped at the end. Test modules wrap it in their `smtp_server` fixture."""
    server = LoopbackSmtp().start()
    try:
        yield server
    finally:
        server.stop()


def send_through(settings, server: LoopbackSmtp) -> None:
    """This process's email through `server` (pytest-django swaps in the locmem backend otherwise);
    `settings` is pytest-django's fixture, which restores everything after the test."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 5
