"""Email invitations and reminders through Django's email backends (SMTP, or a provider through
django-anymail): multipart text + HTML in the contact's language, with one-click unsubscribe.

From: DEFAULT_FROM_EMAIL's address under the name "<department> at <company>" (email_from).

Headers:
- `List-Unsubscribe`: the unsubscribe page and a mailto, `List-Unsubscribe-Post:
  List-Unsubscribe=One-Click` (RFC 8058), so mail clients offer unsubscribing without opening it.
- `Message-ID: <invitation-{id}.{kind}@{domain}>`, the same every time one message is sent again.

Never twice over SMTP: the invitation is marked sent at SMTP's point of no return — the server has
the whole message and waits only for the final "." — so a worker killed while the server takes the
message leaves it marked sent, and nothing sends it again. A crash before that point leaves the
message unfinished, which the server discards, and the invitation in sending for the sweeper. What
is left is the moment between handing the mark to the kernel and writing "." (a microsecond or two:
over TCP the kernel holds the mark without waking PostgreSQL, see cxfeedback.db), in which a crash
loses the message instead; a stop signal in that moment waits for the "." (_signals_held), so only a
SIGKILL or a power cut can still land there. A server that refuses after the "." undoes the mark. Backends
that cannot be split (a provider's API, the file backend) mark after the send returns, and there a
crash in between means the same Message-ID twice, which mail providers fold into one.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import smtplib
import socket
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address
from django.core.validators import validate_email
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext

from surveys.delivery import links
from surveys.delivery.channels import MarkSent, Outgoing, PermanentFailure, SendFailed, TransientFailure
from surveys.delivery.channels.content import language_of, message_context

logger = logging.getLogger(__name__)


def email_message_id(message: Outgoing) -> str:
    return f"<invitation-{message.invitation_id}.{message.kind}@{links.sender_domain()}>"


def email_build(message: Outgoing, *, connection=None) -> EmailMultiAlternatives:
    """The email for `message`, rendered in the contact's language."""
    template = "reminder" if message.is_reminder else "invitation"
    with translation.override(language_of(message)):
        context = message_context(message)
        subject = email_subject(message)
        from_email = email_from(message)
        text = render_to_string(f"surveys/email/{template}.txt", context)
        html = render_to_string(f"surveys/email/{template}.html", context)
    email = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=from_email,
        to=[formataddr((message.name, message.address)) if message.name else message.address],
        connection=connection,
        headers={
            "Message-ID": email_message_id(message),
            "List-Unsubscribe": (
                f"<{links.unsubscribe_url(message.token)}>, <{links.unsubscribe_mailto(message.token)}>"
            ),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    email.attach_alternative(html, "text/html")
    return email


def email_subject(message: Outgoing) -> str:
    """The survey translation's own subject for an invitation, else the standard one in the
    contact's language; a test send says so first."""
    if message.is_reminder:
        subject = gettext("Reminder: %(department)s would still like your feedback")
    else:
        subject = message.email_subject or gettext("%(department)s would like your feedback")
    subject = subject.replace("%(department)s", message.department_name)
    return f"[Test] {subject}" if message.is_test else subject


def email_from(message: Outgoing) -> str:
    """DEFAULT_FROM_EMAIL's address under the name "<department> at <company>" in the contact's
    language, or the department's name alone while the company has no name. Non-ASCII names are
    encoded (RFC 2047) by Django when the message is built; a comma or quote in a name is quoted."""
    _configured_name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    if message.company_name:
        name = gettext("%(department)s at %(company)s") % {
            "department": message.department_name,
            "company": message.company_name,
        }
    else:
        name = message.department_name or _configured_name
    return formataddr((name, address)) if name else address


class EmailSender:
    """One connection of the configured email backend for a whole batch."""

    def __init__(self) -> None:
        self.connection = get_connection(fail_silently=False)

    def open(self) -> None:
        try:
            self.connection.open()
        except Exception as error:
            raise email_failure(error) from error

    def send(self, message: Outgoing, *, mark_sent: MarkSent) -> None:
        """Send one message and call `mark_sent` once it can no longer be sent twice: at SMTP's point
        of no return, or after the backend returns. Raises SendFailed; if `mark_sent` was called by
        then, the caller undoes it."""
        try:
            validate_email(message.address)
        except ValidationError as error:
            raise PermanentFailure("invalid-address", "Invalid address: not an email address.") from error
        email = email_build(message, connection=self.connection)
        try:
            if isinstance(self.connection, SmtpBackend) and self.connection.connection is not None:
                sent = smtp_send(self.connection.connection, email, before_final_dot=mark_sent)
            else:
                sent = self.connection.send_messages([email])
                if sent:
                    mark_sent()()
        except Exception as error:
            raise email_failure(error) from error
        if not sent:
            raise PermanentFailure("no-recipient", "The email had no recipient the backend would take.")

    def close(self) -> None:
        # Closing a broken connection may fail; every message is accounted for by then.
        with contextlib.suppress(Exception):
            self.connection.close()


def smtp_send(connection: smtplib.SMTP, email: EmailMultiAlternatives, *, before_final_dot: MarkSent) -> bool:
    """smtplib's sendmail as Django's SMTP backend calls it, with DATA split before its final ".":
    `before_final_dot` starts when the server has the whole message, and is waited for once the "."
    is out. False without a recipient.

    After the ".", a lost reply counts as accepted: the server may well have the message, and
    sending it again could mean twice."""
    recipients = email.recipients()
    if not recipients:
        return False
    encoding = email.encoding or settings.DEFAULT_CHARSET
    sender = sanitize_address(email.from_email, encoding)
    addresses = [sanitize_address(address, encoding) for address in recipients]
    data = email.message().as_bytes(linesep="\r\n")
    _smtp_envelope(connection, sender, addresses, size=len(data))
    return _smtp_data(connection, data, before_final_dot=before_final_dot)


def _smtp_envelope(connection: smtplib.SMTP, sender: str, addresses: list[str], *, size: int) -> None:
    """MAIL FROM and RCPT TO, as smtplib's sendmail sends them. Raises as it does when refused."""
    connection.ehlo_or_helo_if_needed()
    options = [f"size={size}"] if connection.does_esmtp and connection.has_extn("size") else []
    code, reply = connection.mail(sender, options)
    if code != 250:
        _smtp_abandon(connection, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for address in addresses:
        code, reply = connection.rcpt(address)
        if code not in (250, 251):
            refused[address] = (code, reply)
    if len(refused) == len(addresses):
        _smtp_abandon(connection, code)
        raise smtplib.SMTPRecipientsRefused(refused)


def _smtp_data(connection: smtplib.SMTP, data: bytes, *, before_final_dot: MarkSent) -> bool:
    """DATA and the message, then the final "." with `before_final_dot` started just before it: the
    point of no return (see smtp_send). True once sent; raises SMTPDataError when refused."""
    connection.putcmd("data")
    code, reply = connection.getreply()
    if code != 354:
        _smtp_abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)
    body = re.sub(rb"(?m)^\.", b"..", data)
    # The "." goes in a write of its own: without TCP_NODELAY, Nagle's algorithm would hold it until
    # the server acknowledged the message, which a delayed ACK puts off by 40 ms.
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    connection.send(body if body.endswith(b"\r\n") else body + b"\r\n")
    with _signals_held():
        stored = before_final_dot()
        try:
            connection.send(b".\r\n")
        finally:
            stored()
    try:
        code, reply = connection.getreply()
    except smtplib.SMTPServerDisconnected:
        logger.warning("SMTP reply lost after a whole message was sent; counted as sent")
        return True
    if code != 250:
        _smtp_abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)
    return True


