"""Survey answer submissions through gunicorn, ~50 customers at once (PRODUCT.md §8: ≥ 200/s, zero lost).

Builds, in a database of its own, one survey with every question kind and `--invitations` sent
invitations, each with a personal link. Starts gunicorn on that database (2 workers × 4 threads,
persistent connections, the public rate limit raised so it counts but never refuses), then 50
keep-alive HTTP/1.1 clients — plain asyncio — each take the next link, GET the survey page as a
browser would and POST the answers, until every invitation has been answered once. A submission is
acknowledged when the answer is the redirect to the thank-you page; afterwards the stored responses
are counted, and `lost` is every acknowledged submission without one.

    python bench/bench_answers.py [--invitations 2000] [--clients 50] [--workers 2] [--threads 4]

Last line: bench answers submissions=N per_s=X lost=L
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import bench_trigger
from bench_trigger import free_port, gunicorn_start, gunicorn_stop, response_read
from harness import drop_database, say, setup_django

DATABASE = "bench_answers"
ANSWERS = urlencode(
    {
        "q1": "9",
        "q2": "4",
        "q3": "6",
        "q4": "3",
        "q5": "Toaster",
        "q6": ["Price", "Speed"],
        "q7": "Quick, thanks.",
    },
    doseq=True,
).encode()


def build(invitations: int) -> list[tuple[int, str]]:
    """A department, a survey with every question kind, and `invitations` sent invitations to as many
    contacts; returns (invitation id, token) for each."""
    from django.db import connection
    from django.utils import timezone

    from departments.models import Department
    from surveys.delivery.tokens import token_new
    from surveys.models import Invitation, InvitationToken, Question, SendRequest, Survey

    now = timezone.now()
    department = Department.objects.create(name="Support", slug="support")
    survey = Survey.objects.create(department=department, name="Your recent order", frozen_at=now)
    Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
    for position, (kind, extra) in enumerate(
        [
            ("nps", {}), ("csat", {}), ("ces", {}), ("rating", {"scale_min": 1, "scale_max": 4}),
            ("single_choice", {"choices": ["Kettle", "Toaster", "Mixer"]}),
            ("multiple_choice", {"choices": ["Price", "Speed", "Friendliness"]}),
            ("free_text", {"required": False}),
        ],
        start=1,
    ):  # fmt: skip
        Question.objects.create(
            survey=survey, position=position, kind=kind, text=f"Question {position}", **extra
        )
    request = SendRequest.objects.create(
        department=department, survey=survey, audience_kind="all_known", status="sending", submitted_at=now
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO contacts_contact (name, locale, time_zone, attributes, created_at, updated_at)
               SELECT 'Contact ' || g, 'en', 'Europe/Berlin', '{}', %(now)s, %(now)s
               FROM generate_series(1, %(n)s) g""",
            {"n": invitations, "now": now},
        )
        cursor.execute(
            """INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, sent_at, expires_at, attempts,
                   reminders_sent, failure_reason, created_at, updated_at)
               SELECT %(r)s, %(s)s, %(s)s, %(d)s, 'transactional', id, 'email', 'sent', %(now)s, %(now)s,
                      %(now)s + interval '14 days', 1, 0, '', %(now)s, %(now)s
               FROM contacts_contact""",
            {"r": request.pk, "s": survey.pk, "d": department.pk, "now": now},
        )
    links = []
    tokens = []
    for invitation_id in Invitation.objects.order_by("pk").values_list("pk", flat=True):
        token, hashed = token_new()
        links.append((invitation_id, token))
        tokens.append(InvitationToken(invitation_id=invitation_id, token_hash=hashed, created_at=now))
    InvitationToken.objects.bulk_create(tokens, batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return links


CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


async def page_read(reader: asyncio.StreamReader) -> tuple[int, bytes, bool, str]:
    """A response as bench_trigger reads it, and the `name=value` of the cookie it sets."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    cookie = headers.get("set-cookie", "").split(";", 1)[0]
    return int(lines[0].split(" ", 2)[1]), body, headers.get("connection", "").lower() == "close", cookie


@dataclass
class Tally:
    acknowledged: list[int] = field(default_factory=list)  # invitation ids
    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # GET + POST of one submission
    errors: list[str] = field(default_factory=list)

    def count(self, what: str) -> None:
        self.statuses[what] = self.statuses.get(what, 0) + 1


async def customer(port: int, links: asyncio.Queue, tally: Tally) -> None:
    """One keep-alive connection answering surveys one after the other until none is left."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while not links.empty():
            invitation_id, token = links.get_nowait()
            started = time.perf_counter()
            writer.write(f"GET /t/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            status, page, close, cookie = await page_read(reader)
            if status != 200:
                tally.count(f"GET {status}")
            else:
                # As a browser: the form's CSRF token with the cookie the page set.
                form_token = CSRF_FIELD.search(page).group(1)
                body = ANSWERS + b"&csrfmiddlewaretoken=" + form_token
                writer.write(
                    f"POST /t/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
                    + b"Origin: http://127.0.0.1\r\n"
                    + f"Cookie: {cookie}\r\n".encode()
                    + b"Content-Type: application/x-www-form-urlencoded\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                status, page, close = await response_read(reader)
                tally.count(f"POST {status}")
                if status == 303:
                    tally.acknowledged.append(invitation_id)
                    tally.latencies.append(time.perf_counter() - started)
                elif len(tally.errors) < 5:
                    tally.errors.append(f"{status} {page[:300]!r}")
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def load(port: int, links: list[tuple[int, str]], clients: int) -> tuple[Tally, float]:
    queue: asyncio.Queue = asyncio.Queue()
    for link in links:
        queue.put_nowait(link)
    tally = Tally()
    started = time.perf_counter()
    await asyncio.gather(*(customer(port, queue, tally) for _ in range(clients)))
    return tally, time.perf_counter() - started


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of gunicorn, this database's PostgreSQL backends and this client."""
    bench_trigger.DATABASE = DATABASE  # bench_trigger's counter tells backends apart by database name
    return bench_trigger.cpu_seconds(server_pid)


def stored_of(invitation_ids: list[int]) -> set[int]:
    from surveys.models import Response

    return set(
        Response.objects.filter(invitation_id__in=invitation_ids).values_list("invitation_id", flat=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invitations", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    setup_django(DATABASE)
    links = build(args.invitations)
    say(f"built {len(links)} invitations; load average before: {os.getloadavg()[0]:.2f}")
    # The limit still counts every request (in the shared cache), but must not refuse the bench's
    # one client address.
    os.environ["PUBLIC_RATE_LIMIT"] = "1000000/minute"
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "gunicorn.log"
        server = gunicorn_start(port := free_port(), args.workers, args.threads, log)
        try:
            cpu_before = cpu_seconds(server.pid)
            tally, seconds = asyncio.run(load(port, links, args.clients))
            cpu_after = cpu_seconds(server.pid)
        finally:
            gunicorn_stop(server)
        server_log = log.read_text()
    submissions = len(tally.acknowledged)
    lost = len(set(tally.acknowledged) - stored_of(tally.acknowledged))
    latencies = sorted(tally.latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000 if latencies else float("nan")
    say(f"statuses={dict(sorted(tally.statuses.items()))} p99_ms={p99:.0f}")
    if submissions:
        cpu = {name: (cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / submissions for name in cpu_after}
        say("cpu_ms_per_submission " + " ".join(f"{name}={ms:.2f}" for name, ms in cpu.items()))
    for error in tally.errors:
        say(f"error: {error}")
    if "Traceback" in server_log:
        say(server_log[-2000:])
    if not args.keep:
        drop_database(DATABASE)
    say(f"bench answers submissions={submissions} per_s={submissions / seconds:.0f} lost={lost}")


if __name__ == "__main__":
    main()
