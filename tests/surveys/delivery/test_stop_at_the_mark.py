"""A worker's pool process stopped in the moment between the invitation's sent mark and SMTP's final
".": the message still goes, once (surveys/delivery/channels/email.py, _signals_held).

Celery gives SIGTERM its default action in a pool process, so a worker stopped with its process
group (a deploy, a restart) ends at once wherever it is. The reliability suite's clock-jump fault
once landed in that moment: an invitation marked sent that the SMTP server never got."""

import os
import signal
import subprocess
import sys

from tests import workers
from tests.smtp import loopback_smtp

SEND_STOPPED_AT_THE_MARK = """
import os, signal, smtplib, sys

import django

django.setup()
from django.core.mail import EmailMessage

from surveys.delivery.channels.email import smtp_send

signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as Celery leaves it in a pool process
connection = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
email = EmailMessage("Your feedback", "How did we do?", "cx@example.com", ["ann@example.com"])


def mark_then_stopped():
    os.kill(os.getpid(), signal.SIGTERM)  # the deploy's stop, right as the mark leaves
    return lambda: True


smtp_send(connection, email, before_final_dot=mark_then_stopped)
print("still running after the stop")
"""


def test_a_worker_stopped_between_the_mark_and_the_final_dot_still_sends_the_message_once():
    with loopback_smtp() as server:
        ended = subprocess.run(
            [sys.executable, "-c", SEND_STOPPED_AT_THE_MARK, str(server.port)],
            cwd=workers.ROOT,
            env={**os.environ, "DATABASE_URL": workers.test_database_url()},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ended.returncode == -signal.SIGTERM, ended.stdout + ended.stderr  # it did stop
        workers.wait_until(lambda: server.received, timeout=10, message="the server to have the message")
        assert server.received == 1
        assert server.messages[0]["Subject"] == "Your feedback"