# The signals that stop a process. Celery resets SIGTERM and SIGHUP to their default action in a pool
# process, which ends it at once wherever it is, even between the sent mark and the final ".".
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT}


@contextlib.contextmanager
def _signals_held():
    """Hold the stop signals from the mark until the "." is out and the mark stored: a worker stopped
    in that moment stops right after it (the kernel still delivers the "."), with the message sent
    once and marked once. The thread running the send (a pool process's only one) holds them."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _smtp_abandon(connection: smtplib.SMTP, code: int) -> None:
    """As smtplib does after a refusal: 421 means the server is closing; otherwise reset the session."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        if code == 421:
            connection.close()
        else:
            connection.rset()


def email_failure(error: Exception) -> SendFailed:
    """Classify an error of the email backend: transient (try later) or permanent (never works)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        reason = "; ".join(f"{code} {_text(reply)}" for code, reply in error.recipients.values())
        if codes and all(code >= 500 for code in codes):
            return PermanentFailure(f"smtp-{codes[0]}", reason)
        return TransientFailure(f"smtp-{codes[0] if codes else 'refused'}", reason)
    if isinstance(error, smtplib.SMTPResponseException):
        reason = f"{error.smtp_code} {_text(error.smtp_error)}"
        code = f"smtp-{error.smtp_code}"
        if isinstance(error, smtplib.SMTPDataError) and error.smtp_code >= 500:
            return PermanentFailure(code, reason)
        # A refused sender or a failed login is our configuration, not this recipient: retry, bounded.
        lost = isinstance(error, smtplib.SMTPConnectError | smtplib.SMTPAuthenticationError)
        return TransientFailure(code, reason, connection_lost=lost)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        # The address needs SMTPUTF8 and the server does not offer it.
        return PermanentFailure("smtp-not-supported", str(error))
    if isinstance(error, ValueError):
        # sanitize_address rejects what is not an address; the text names it, so only the reason has it.
        return PermanentFailure("invalid-address", f"Invalid address: {error}")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return TransientFailure("smtp-disconnected", str(error), connection_lost=True)
    if isinstance(error, TimeoutError):
        return TransientFailure("timeout", str(error) or "timed out", connection_lost=True)
    if isinstance(error, ConnectionRefusedError):
        return TransientFailure("connection-refused", str(error), connection_lost=True)
    if isinstance(error, OSError | smtplib.SMTPException):
        return TransientFailure(type(error).__name__, str(error), connection_lost=True)
    anymail = _anymail_failure(error)
    if anymail is not None:
        return anymail
    raise error


def _anymail_failure(error: Exception) -> SendFailed | None:
    """Errors of a provider's API through django-anymail (EMAIL_BACKEND set to one)."""
    from anymail.exceptions import AnymailError, AnymailRecipientsRefused

    if isinstance(error, AnymailRecipientsRefused):
        return PermanentFailure("provider-refused", str(error))
    if isinstance(error, AnymailError):
        status = getattr(error, "status_code", None)
        if status is not None and 400 <= status < 500 and status not in (401, 403, 408, 429):
            return PermanentFailure(f"provider-{status}", str(error))
        return TransientFailure(f"provider-{status or 'error'}", str(error), connection_lost=True)
    return None


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
