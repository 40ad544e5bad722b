"""Faults of long work (issue 19): a worker SIGKILLed (as the OOM killer does) in the middle of a
contact import job, and gunicorn's workers SIGKILLed in the middle of an upload. An import is
either not started or completed, never half: each row's contact exists exactly once, or none do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import time
import uuid

import requests

from reliability.checks import Tally
from reliability.faults import Outcome, api, wait_until

IMPORT_ROWS = 30_000
JOB_ENDED = ("completed", "previewed", "failed", "cancelled")


def contacts_csv(label: str, rows: int) -> bytes:
    lines = ["email,name,attr.batch"]
    lines += [f"{label}-{n}@example.com,{label} {n},{label}" for n in range(1, rows + 1)]
    return ("\n".join(lines) + "\n").encode()


def upload(stack, department, content: bytes, filename: str) -> tuple[int, dict]:
    """POST the CSV to the import API; (status, body), status 0 if the server did not answer."""
    try:
        answer = requests.post(
            f"{stack.base_url}/api/v1/contacts/import",
            headers={"Authorization": f"Bearer {department.key}"},
            files={"file": (filename, content, "text/csv")},
            timeout=60,
        )
    except requests.RequestException:
        return 0, {}
    return answer.status_code, answer.json() if answer.content else {}


def job(stack, department, job_id: int) -> dict:
    return api(stack, department, "GET", f"/api/v1/contacts/imports/{job_id}")[1]


def job_wait(stack, department, job_id: int, predicate, *, timeout: float = 240) -> dict:
    found = wait_until(lambda: (lambda j: j if predicate(j) else None)(job(stack, department, job_id)),
                       timeout=timeout, interval=0.2)  # fmt: skip
    return found or job(stack, department, job_id)


def imported(stack, department, label: str) -> tuple[int, int]:
    """(rows of the file with their contact in the department, emails of the file held twice)."""
    [(present, twice)] = stack.sql(
        """SELECT count(DISTINCT i.normalised), count(*) - count(DISTINCT i.normalised)
           FROM contacts_identity i
           JOIN contacts_departmentcontact dc ON dc.contact_id = i.contact_id AND dc.department_id = %s
           WHERE i.kind = 'email' AND i.normalised LIKE %s""",
        [department.pk, f"{label}-%"],
    )
    return present, twice


def whole_or_nothing(stack, department, label: str, rows: int, tally: Tally, *, must: bool) -> int:
    present, twice = imported(stack, department, label)
    if twice:
        tally.duplicates += twice
        tally.problems.append(f"{label}: {twice} emails imported twice")
    if present not in ((rows,) if must else (0, rows)):
        tally.lost += rows - present
        tally.problems.append(f"{label}: {present} of {rows} rows imported")
    return present


def worker_killed_during_import(stack) -> Outcome:
    """A 30,000-row import through the API; once a few chunks are committed, SIGKILL the worker (and
    its pool) as the OOM killer would, and start a new one. The sweeper marks the silent job failed
    once its lease has passed (run as beat would then); resumed through the API, it carries on after
    its last committed chunk and completes: every row once, none lost."""
    from django.conf import settings

    from contacts.importing.jobs import contact_import_jobs_sweep

    tally = Tally()
    department = stack.department_create("fault-oom-import")
    status, body = upload(stack, department, contacts_csv("oom", IMPORT_ROWS), "oom.csv")
    if status != 202:
        tally.problems.append(f"upload: {status} {str(body)[:200]}")
        return Outcome(IMPORT_ROWS, tally)
    job_id = body["id"]
    running = job_wait(stack, department, job_id, lambda j: j["progress"]["rows_done"] >= 3000, timeout=120)
    stack.worker_kill()
    at = running["progress"]["rows_done"]
    stack.worker_start()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.CONTACT_IMPORT_LEASE + 1)
    # As beat's sweep-contact-imports would run once the lease has passed (the broker hands the
    # killed task out again only after its visibility timeout, an hour).
    wait_until(
        lambda: contact_import_jobs_sweep(now=later) or job(stack, department, job_id)["status"] in JOB_ENDED,
        timeout=60,
        interval=0.5,
    )
    failed = job(stack, department, job_id)
    resumed = failed["status"] == "failed"
    if resumed:
        status, body = api(stack, department, "POST", f"/api/v1/contacts/imports/{job_id}/resume")
        if status not in (200, 202):
            tally.problems.append(f"resume: {status} {str(body)[:200]}")
    ended = job_wait(stack, department, job_id, lambda j: j["status"] in JOB_ENDED)
    progress = ended["progress"]
    if ended["status"] != "completed" or progress["rows_done"] != progress["rows_total"]:
        tally.problems.append(
            f"the job ended {ended['status']} at {progress}: {ended.get('error', '')[:200]}"
        )
    whole_or_nothing(stack, department, "oom", IMPORT_ROWS, tally, must=True)
    how = "failed by the sweeper, resumed" if resumed else f"ended {failed['status']} without a resume"
    return Outcome(IMPORT_ROWS, tally, f"killed at {at} rows; {how}; {ended['status']}")


UPLOAD_ROWS = 20_000


def web_killed_mid_upload(stack) -> Outcome:
    """Three uploads of a 20,000-row CSV, the gunicorn workers SIGKILLed: half-way through the body,
    after the whole body before the answer, and right after the 202. Each upload's rows end all
    imported (its job completes) or none (no job); the API answers again once gunicorn has
    replaced its workers."""
    tally = Tally()
    department = stack.department_create("fault-web-upload")
    outcomes = []
    for label, cut in (("halfway", 0.5), ("whole", 1.0)):
        sent = _upload_cut(stack, department, contacts_csv(label, UPLOAD_ROWS), f"{label}.csv", cut)
        _web_back(stack, tally)
        outcomes.append(f"{label}: {sent} bytes sent")
    status, body = upload(stack, department, contacts_csv("after", UPLOAD_ROWS), "after.csv")
    for pid in stack.web_worker_pids():
        stack_kill(pid)
    _web_back(stack, tally)
    if status != 202:
        tally.problems.append(f"upload after: {status} {str(body)[:200]}")
    jobs = stack.sql("SELECT id FROM contacts_contactimport WHERE department_id = %s", [department.pk])
    for (job_id,) in jobs:
        ended = job_wait(stack, department, job_id, lambda j: j["status"] in JOB_ENDED)
        if ended["status"] != "completed":
            tally.problems.append(f"import {ended['filename']} ended {ended['status']}: {ended.get('error')}")
    for label in ("halfway", "whole", "after"):
        n = whole_or_nothing(stack, department, label, UPLOAD_ROWS, tally, must=label == "after")
        outcomes.append(f"{label}: {n} rows")
    return Outcome(3 * UPLOAD_ROWS, tally, f"{len(jobs)} jobs; " + ", ".join(outcomes))


def _healthy(stack) -> bool:
    try:
        return requests.get(f"{stack.base_url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def stack_kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _upload_cut(stack, department, content: bytes, filename: str, cut: float) -> int:
    """Send the multipart upload by hand, stop after `cut` of its body, SIGKILL every gunicorn
    worker, and drop the connection. Returns the bytes sent."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        "POST /api/v1/contacts/import HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {department.key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    part = body[: int(len(body) * cut)]
    with socket.create_connection(("127.0.0.1", stack.web_port), timeout=30) as connection:
        connection.sendall(head + part)
        time.sleep(0.3)  # the worker is reading (or, with the whole body, answering)
        for pid in stack.web_worker_pids():
            stack_kill(pid)
    return len(part)


def _web_back(stack, tally: Tally) -> None:
    """Wait for gunicorn's master to replace its workers."""
    if not wait_until(lambda: _healthy(stack), timeout=60, interval=0.2):
        tally.problems.append("the API did not answer again within 60 s")


FAULTS = [worker_killed_during_import, web_killed_mid_upload]
