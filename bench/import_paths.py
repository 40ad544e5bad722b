"""`bench/bench_import.py --paths`: one contacts CSV through the three ways in — the command line
(`manage.py import_contacts`), the API (upload, 202, poll the job) and the admin (upload, preview,
confirm, poll the progress page's JSON) — each into a department of its own, on everything started
for real (reliability/stack.py: gunicorn, a Celery worker, a broker). Prints a line per path
(seconds, rows/s, how often the progress moved and its largest gap) and, last:

    bench import_paths rows=N command_s=… api_s=… admin_preview_s=… admin_s=… same_result=yes|no

same_result: the three imports' counts (created, matched, invalid, …) and the number of contacts each
department ends with are equal.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ENDED = ("completed", "previewed", "failed", "cancelled")
POLL = 0.25  # seconds between polls, as the admin page polls every second (finer here)


@dataclass
class PathResult:
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)
    contacts: int = 0
    progress: list[tuple[float, int]] = field(default_factory=list)  # (seconds, rows_done) when it moved

    def progress_note(self) -> str:
        if not self.progress:
            return "progress=none"
        times = [0.0] + [t for t, _ in self.progress]
        gap = max(b - a for a, b in itertools.pairwise(times))
        return f"progress_updates={len(self.progress)} largest_gap_s={gap:.1f}"


def run(rows: int, write_csv) -> None:
    from reliability.stack import Stack

    os.environ["SECURE_COOKIES"] = "false"  # the admin is used over plain HTTP on loopback
    stack = Stack(Path(tempfile.mkdtemp(prefix="bench-import-paths-")))
    try:
        stack.start()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "contacts.csv"
            write_csv(path, rows)
            command = _command(stack, path)
            api = _api(stack, path)
            preview, admin = _admin(stack, path)
    finally:
        stack.stop()
    results = {"command": command, "api": api, "admin": admin}
    for name, result in results.items():
        print(
            f"{name}: seconds={result.seconds:.1f} rows_per_s={rows / result.seconds:.0f} "
            f"contacts={result.contacts} {result.progress_note()} counts={result.counts}"
        )
    same = len({(str(sorted(r.counts.items())), r.contacts) for r in results.values()}) == 1
    print(
        f"bench import_paths rows={rows} command_s={command.seconds:.1f} api_s={api.seconds:.1f} "
        f"admin_preview_s={preview:.1f} admin_s={admin.seconds:.1f} same_result={'yes' if same else 'no'}"
    )
    if not same:
        sys.exit(1)


def _outcome(stack, department, result: PathResult) -> PathResult:
    [(counts,)] = stack.sql(
        "SELECT counts FROM contacts_contactimport WHERE department_id = %s ORDER BY id DESC LIMIT 1",
        [department.pk],
    )
    [(contacts,)] = stack.sql(
        "SELECT count(*) FROM contacts_departmentcontact WHERE department_id = %s", [department.pk]
    )
    counts = json.loads(counts) if isinstance(counts, str) else counts or {}
    result.counts = {name: value for name, value in counts.items() if not name.startswith("_")}
    result.contacts = contacts
    return result


def _command(stack, path: Path) -> PathResult:
    department = stack.department_create("bench-command")
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", "import_contacts", str(path), "--department", department.slug],
        cwd=Path(__file__).resolve().parent.parent,
        env=stack._env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return _outcome(stack, department, PathResult(seconds=time.monotonic() - started))


def _poll(read, started: float, result: PathResult, until: tuple[str, ...] = ENDED) -> dict:
    while True:
        state = read()
        done = state["rows_done"]
        if not result.progress or result.progress[-1][1] != done:
            result.progress.append((time.monotonic() - started, done))
        if state["status"] in until:
            return state
        time.sleep(POLL)


def _api(stack, path: Path) -> PathResult:
    department = stack.department_create("bench-api")
    headers = {"Authorization": f"Bearer {department.key}"}
    started = time.monotonic()
    with path.open("rb") as file:
        answer = requests.post(
            f"{stack.base_url}/api/v1/contacts/import", headers=headers, files={"file": file}, timeout=600
        )
    answer.raise_for_status()
    url = answer.json()["url"]
    result = PathResult()

    def read() -> dict:
        job = requests.get(url, headers=headers, timeout=60).json()
        return {"status": job["status"], "rows_done": job["progress"]["rows_done"]}

    state = _poll(read, started, result)
    if state["status"] != "completed":
        sys.exit(f"bench import_paths: the API's import ended {state['status']}")
    result.seconds = time.monotonic() - started
    return _outcome(stack, department, result)


def _admin(stack, path: Path) -> tuple[float, PathResult]:
    """As a CX lead in a browser: log in, upload (a preview job), wait, confirm, wait."""
    from django.contrib.auth import get_user_model

    department = stack.department_create("bench-admin")
    get_user_model().objects.create_superuser("bench", "bench@example.com", "bench-password-1")
    browser = requests.Session()
    base = stack.base_url
    login = browser.get(f"{base}/admin/login/", timeout=60)
    browser.post(
        f"{base}/admin/login/",
        data={"username": "bench", "password": "bench-password-1", "csrfmiddlewaretoken": _csrf(login.text)},
        headers={"Referer": f"{base}/admin/login/"},
        timeout=60,
    )
    upload_page = browser.get(f"{base}/admin/contacts/contact/import/", timeout=60)
    started = time.monotonic()
    with path.open("rb") as file:
        answer = browser.post(
            upload_page.url,
            data={
                "department": department.pk,
                "phone_region": "",
                "csrfmiddlewaretoken": _csrf(upload_page.text),
            },
            files={"file": file},
            headers={"Referer": upload_page.url},
            timeout=600,
        )
    found = re.search(r"/import/(\d+)/", answer.url)
    if not found:
        sys.exit(
            f"bench import_paths: the admin upload did not lead to a job ({answer.status_code} {answer.url})"
        )
    job_url = f"{base}/admin/contacts/contact/import/{found.group(1)}/"
    result = PathResult()

    def read() -> dict:
        return browser.get(f"{job_url}progress.json", timeout=60).json()

    _poll(read, started, result, until=("previewed", "failed", "cancelled", "completed"))
    preview = time.monotonic() - started
    page = browser.get(job_url, timeout=60)
    browser.post(
        f"{job_url}confirm/",
        data={"csrfmiddlewaretoken": _csrf(page.text)},
        headers={"Referer": job_url},
        timeout=60,
    )
    state = _poll(read, started, result, until=("completed", "failed", "cancelled"))
    if state["status"] != "completed":
        sys.exit(f"bench import_paths: the admin's import ended {state['status']}")
    result.seconds = time.monotonic() - started
    return preview, _outcome(stack, department, result)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    return found.group(1) if found else ""
