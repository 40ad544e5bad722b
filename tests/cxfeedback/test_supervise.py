"""`make run` keeps worker and beat running (scripts/supervise.py): one that exits is started again
after a pause that doubles, and the web's exit, or a stop, ends everything."""

from __future__ import annotations

import sys
import threading
import time

from scripts.supervise import Supervised, supervise

EXITS_AT_ONCE = [sys.executable, "-c", "import sys; sys.exit(3)"]
RUNS_LONG = [sys.executable, "-c", "import time; time.sleep(120)"]


def test_a_worker_that_exits_is_started_again_with_a_growing_pause():
    said: list[str] = []
    worker = Supervised("worker", EXITS_AT_ONCE, log=said.append)
    web = Supervised("web", RUNS_LONG, restart=False, log=said.append)
    deadline = time.monotonic() + 5.5

    supervise([web, worker], stopping=lambda: time.monotonic() > deadline, tick=0.05)

    # Exits at 0 s, again 1 s later, again 2 s after that (the next 4 s later): two restarts, not fifty.
    assert worker.restarts == 2
    assert said[:2] == [
        "worker exited (3); starting it again in 1 s",
        "worker exited (3); starting it again in 2 s",
    ]
    assert web.process.poll() is not None  # stopped with the rest


def test_the_webs_exit_ends_the_run_and_stops_the_others():
    beat = Supervised("beat", RUNS_LONG, log=lambda text: None)
    web = Supervised("web", EXITS_AT_ONCE, restart=False, log=lambda text: None)
    ended = threading.Event()

    def run():
        supervise([web, beat], stopping=lambda: False, tick=0.05)
        ended.set()

    threading.Thread(target=run, daemon=True).start()

    assert ended.wait(timeout=20)
    assert beat.process.poll() is not None and beat.restarts == 0
