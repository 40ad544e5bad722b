"""Keeping `make run`'s worker and beat running: a process that exits is started again, after a
pause that doubles on each quick exit (1, 2, 4 … 30 s) and starts over once it has run for a
minute. A worker whose broker went away exits; it comes back when the broker does.

What a production host uses instead is a real supervisor (systemd units in README "Operating it"):
this is the same policy for a developer's machine, where `make run` is the supervisor.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

FIRST_PAUSE = 1.0  # seconds before the first restart
LONGEST_PAUSE = 30.0
# A process that ran this long exited for a new reason: its next restart waits FIRST_PAUSE again.
STEADY_AFTER = 60.0


@dataclass
class Supervised:
    """One command kept running (`restart`), or one whose exit ends the whole run (`restart=False`)."""

    name: str
    command: Sequence[str]
    restart: bool = True
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    pause: float = FIRST_PAUSE
    restart_at: float | None = None
    restarts: int = 0
    log: Callable[[str], None] = field(default=lambda text: print(text, file=sys.stderr, flush=True))

    def start(self, now: float) -> None:
        self.process = subprocess.Popen(self.command)  # noqa: S603 - our own command lines
        self.started_at, self.restart_at = now, None

    def check(self, now: float) -> bool:
        """Restart the process if it is due; returns False once an unrestarted process has exited."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                self.start(now)
            return True
        code = self.process.poll() if self.process else None
        if code is None:
            return True
        if not self.restart:
            self.log(f"{self.name} exited ({code})")
            return False
        if now - self.started_at >= STEADY_AFTER:
            self.pause = FIRST_PAUSE
        self.log(f"{self.name} exited ({code}); starting it again in {self.pause:g} s")
        self.restart_at = now + self.pause
        self.pause = min(self.pause * 2, LONGEST_PAUSE)
        return True

    def stop(self) -> None:
        self.restart_at = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait(self, timeout: float = 15) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def supervise(processes: Sequence[Supervised], *, stopping: Callable[[], bool], tick: float = 0.5) -> None:
    """Start every process and keep them running until `stopping()` says so or one that is not
    restarted exits; then stop them all and wait for them."""
    now = time.monotonic()
    for supervised in processes:
        supervised.start(now)
    try:
        while not stopping() and all(supervised.check(time.monotonic()) for supervised in processes):
            time.sleep(tick)
    finally:
        for supervised in processes:
            supervised.stop()
        for supervised in processes:
            supervised.wait()
