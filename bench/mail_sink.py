"""An SMTP server on loopback in a process of its own, for a benchmark that measures latency in its own.

tests/smtp.py's LoopbackSmtp runs in its caller's process. Receiving thousands of emails there, and
parsing them to count their Message-IDs, takes the GIL from the caller's event loop: a benchmark's
clients then time the mail sink too (bench_trigger_mixed saw a 3 s stall when it first counted the
dispatch's 3,000 emails). Here aiosmtpd runs in a process of its own that writes each accepted message's
Message-ID as a line into a file; the caller counts the lines.

    sink = MailSink().start()
    … workers started with sink.env() send to it …
    sink.message_ids()  # Counter: Message-ID → SMTP transactions that delivered it
    sink.stop()
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path


class _Recorder:
    """aiosmtpd's handler: accepts every message and writes down its Message-ID at once."""

    def __init__(self, out) -> None:
        self.out = out
        self.parser = BytesHeaderParser(policy=policy.compat32)

    async def handle_DATA(self, server, session, envelope):
        message_id = self.parser.parsebytes(envelope.content).get("Message-ID", "")
        self.out.write(f"{message_id.strip()}\n")
        self.out.flush()
        return "250 2.0.0 Accepted"


def serve(port: int, path: str) -> None:
    """The child process: serve until SIGTERM."""
    from aiosmtpd.controller import Controller

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with open(path, "a", encoding="ascii") as out:
        controller = Controller(_Recorder(out), hostname="127.0.0.1", port=port)
        controller.start()
        stopped.wait()
        controller.stop()


class MailSink:
    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.path = Path(tempfile.mkstemp(prefix="mail-sink-", suffix=".txt")[1])
        self._forgotten = 0
        self._process: subprocess.Popen | None = None

    def start(self) -> MailSink:
        self._process = subprocess.Popen([sys.executable, __file__, str(self.port), str(self.path)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the mail sink did not start within 30 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self.path.unlink(missing_ok=True)

    def _lines(self) -> list[str]:
        """Every whole line written so far (one being written is left for the next read)."""
        text = self.path.read_text(encoding="ascii")
        return text[: text.rfind("\n") + 1].splitlines()

    @property
    def received(self) -> int:
        """How many messages were received since the last forget()."""
        return len(self._lines()) - self._forgotten

    def forget(self) -> None:
        """Count only what arrives from now on."""
        self._forgotten = len(self._lines())

    def message_ids(self) -> Counter:
        """How many SMTP transactions delivered each Message-ID since the last forget()."""
        return Counter(self._lines()[self._forgotten :])

    def env(self) -> dict[str, str]:
        """Environment for a worker subprocess that should send here."""
        return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(self.port), "EMAIL_USE_TLS": "false"}


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
