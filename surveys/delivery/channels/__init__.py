"""Channels turn one outgoing message into an email or an SMS and hand it to the outside world.

The delivery service (surveys/delivery/) claims invitations, builds an `Outgoing` for
each, opens one sender per batch and calls `send` for each message. A sender raises
`TransientFailure` (try again later: connection refused, timeouts, 4xx) or `PermanentFailure`
(this address will never work: 5xx for the recipient, an invalid address); anything it returns from
is accepted by the server. Failures carry a `code` safe to log (no address, no token) and a
`reason` for the invitation's record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from contacts.models import Channel


@dataclass(frozen=True)
class Outgoing:
    """One message for one invitation, with everything needed to render it. `token` is the plain
    token of this message's link: it exists only here and in the message."""

    invitation_id: int
    kind: str  # "invite", or "reminder-<n>" for the n-th reminder
    channel: str
    address: str
    name: str
    locale: str
    time_zone: str
    token: str
    survey_name: str
    survey_intro: str
    department_name: str
    expires_at: dt.datetime
    minutes: int = 1  # how long the survey takes: its burden as reserved (Invitation.weight)
    # The survey's translation for the contact's locale (surveys/design/translations.py): its own
    # subject and message, or empty for the standard ones; survey_name and survey_intro are translated.
    email_subject: str = ""
    email_body: str = ""
    company_name: str = ""  # CompanySettings.company_name: the sender is "<department> at <company>"

    @property
    def is_reminder(self) -> bool:
        return self.kind.startswith("reminder-")

    @property
    def is_test(self) -> bool:
        """A test send to the survey's owner (surveys/design/previews.py): no invitation, no real link."""
        return self.kind.startswith("test-")

    @property
    def reminder_number(self) -> int:
        return int(self.kind.removeprefix("reminder-")) if self.is_reminder else 0


class SendFailed(Exception):
    """The message was not accepted. `code` is short and safe to log; `reason` is the full story."""

    def __init__(self, code: str, reason: str = ""):
        super().__init__(code)
        self.code = code
        self.reason = (reason or code)[:500]


class TransientFailure(SendFailed):
    """Worth trying again later. `connection_lost`: the sender cannot send anything more now."""

    def __init__(self, code: str, reason: str = "", *, connection_lost: bool = False):
        super().__init__(code, reason)
        self.connection_lost = connection_lost


class PermanentFailure(SendFailed):
    """This message to this address will never be accepted."""


# Starts marking a message sent and returns the function that waits until the mark is stored.
MarkSent = Callable[[], Callable[[], object]]


def _mark_nothing() -> Callable[[], None]:
    return lambda: None


# The `mark_sent` of a message whose invitation has nothing to mark: a reminder, counted before it is
# sent (at most once: a crash mid-send loses a reminder rather than repeating one).
NO_MARK: MarkSent = _mark_nothing


class Sender(Protocol):
    """Sends a batch of messages over one connection: open(), send() each, close()."""

    def open(self) -> None: ...

    def send(self, message: Outgoing, *, mark_sent: MarkSent) -> None:
        """Send, calling `mark_sent` at the last moment a crash cannot make the message go twice, and
        the function it returns (which waits for the mark to be stored) before returning."""

    def close(self) -> None: ...


def sender_for(channel: str) -> Sender:
    """A new sender for `channel` (not yet open)."""
    if channel == Channel.EMAIL:
        from surveys.delivery.channels.email import EmailSender

        return EmailSender()
    if channel == Channel.SMS:
        from surveys.delivery.channels.sms import SmsSender

        return SmsSender()
    raise ValueError(f"no sender for channel {channel!r}")
