"""`make run` on a machine with nothing set up: `scripts/run.py` with a local folder of its own starts
the embedded PostgreSQL, loads the demo, prints the logins, answers /healthz with web, worker and
beat running, and leaves nothing running once it is stopped."""

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.smtp import free_port
from tests.workers import ROOT, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("DATABASE_URL") or os.environ.get("CELERY_BROKER_URL")),
        reason="make run's embedded services: only without DATABASE_URL and CELERY_BROKER_URL",
    ),
]


def postgres_serving(pgdata: Path) -> list[psutil.Process]:
    return [
        process
        for process in psutil.process_iter(["name", "cmdline"])
        if process.info["name"] == "postgres" and str(pgdata) in " ".join(process.info["cmdline"] or [])
    ]


def session_members(session_id: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if os.getsid(process.pid) == session_id:
                members.append(process)
        except OSError:
            pass  # gone meanwhile
    return members


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as health:
            return health.status == 200
    except OSError:
        return False


def test_make_run_serves_the_demo_and_stops_everything_it_started(tmp_path):
    local = tmp_path / "local"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"CXFEEDBACK_BROKER_DIR", "SECRET_KEY", "STATIC_MANIFEST", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(CXFEEDBACK_LOCAL_DIR=str(local), PORT=str(port), PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            [sys.executable, "scripts/run.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: "cxfeedback is running" in log.read_text() or run.poll() is not None,
            timeout=240,
            interval=0.5,
            message="make run to start (or exit)",
        )
        printed = log.read_text()
        assert "cxfeedback is running" in printed, printed[-3000:]
        assert re.search(r"Department owner \(Support\): owner / \S+", printed)
        assert re.search(r"CX lead: cxlead / \S+", printed)
        assert f"Demo logins for http://127.0.0.1:{port}/admin/" in printed  # PORT, not 8000
        assert f"cxfeedback is running on http://127.0.0.1:{port}/admin/" in printed
        assert "Demo data: 4 departments" in printed
        wait_until(lambda: healthy(port), timeout=60, interval=0.5, message="/healthz to answer 200")
        assert postgres_serving(local / "pgdata"), "the embedded PostgreSQL runs from the local folder"
        started = session_members(run.pid)
        assert len(started) >= 4  # run.py, web, worker, beat
        # The README's first steps: an API key for the demo's support department, as written there.
        key = subprocess.run(
            [sys.executable, "manage.py", "create_api_key", "support"],
            cwd=ROOT, env={**env, "DEBUG": "1"}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert key.returncode == 0, key.stderr[-3000:]
        assert key.stdout.strip().splitlines()[-1].startswith("cxf_")
    finally:
        os.kill(run.pid, signal.SIGTERM)  # as a service manager stops it; Ctrl-C reaches every process
        try:
            run.wait(timeout=60)
        finally:
            leftovers = session_members(run.pid) + postgres_serving(local / "pgdata")
            for process in leftovers:
                process.kill()

    assert run.returncode == 0, log.read_text()[-3000:]
    assert not leftovers, f"still running after make run stopped: {[p.info['cmdline'] for p in leftovers]}"
