"""Bad input against a running stack (issue 6, part 1): whatever arrives, the app answers 2xx or a 4xx
in the error shape, never a 5xx, never a hang, and stores exactly what it acknowledged.

    run(stack) -> {"bad_inputs": N, "server_errors": E, "rows": [(check, inputs_sent, failures), …]}

`stack` needs `base_url` and one API key per department (`api_keys`: slug → key, or `departments`:
slug → an object with `.key`), at least two; and Django set up in this process on the stack's
database, which the checks use to build what HTTP cannot (a personal link, an admin login) and to
read back what was stored. The checks:

1. schemathesis against /api/schema/ (every operation: examples, coverage, fuzzing, stateful), as a
   subprocess of its CLI with its JSON report; plus `error_shape` (reliability/bad_input_hooks.py).
2. Malformed CSVs to the contact import (reliability/bad_input_corpus.py).
3. Tampered, truncated and expired tokens on the customer's pages.
4. Malformed, mistyped, huge and deeply nested JSON bodies to every POST and PATCH operation.
5. SQL and HTML injection strings in every text field: read back verbatim, rendered escaped.

A failure is a 5xx, an API error not in the error shape, an answer that breaks the schema, a status
the check does not allow, or data lost or changed. Each failure is printed with what was sent.

    python -m reliability.bad_input   # development: a database and gunicorn of its own, nothing else
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from reliability.bad_input_hooks import error_shape_problem

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = "/api/schema/"
# Per operation and phase: enough for the coverage phase's boundary cases and a few hundred fuzzed
# bodies across the 26 operations, in about a minute on this machine.
SCHEMATHESIS_EXAMPLES = int(os.environ.get("BAD_INPUT_EXAMPLES", "60"))
# Not --max-time: with it schemathesis keeps fuzzing until the time is spent. This only stops a hang.
# A cap on the whole schemathesis run (its examples are bounded by count; each request by
# --request-timeout): a busy machine (`--busy`) gets longer, through this variable.
SCHEMATHESIS_TIMEOUT = int(os.environ.get("RELIABILITY_SCHEMATHESIS_SECONDS", "600"))
# Checks about how precise the schema is rather than how the app behaves: the schema cannot say
# "no NUL characters" or "id or identities, not both", and DRF's paginator reads an unparsable
# offset as 0. Neither is a failure in the sense of issue 6.
SCHEMATHESIS_EXCLUDED = "negative_data_rejection,positive_data_acceptance"
REQUEST_TIMEOUT = 120  # seconds; gunicorn's own worker timeout is 30, so a hang shows as a reset

SQL_AND_HTML = [
    "<script>alert('cxf')</script>",
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE contacts_contact; --",
    "' OR '1'='1",
    "Robert'); DELETE FROM surveys_survey WHERE ('1'='1",
    "{{ 7*7 }} {% debug %}",
    "1; SELECT pg_sleep(5)--",
    "\\x00 %00 ../../etc/passwd",
]


@dataclass
class Row:
    check: str
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    server_errors: int = 0  # 5xx answers counted by a tool (schemathesis), beyond those in failures

    def tuple(self) -> tuple[str, int, int]:
        return (self.check, self.sent, len(self.failures))


class Client:
    """requests against the stack, judging every answer the same way as it comes back."""

    def __init__(self, base_url: str, key: str, row: Row):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.row = row
        self.http = requests.Session()

    def send(
        self,
        method: str,
        path: str,
        *,
        label: str,
        allowed: tuple[int, ...],
        api: bool = True,
        auth: bool = True,
        **kwargs: Any,
    ) -> requests.Response | None:
        """One bad input; a failure is recorded (and None returned) when the answer is a 5xx, not in
        `allowed`, an API error out of shape, or no answer at all."""
        self.row.sent += 1
        headers = dict(kwargs.pop("headers", {}) or {})
        if auth:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        # Each input on a connection of its own: judged by its own answer, not by whether gunicorn
        # kept the previous connection open after an answer that left its body unread.
        headers.setdefault("Connection", "close")
        try:
            response = self.http.request(
                method, self.base_url + path, headers=headers, timeout=REQUEST_TIMEOUT, **kwargs
            )
        except requests.RequestException as error:
            self.fail(f"{label}: {method} {path[:80]} got no answer ({type(error).__name__}: {error})")
            return None
        problem = ""
        if response.status_code >= 500 or response.status_code not in allowed:
            problem = f"status {response.status_code}, allowed {allowed}"
        elif api:
            problem = error_shape_problem(
                response.status_code, response.headers.get("Content-Type", ""), response.content
            )
        if problem:
            self.fail(f"{label}: {method} {path[:80]}: {problem}: {response.content[:200]!r}")
            return None
        return response

    def fail(self, message: str) -> None:
        self.row.failures.append(message)


# -- 1. schemathesis --------------------------------------------------------------------------------


def check_schemathesis(base_url: str, key: str) -> Row:
    row = Row("schemathesis")
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        command = [
            sys.executable, "-m", "schemathesis.cli", "run", base_url + SCHEMA_PATH,
            "--header", f"Authorization: Bearer {key}",
            "--checks", "all", "--exclude-checks", SCHEMATHESIS_EXCLUDED,
            "--max-examples", str(SCHEMATHESIS_EXAMPLES), "--workers", "2",
            "--request-timeout", "60",
            "--report", "json", "--report-json-path", str(report),
            "--no-color", "--output-truncate", "true",
        ]  # fmt: skip
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "reliability.bad_input_hooks", "PYTHONPATH": str(ROOT)}
        try:
            done = subprocess.run(  # noqa: S603 - our interpreter, our arguments
                command,
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=SCHEMATHESIS_TIMEOUT,
            )
        except subprocess.TimeoutExpired as error:
            row.failures.append(f"schemathesis still running after {error.timeout:.0f} s: a request hangs")
            return row
        if not report.exists():
            row.failures.append(f"schemathesis wrote no report: {done.stdout[-2000:]}{done.stderr[-2000:]}")
            return row
        result = json.loads(report.read_text())
    row.sent = result["test_cases"]["generated"]
    for failure in result["failures"]:
        for operation in failure["operations"]:
            row.failures.append(f"schemathesis {failure['code']} {failure['title']}: {operation}")
    row.server_errors = sum(f["count"] for f in result["failures"] if "ServerError" in f["type"])
    if row.failures:
        row.failures.append("schemathesis output:\n" + done.stdout[-6000:])
    for error in result["errors"]:
        row.failures.append(f"schemathesis error: {json.dumps(error)[:500]}")
    return row


# -- 2. malformed CSVs --------------------------------------------------------------------------------


def check_csv_corpus(base_url: str, key: str) -> Row:
    from reliability.bad_input_corpus import csv_corpus, oversized_upload

    row = Row("csv_import")
    client = Client(base_url, key, row)
    for case in csv_corpus():
        before = _contact_count()
        started = time.monotonic()
        response = client.send(
            "POST",
            "/api/v1/contacts/import",
            label=f"csv {case.name}",
            allowed=case.allowed,
            files={"file": (case.filename, case.content, "text/csv")},
        )
        seconds = time.monotonic() - started
        if response is None:
            continue
        if seconds > 30:
            client.fail(f"csv {case.name}: answered after {seconds:.0f} s")
        body = response.json()
        if response.status_code == 202:  # queued: judged by the finished job
            body = _import_finished(client, body["url"], label=f"csv {case.name}")
            if body is None:
                continue
        created = _contact_count() - before
        if response.status_code >= 400 and created:
            client.fail(f"csv {case.name}: rejected ({body['code']}) but {created} contacts were written")
        if case.verify:
            problem = case.verify(response.status_code, body, created)
            if problem:
                client.fail(f"csv {case.name}: {problem}")
    before = _contact_count()
    size, body, content_type = oversized_upload()
    with body:
        response = client.send(
            "POST",
            "/api/v1/contacts/import",
            label=f"csv oversized upload ({size:,} bytes)",
            allowed=(400, 413),
            data=body,
            headers={"Content-Type": content_type},
        )
    if response is not None:
        code = response.json()["code"]
        if response.status_code == 400 and code != "file_too_large":
            client.fail(f"csv oversized upload: rejected as {code!r}, not as too large")
        if _contact_count() != before:
            client.fail("csv oversized upload: rejected but contacts were written")
    return row


IMPORT_JOB_TIMEOUT = 180  # seconds a queued import of the corpus may take on a busy machine
IMPORT_JOB_ENDED = ("completed", "previewed", "failed", "cancelled")


def _import_finished(client: Client, url: str, *, label: str) -> dict | None:
    """The import job at `url` once a worker has finished it; None (and a failure) if it failed or
    did not finish in time."""
    deadline = time.monotonic() + IMPORT_JOB_TIMEOUT
    while time.monotonic() < deadline:
        # Polled, not sent as another bad input: only the upload counts as one.
        response = client.http.get(
            url, headers={"Authorization": f"Bearer {client.key}"}, timeout=REQUEST_TIMEOUT
        )
        if response.status_code != 200:
            client.fail(f"{label}: reading the import job answered {response.status_code}")
            return None
        job = response.json()
        if job["status"] in IMPORT_JOB_ENDED:
            if job["status"] != "completed":
                client.fail(f"{label}: the import job ended {job['status']}: {job.get('error', '')[:200]}")
                return None
            return job
        time.sleep(0.5)
    client.fail(f"{label}: the import job did not finish within {IMPORT_JOB_TIMEOUT} s")
    return None


def _contact_count() -> int:
    from contacts.models import Contact

    return Contact.objects.count()


# -- 3. tokens ----------------------------------------------------------------------------------------


def check_tokens(base_url: str, key: str, links: PublicLinks) -> Row:
    row = Row("tokens")
    client = Client(base_url, key, row)
    token = links.open_token
    bad_tokens = {
        "truncated": token[:-1],
        "half": token[: len(token) // 2],
        "tampered": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "extended": token + "x",
        "case-flipped": token.swapcase(),
        "long": "A" * 4000,
        "nul": "%00",
        "invalid utf-8": "%ff%fe%fd",
        "percent-encoded slash": "..%2F..%2Fetc%2Fpasswd",
        "unicode": "t%C3%B6k%C3%A9n",
        "sql": "'%20OR%20'1'='1",
        "html": "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    }
    # A form's CSRF token and cookie from a real page, so a POST reaches the view instead of stopping
    # at the CSRF check; and RFC 8058's one-click body, which the unsubscribe page takes without one.
    csrf = csrf_material(client, f"/p/{token}")
    posts = {
        "form": ({"q1": "x", "action": "snooze", "days": "30", **csrf.fields}, csrf.headers),
        "one-click": ({"List-Unsubscribe": "One-Click"}, {}),
    }
    for page in ("t", "s", "u", "p"):
        for name, bad in bad_tokens.items():
            sends = [("GET", "", None, {})] + [("POST", kind, *post) for kind, post in posts.items()]
            for method, kind, data, headers in sends:
                # Only the unsubscribe page takes a POST without a CSRF token (RFC 8058).
                refused = (403,) if kind == "one-click" and page != "u" else ()
                response = client.send(
                    method,
                    f"/{page}/{bad}",
                    label=f"token {name} on /{page}/ ({method} {kind})",
                    # 404: Django's no such link; 400: gunicorn's limit on the request line.
                    allowed=(400, 404, 410, *refused),
                    api=False,
                    auth=False,
                    data=data,
                    headers=headers,
                )
                if response is not None and token in response.text:
                    client.fail(f"token {name} on /{page}/: the page shows the real token")
    # An expired link: the survey says so (404, the same page as an unknown one); unsubscribing and
    # the preference centre must keep working after expiry.
    for page, allowed in (
        ("t", (404, 410)),
        ("s", (404, 410)),
        ("t", (404, 410)),
        ("u", (200,)),
        ("p", (200,)),
    ):
        client.send(
            "GET",
            f"/{page}/{links.expired_token}",
            label=f"expired token on /{page}/",
            allowed=allowed,
            api=False,
        )
    client.send(
        "GET",
        f"/t/{links.expired_token}/thanks",
        label="expired token on thanks",
        allowed=(404, 410),
        api=False,
    )
    return row


@dataclass
class Csrf:
    fields: dict[str, str]  # the form's hidden field
    headers: dict[str, str]  # the cookie, sent by hand: it is Secure outside DEBUG, so never over HTTP


def csrf_material(client: Client, path: str) -> Csrf:
    """The CSRF cookie and form token of the page at `path` (none if the page has no form)."""
    page = client.http.get(client.base_url + path, timeout=REQUEST_TIMEOUT)
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    cookie = page.cookies.get("csrftoken")
    if not (found and cookie):
        return Csrf({}, {})
    return Csrf({"csrfmiddlewaretoken": found.group(1)}, {"Cookie": f"csrftoken={cookie}"})


# -- 4. malformed JSON --------------------------------------------------------------------------------


def check_json_bodies(base_url: str, key: str, ids: dict[str, int]) -> Row:
    from reliability.bad_input_corpus import json_bodies

    row = Row("json_bodies")
    client = Client(base_url, key, row)
    schema = requests.get(base_url + SCHEMA_PATH, params={"format": "json"}, timeout=60).json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "patch") or "requestBody" not in operation:
                continue  # an operation without a body (submit, cancel …) rightly never reads one
            concrete = path
            for name, value in ids.items():
                concrete = concrete.replace("{" + name + "}", str(value))
            for body in json_bodies():
                # 400: unreadable or invalid; 403: a CX lead's operation; 404: the id is not the
                # caller's; 409/422: the state or the idempotency key says no; 413: too large; 415:
                # not a type the operation reads. A PATCH of no known field changes nothing (200); one
                # that reads well (a latin-1 body that says so, say) edits: a sent survey's edit is
                # its next version (201), and whether the load has sent that survey yet is chance.
                client.send(
                    method.upper(),
                    concrete,
                    label=f"json {body.name} to {operation['operationId']}",
                    allowed=(400, 403, 404, 409, 413, 415, 422, *((200, 201) if method == "patch" else ())),
                    data=body.content,
                    headers={"Content-Type": body.content_type, "Idempotency-Key": uuid.uuid4().hex},
                )
    return row


# -- 5. injection strings -----------------------------------------------------------------------------


def check_injection(base_url: str, key: str, links: PublicLinks) -> Row:
    from reliability.bad_input_injection import injection_run

    row = Row("injection")
    injection_run(Client(base_url, key, row), links, SQL_AND_HTML)
    return row


# -- What the checks share ----------------------------------------------------------------------------


@dataclass
class PublicLinks:
    open_token: str  # an invitation that may be answered; its survey has one free-text question
    expired_token: str
    survey_id: int  # the open invitation's survey
    contact_id: str  # the open invitation's contact, known to the department (its public id)
    draft_send_request_id: str
    department_slug: str
    admin_username: str
    admin_password: str


def stack_keys(stack) -> dict[str, str]:
    keys = getattr(stack, "api_keys", None)
    if keys:
        return dict(keys)
    return {slug: department.key for slug, department in stack.departments.items()}


def run(stack) -> dict:
    from reliability.bad_input_injection import public_links_create

    keys = stack_keys(stack)
    slug, key = next(iter(keys.items()))
    links = public_links_create(department_slug=slug)
    checks = [
        lambda: check_schemathesis(stack.base_url, key),
        lambda: check_csv_corpus(stack.base_url, key),
        lambda: check_tokens(stack.base_url, key, links),
        lambda: check_json_bodies(stack.base_url, key, ids=_ids(links)),
        lambda: check_injection(stack.base_url, key, links),
    ]
    rows, seconds = [], {}
    for check in checks:
        started = time.monotonic()
        row = check()
        seconds[row.check] = round(time.monotonic() - started, 1)
        rows.append(row)
        for failure in row.failures:
            print(f"bad_input FAIL {row.check}: {failure}", flush=True)
    server_errors = sum(
        row.server_errors + sum("status 5" in f or "no answer" in f for f in row.failures) for row in rows
    )
    return {
        "bad_inputs": sum(row.sent for row in rows),
        "server_errors": server_errors,
        "rows": [row.tuple() for row in rows],
        "seconds": seconds,  # per check
        # Each failure's first line, printed again by the summary: CI shows the end of the output.
        "failures": [
            f"{row.check}: {failure.splitlines()[0][:300]}" for row in rows for failure in row.failures
        ],
    }


def _ids(links: PublicLinks) -> dict[str, int]:
    """Path parameters for the JSON check: the check's own objects, so the body is what is judged."""
    from surveys.models import FrequencyRule

    return {
        "survey_id": links.survey_id,
        "contact_id": links.contact_id,
        "send_request_id": links.draft_send_request_id,
        "rule_id": FrequencyRule.objects.values_list("pk", flat=True).first() or 1,  # CX leads': a 403
    }


