"""Load: many concurrent API clients of several departments on the same contacts, against gunicorn
with two workers, then the independent checks.

Each client is one keep-alive connection acting for one department (four departments, the clients
spread over them) and loops, picking at random:
- a trigger (POST /api/v1/triggers) for a random contact of the shared pool, with a fresh
  Idempotency-Key — the bulk of the load;
- a replay of one of its earlier triggers, same key and same body: it must answer exactly as the
  first time (same decision, same invitation), or it counts as a duplicate;
- an eligibility question (POST /api/v1/eligibility), which reserves nothing;
- a send request for a segment of the pool (POST /api/v1/send-requests, then …/submit), screened
  by the Celery worker while the triggers go on, on overlapping contacts;
- a read of one of its send requests.

Afterwards, once the worker has drained: no contact over any rule, no two open invitations for one
survey, every allowed decision delivered exactly once (by the SMTP server's count per invitation),
every acknowledged trigger's invitation stored, every replay the same, no 5xx.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from reliability import checks
from reliability.http import Connection

TRIGGER = "/api/v1/triggers"
ELIGIBILITY = "/api/v1/eligibility"
SEND_REQUESTS = "/api/v1/send-requests"


@dataclass
class Traffic:
    """What the clients saw, shared by all of them (one event loop: no locks needed)."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # samples
    unexpected_count: int = 0
    refused: int = 0  # unexpected answers below 500: the app said no where it should have said yes
    server_errors: int = 0
    replay_mismatches: list[str] = field(default_factory=list)
    acknowledged_invitations: set[int] = field(default_factory=set)
    send_requests: list[int] = field(default_factory=list)

    def count(self, kind: str, status: int, expected: tuple[int, ...], body: bytes = b"") -> bool:
        self.requests += 1
        self.statuses[status] += 1
        self.by_kind[kind] += 1
        if status >= 500 or status == 0:
            self.server_errors += 1
        if status not in expected:
            self.unexpected_count += 1
            self.refused += 0 < status < 500
            if len(self.unexpected) < 8:
                self.unexpected.append(f"{kind} {status} {body[:200]!r}")
            return False
        return True


@dataclass
class LoadResult:
    requests: int
    seconds: float
    tally: checks.Tally
    traffic: Traffic
    note: str


async def client(number: int, stack, traffic: Traffic, *, total: int, deadline: float) -> None:
    rng = random.Random(number)
    department = list(stack.departments.values())[number % 4]
    auth = {"Authorization": f"Bearer {department.key}"}
    connection = Connection(stack.web_port)
    history: list[tuple[str, dict, int, dict]] = []  # key, body, status, answer of each trigger
    own_requests: list[int] = []
    try:
        while traffic.requests < total and time.monotonic() < deadline:
            pick = rng.random()
            if pick < 0.03:
                await send_request(connection, rng, department, auth, traffic, own_requests)
            elif pick < 0.10 and own_requests:
                answer = await connection.request(
                    "GET", f"{SEND_REQUESTS}/{rng.choice(own_requests)}", headers=auth
                )
                traffic.count("read", answer.status, (200,), answer.body)
            elif pick < 0.30 and history:
                await replay(connection, rng.choice(history), auth, traffic)
            elif pick < 0.55:
                body = gatekeeper_body(rng, stack, department)
                answer = await connection.request("POST", ELIGIBILITY, json_body=body, headers=auth)
                traffic.count("eligibility", answer.status, (200,), answer.body)
            else:
                key = str(uuid.uuid4())
                body = {**gatekeeper_body(rng, stack, department), "purpose": "reliability load"}
                answer = await connection.request(
                    "POST", TRIGGER, json_body=body, headers={**auth, "Idempotency-Key": key}
                )
                if traffic.count("trigger", answer.status, (200, 201), answer.body):
                    result = answer.json()
                    if result["invitation"]:
                        traffic.acknowledged_invitations.add(result["invitation"]["id"])
                    history.append((key, body, answer.status, result))
    finally:
        connection.close()


def gatekeeper_body(rng: random.Random, stack, department) -> dict:
    contact = rng.choice(stack.contact_ids)
    return {
        "survey": rng.choice(department.surveys),
        "channel": "email",
        "contact": {"identities": [{"kind": "email", "value": f"load-{contact}@example.com"}]},
    }


async def replay(connection: Connection, first: tuple, auth: dict, traffic: Traffic) -> None:
    key, body, status, result = first
    answer = await connection.request(
        "POST", TRIGGER, json_body=body, headers={**auth, "Idempotency-Key": key}
    )
    if not traffic.count("replay", answer.status, (status,), answer.body):
        return
    again = answer.json()
    if again != result or answer.headers.get("idempotent-replayed") != "true":
        traffic.replay_mismatches.append(f"key {key}: first {result}, then {again}")


async def send_request(
    connection: Connection, rng, department, auth: dict, traffic: Traffic, own: list
) -> None:
    body = {
        "survey": rng.choice(department.surveys),
        "channel": "email",
        "audience_kind": "filter",
        "audience_filter": {"segment": f"s{rng.randrange(20)}", "batch": "load"},
        "purpose": "reliability load",
    }
    headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}
    answer = await connection.request("POST", SEND_REQUESTS, json_body=body, headers=headers)
    if not traffic.count("send_request", answer.status, (201,), answer.body):
        return
    request_id = answer.json()["id"]
    own.append(request_id)
    traffic.send_requests.append(request_id)
    answer = await connection.request("POST", f"{SEND_REQUESTS}/{request_id}/submit", headers=auth)
    traffic.count("submit", answer.status, (200,), answer.body)


async def _run(stack, *, clients: int, total: int, seconds: float) -> Traffic:
    traffic = Traffic()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(client(n, stack, traffic, total=total, deadline=deadline) for n in range(clients)))
    return traffic


def run(stack, *, clients: int = 40, total: int = 20500, seconds: float = 420) -> LoadResult:
    started = time.monotonic()
    traffic = asyncio.run(_run(stack, clients=clients, total=total, seconds=seconds))
    load_seconds = time.monotonic() - started
    note = stack.drain(timeout=240)
    tally = checks.Tally(server_errors=traffic.server_errors)
    request_ids = [row[0] for row in stack.sql("SELECT id FROM surveys_sendrequest")]
    tally.add(checks.rules_kept(stack))
    tally.add(checks.delivered_once(stack, request_ids))
    tally.add(checks.screened_whole(stack, request_ids))
    [(stored,)] = stack.sql(
        "SELECT count(*) FROM surveys_invitation WHERE public_id = ANY(%s::uuid[])",
        [list(traffic.acknowledged_invitations)],
    )
    missing = len(traffic.acknowledged_invitations) - stored
    if missing:
        tally.lost += missing
        tally.problems.append(f"{missing} invitations acknowledged by a trigger are not stored")
    if traffic.replay_mismatches:
        tally.duplicates += len(traffic.replay_mismatches)
        tally.problems.append(
            f"{len(traffic.replay_mismatches)} replays answered differently: {traffic.replay_mismatches[:2]}"
        )
    if traffic.server_errors:
        tally.problems.append(f"{traffic.server_errors} answers 5xx or none: {traffic.unexpected[:3]}")
    if traffic.unexpected_count:
        tally.problems.append(f"{traffic.unexpected_count} unexpected answers, e.g. {traffic.unexpected[:3]}")
    return LoadResult(
        requests=traffic.requests, seconds=load_seconds, tally=tally, traffic=traffic, note=note
    )
