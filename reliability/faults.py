"""Faults: each a function that breaks one part of the running stack in the middle of real work,
lets it recover, and checks that nothing was lost, sent twice or left half done.

Every fault works on a department and contacts of its own (so the load's frequency caps do not
block it) and ends with the same checks (reliability/checks.py): every allowed invitation of its
requests delivered and received by the SMTP server exactly once, no request left half-screened,
no contact over a rule; the web fault checks the responses instead. A fault survives when all
its checks pass.

Waiting for recovery uses Stack.drain, which runs the sweeper as beat would once its timeouts
(DELIVERY_STUCK_AFTER, DELIVERY_HANDOFF_LEASE: 10 and 30 minutes) have passed, when nothing moves
any more: what a killed worker left in sending is re-sent only by that sweeper, by design.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from reliability import checks
from reliability.checks import Tally
from reliability.http import Connection


@dataclass
class Outcome:
    inputs: int  # requests made or invitations involved
    tally: Tally = field(default_factory=Tally)
    note: str = ""
    skipped: bool = False  # the fault cannot be made here (see the note); not counted


def api(stack, department, method: str, path: str, body=None, *, key: str | None = None) -> tuple[int, dict]:
    """One API call as `department`; (status, JSON body or {}); status 0 if the server did not answer."""
    headers = {"Authorization": f"Bearer {department.key}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    connection = http.client.HTTPConnection("127.0.0.1", stack.web_port, timeout=60)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        answer = connection.getresponse()
        payload = answer.read()
    except OSError:
        return 0, {}
    finally:
        connection.close()
    try:
        return answer.status, json.loads(payload) if payload else {}
    except ValueError:
        return answer.status, {"raw": payload[:300].decode(errors="replace")}


def request_submit(stack, department, tally: Tally, **fields) -> int | None:
    """Create (all the contacts the department knows, unless `fields` say otherwise) and submit a
    send request through the API; returns its id."""
    body = {"survey": department.surveys[0], "channel": "email", "audience_kind": "all_known", **fields}
    status, answer = api(stack, department, "POST", "/api/v1/send-requests", body, key=str(uuid.uuid4()))
    if status != 201:
        _answer_problem(tally, "create send request", status, answer)
        return None
    status, submitted = api(stack, department, "POST", f"/api/v1/send-requests/{answer['id']}/submit")
    if status != 200:
        _answer_problem(tally, "submit", status, submitted)
    # The API names it by its public id; the checks read its rows by key.
    [(request_id,)] = stack.sql("SELECT id FROM surveys_sendrequest WHERE public_id = %s", [answer["id"]])
    return request_id


def triggers(stack, department, contact_ids: list[int], label: str, tally: Tally) -> int:
    """One trigger per contact; returns how many were made. 5xx (or no answer) are server errors."""
    for contact_id in contact_ids:
        body = {
            "survey": department.surveys[0],
            "channel": "email",
            "contact": {"identities": [{"kind": "email", "value": f"{label}-{contact_id}@example.com"}]},
        }
        status, answer = api(stack, department, "POST", "/api/v1/triggers", body, key=str(uuid.uuid4()))
        if status not in (200, 201):
            _answer_problem(tally, "trigger", status, answer)
    return len(contact_ids)


def _answer_problem(tally: Tally, what: str, status: int, answer: dict) -> None:
    if status >= 500 or status == 0:
        tally.server_errors += 1
    tally.problems.append(f"{what}: {status} {str(answer)[:200]}")


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return None


def invitations_in(stack, request_id: int, statuses: tuple[str, ...]) -> int:
    [(n,)] = stack.sql(
        "SELECT count(*) FROM surveys_invitation WHERE send_request_id = %s AND status = ANY(%s)",
        [request_id, list(statuses)],
    )
    return n


def requests_of(stack, department) -> list[int]:
    return [
        row[0]
        for row in stack.sql("SELECT id FROM surveys_sendrequest WHERE department_id = %s", [department.pk])
    ]


def delivery_checks(stack, department, tally: Tally, *, timeout: float = 180) -> str:
    """Wait for the worker, then: delivered exactly once, screened whole, rules kept."""
    request_ids = requests_of(stack, department)
    note = stack.drain(timeout=timeout, request_ids=request_ids)
    tally.add(checks.delivered_once(stack, request_ids))
    tally.add(checks.screened_whole(stack, request_ids))
    tally.add(checks.rules_kept(stack))
    return note


# -- The faults -----------------------------------------------------------------------------------


def worker_killed_mid_batch(stack) -> Outcome:
    """A 1,200-contact request; once 150 of its invitations are sent, SIGKILL the worker (and its
    pool) mid-batch; start a new one."""
    tally = Tally()
    department = stack.department_create("fault-kill")
    stack.contacts_create(1200, "kill", [department])
    request_id = request_submit(stack, department, tally)
    reached = wait_until(lambda: invitations_in(stack, request_id, ("sent",)) >= 150, timeout=120)
    if not reached:
        tally.problems.append("the worker never sent 150 invitations")
    stack.worker_kill()
    left = invitations_in(stack, request_id, ("sending",))
    sent = invitations_in(stack, request_id, ("sent",))
    stack.worker_start()
    note = delivery_checks(stack, department, tally)
    return Outcome(1200, tally, f"killed at {sent} sent, {left} in sending; {note}".rstrip("; "))


def broker_stopped_and_restarted(stack) -> Outcome:
    """The broker goes away while a request is being delivered and triggers keep coming; it comes
    back after a while."""
    tally = Tally()
    department = stack.department_create("fault-broker")
    contacts = stack.contacts_create(700, "broker", [department])
    first = {"audience_kind": "filter", "audience_filter": {"batch": "broker", "segment": "s1"}}
    request_id = request_submit(stack, department, tally, **first)
    wait_until(lambda: invitations_in(stack, request_id, ("sent",)) >= 5, timeout=60)
    if not stack.broker_stop():
        return Outcome(0, tally, f"skipped: the {stack.broker_kind} broker is not this run's to stop", True)
    down_started = time.monotonic()
    # While it is down: triggers (the API must still answer) and a request submitted.
    made = triggers(stack, department, contacts[:40], "broker", tally)
    second = {"audience_kind": "filter", "audience_filter": {"batch": "broker", "segment": "s2"}}
    request_submit(stack, department, tally, **second)
    time.sleep(max(0.0, 6 - (time.monotonic() - down_started)))
    stack.broker_start()
    down = time.monotonic() - down_started
    time.sleep(2)
    restarted = stack.supervise()
    note = delivery_checks(stack, department, tally)
    exited = f"; {' and '.join(restarted)} exited and restarted" if restarted else ""
    return Outcome(made + 4, tally, f"down {down:.0f} s{exited}; {note}".rstrip("; "))


def smtp_refusing_then_accepting(stack) -> Outcome:
    """The SMTP server answers 451 (try later) to everything for a while, then accepts."""
    tally = Tally()
    department = stack.department_create("fault-smtp")
    contacts = stack.contacts_create(300, "smtp", [department])
    stack.smtp_refuse("451 4.3.0 Try again later")
    request_submit(stack, department, tally, audience_filter={"batch": "smtp"}, audience_kind="filter")
    made = triggers(stack, department, contacts[:20], "smtp", tally)
    # Refused until a good part of them was refused at least twice (retried with backoff).
    retried = wait_until(
        lambda: (
            stack.sql(
                "SELECT count(*) FROM surveys_invitation WHERE department_id = %s AND attempts >= 3",
                [department.pk],
            )[0][0]
            >= 20
        ),
        timeout=60,
        interval=0.5,
    )
    [(retried,)] = stack.sql(
        "SELECT count(*) FROM surveys_invitation WHERE department_id = %s AND attempts >= 2", [department.pk]
    )
    stack.smtp_accept()
    if not retried:
        tally.problems.append("no invitation was retried while the server refused")
    note = delivery_checks(stack, department, tally)
    return Outcome(made + 2, tally, f"{retried} invitations retried while refused; {note}".rstrip("; "))


def database_cut_during_screening(stack) -> Outcome:
    """pg_terminate_backend of the worker's connection while it screens a 30,000-contact request
    (300 reachable by email): the batch running must roll back whole, and the screening carry on
    after the last committed batch."""
    tally = Tally()
    department = stack.department_create("fault-db")
    ids = stack.contacts_create(30_000, "db", [department])
    stack.sql("DELETE FROM contacts_identity WHERE contact_id = ANY(%s)", [ids[300:]])
    # Screening takes every contact stripe, then writes the decisions in one statement.
    request_id = request_submit(stack, department, tally)
    # The screening's transaction is the one holding every contact stripe (a trigger holds one).
    victim = wait_until(
        lambda: stack.sql(
            """SELECT pid FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               GROUP BY pid HAVING count(*) > 16 LIMIT 1"""
        ),
        timeout=60,
        interval=0.002,
    )
    if not victim:
        tally.problems.append("never caught the worker screening")
        return Outcome(1, tally)
    stack.sql("SELECT pg_terminate_backend(%s)", [victim[0][0]])
    # Decisions past the committed batches' count: a batch half-written.
    [(status, stray)] = stack.sql(
        """SELECT status, (SELECT count(*) FROM surveys_decision WHERE send_request_id = r.id)
                  - screening_done
           FROM surveys_sendrequest r WHERE id = %s""",
        [request_id],
    )
    cut = f"cut with the request {status}"
    if status == "submitted" and stray:
        tally.half_screened += 1
        tally.problems.append(f"half-screened right after the cut: {stray} decisions past its progress")
    note = delivery_checks(stack, department, tally)
    return Outcome(30_000, tally, f"{cut}; {note}".rstrip("; "))


def web_killed_during_submission(stack) -> Outcome:
    """Customers answer 600 delivered invitations on the public page while gunicorn workers are
    SIGKILLed; each client retries until it is acknowledged (thank-you or already-answered page).
    Then every acknowledged answer is stored, exactly once."""
    tally = Tally()
    tokens = stack.smtp_tokens()
    answerable = [
        row[0]
        for row in stack.sql(
            "SELECT id FROM surveys_invitation WHERE status IN ('sent', 'opened') AND id = ANY(%s)",
            [list(tokens)],
        )
    ]
    chosen = {pk: tokens[pk] for pk in sorted(answerable)[:600]}
    if len(chosen) < 100:
        tally.problems.append(f"only {len(chosen)} delivered invitations to answer")
    acknowledged, kills = asyncio.run(_answer_while_killing(stack, chosen, tally))
    rows = stack.sql(
        """SELECT i.id, count(r.id), min(a.value_number)
           FROM surveys_invitation i
           LEFT JOIN surveys_response r ON r.invitation_id = i.id
           LEFT JOIN surveys_answer a ON a.response_id = r.id
           WHERE i.id = ANY(%s) GROUP BY i.id""",
        [list(acknowledged)],
    )
    stored = {pk: (n, value) for pk, n, value in rows}
    lost = [pk for pk in acknowledged if stored.get(pk, (0, None))[0] == 0]
    wrong = [pk for pk in acknowledged if stored.get(pk, (0, None))[0] > 1 or stored.get(pk, (0, 7))[1] != 7]
    unacknowledged = len(chosen) - len(acknowledged)
    if lost:
        tally.lost += len(lost)
        tally.problems.append(f"{len(lost)} acknowledged answers not stored: {lost[:5]}")
    if wrong:
        tally.duplicates += len(wrong)
        tally.problems.append(f"{len(wrong)} invitations with a response stored twice or wrong: {wrong[:5]}")
    if unacknowledged:
        tally.problems.append(f"{unacknowledged} answers never acknowledged after retries")
    if kills < 2:
        tally.problems.append(f"only {kills} gunicorn workers killed")
    return Outcome(
        len(chosen), tally, f"{kills} gunicorn workers killed; {len(acknowledged)} answers acknowledged"
    )


ANSWERED = b"You have answered"  # the already-answered page (contacts' locale: en)
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


async def _answer_while_killing(stack, chosen: dict[int, str], tally: Tally) -> tuple[set[int], int]:
    acknowledged: set[int] = set()
    queue = list(chosen.items())
    done = asyncio.Event()

    async def customer() -> None:
        connection = Connection(stack.web_port, timeout=30)
        while queue:
            invitation_id, token = queue.pop()
            # As a browser: the page first, for the CSRF cookie and the form's token.
            for _attempt in range(50):
                page = await connection.request("GET", f"/t/{token}")
                if page.status:
                    break
                await asyncio.sleep(0.2)
            if page.status == 200 and ANSWERED in page.body:
                acknowledged.add(invitation_id)
                continue
            cookie = page.headers.get("set-cookie", "").split(";")[0]
            found = CSRF_FIELD.search(page.body)
            form = {"q1": "7", "csrfmiddlewaretoken": found.group(1).decode() if found else ""}
            for _attempt in range(50):
                answer = await connection.request(
                    "POST", f"/t/{token}", form=form, headers={"Cookie": cookie}
                )
                if answer.status == 303 or (answer.status == 200 and ANSWERED in answer.body):
                    acknowledged.add(invitation_id)
                    break
                if answer.status >= 500:
                    tally.server_errors += 1
                    tally.problems.append(f"survey submit: {answer.status}")
                elif answer.status != 0:
                    tally.problems.append(f"survey submit: {answer.status} {answer.body[:150]!r}")
                    break
                await asyncio.sleep(0.2)  # the connection died with its worker: try again
        connection.close()

    async def killer() -> int:
        kills = 0
        while not done.is_set() and kills < 3:
            await asyncio.sleep(0.4)
            if done.is_set():
                break
            try:
                stack.web_kill_one_worker()
                kills += 1
            except (IndexError, ProcessLookupError):
                pass  # between a worker's death and its replacement
        return kills

    killing = asyncio.create_task(killer())
    await asyncio.gather(*(customer() for _ in range(20)))
    done.set()
    return acknowledged, await killing


FAULTS = [
    worker_killed_mid_batch,
    broker_stopped_and_restarted,
    smtp_refusing_then_accepting,
    database_cut_during_screening,
    web_killed_during_submission,
]