# -- Development: a stack of its own ------------------------------------------------------------------


@dataclass
class DevStack:
    base_url: str
    api_keys: dict[str, str]


def main() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_trigger import free_port, gunicorn_start, gunicorn_stop
    from harness import drop_database, setup_django

    database = "bad_input"
    os.environ["PUBLIC_RATE_LIMIT"] = "1000000/minute"  # gunicorn's environment: one client, many calls
    setup_django(database)
    from departments.models import Department
    from departments.services import api_key_create

    keys = {}
    for slug in ("support", "marketing"):
        department = Department.objects.create(slug=slug, name=slug.title())
        keys[slug] = api_key_create(department=department, name="bad input")[1]
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        server = gunicorn_start(port, 2, 4, Path(folder) / "gunicorn.log")
        try:
            started = time.monotonic()
            result = run(DevStack(base_url=f"http://127.0.0.1:{port}", api_keys=keys))
            seconds = time.monotonic() - started
        finally:
            gunicorn_stop(server)
        log = (Path(folder) / "gunicorn.log").read_text()
    drop_database(database)
    if "Traceback" in log:
        print(log[-5000:])
    for check, sent, failures in result["rows"]:
        print(f"{check:<14} sent={sent:<6} failures={failures:<4} seconds={result['seconds'][check]}")
    print(
        f"bad_input bad_inputs={result['bad_inputs']} server_errors={result['server_errors']} "
        f"seconds={seconds:.0f}"
    )


if __name__ == "__main__":
    main()
