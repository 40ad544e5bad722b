"""Invitation dispatch to a local SMTP server, one worker process (PRODUCT.md §8): ≥ 100 emails/s, and
no invitation lost or sent twice after a worker is killed mid-batch.

In a database of its own: N contacts (one email each) known to one department, a request to all of
them, screened (N queued invitations). An SMTP server (aiosmtpd) runs on loopback in this process,
in a thread, recording every message; one Celery worker process (`--concurrency=1`) on a broker
folder of its own sends through it. After a one-invitation warm-up (the worker is up), the clock
runs from the dispatch (`invitations_dispatch_due`) to the last message received.

Then the crash run: another N invitations; the worker is SIGKILLed in the middle, a new one
started, and the sweeper run as it would be once DELIVERY_STUCK_AFTER has passed. Every invitation
must arrive exactly once: an invitation is marked sent just before SMTP's final "." (see
surveys/delivery/), so the one the worker was sending when it died is not sent again.

    python bench/bench_dispatch.py [--emails 5000]     # BENCH_WORKER_LOG=1 prints the workers' logs

Last lines:
    bench dispatch emails=N seconds=S per_s=X duplicates=D lost=L
    bench dispatch_killed emails=N seconds=S per_s=X duplicates=D lost=L
"""

from __future__ import annotations

import argparse
import datetime as dt
import faulthandler
import os
import shutil
import signal
import sys
import time

from harness import ROOT, drop_database, say, setup_django, stopwatch

DATABASE = "bench_dispatch"
# A broker folder of this run's own: no other worker (`make run`, a run killed earlier) takes its tasks.
BROKER_DIR = ROOT / ".local" / f"broker-bench-dispatch-{os.getpid()}"
os.environ["CXFEEDBACK_BROKER_DIR"] = str(BROKER_DIR)


def audience(department, count: int, *, prefix: str) -> None:
    """`count` contacts with one email each, known to `department`."""
    from django.db import connection

    from contacts.models import Contact, DepartmentContact, DepartmentIdentity, Identity

    contacts = Contact.objects.bulk_create(Contact() for _ in range(count))
    identities = Identity.objects.bulk_create(
        Identity(
            contact=c, kind="email", value=f"{prefix}{n}@example.com", normalised=f"{prefix}{n}@example.com"
        )
        for n, c in enumerate(contacts)
    )
    DepartmentContact.objects.bulk_create(
        DepartmentContact(
            department=department,
            contact=c,
            source="import",
            name=f"Person {n}",
            locale="en",
            time_zone="UTC",
        )
        for n, c in enumerate(contacts)
    )
    DepartmentIdentity.objects.bulk_create(
        DepartmentIdentity(department=department, identity=identity) for identity in identities
    )
    # Statistics for the planner, as autovacuum would have them by the time anyone screens: just
    # after a bulk load the screening statement can pick a plan that runs for many minutes.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def screened_request(department, survey) -> int:
    """A request to every contact the department knows and has not been invited yet; screened."""
    from surveys.gatekeeper.send_requests import send_request_screen
    from surveys.models import SendRequest

    send_request = SendRequest.objects.create(
        department=department, survey=survey, channel="email", audience_kind="all_known", status="submitted"
    )
    send_request_screen(send_request_id=send_request.pk)
    return send_request.pk


def invitation_ids(send_request_id: int) -> set[str]:
    from surveys.models import Invitation

    pks = Invitation.objects.filter(send_request_id=send_request_id).values_list("pk", flat=True)
    return {f"<invitation-{pk}.invite@cxfeedback.localhost>" for pk in pks}


def wait_for(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def all_received(server, expected: set[str]) -> bool:
    """Cheap until enough messages are in (the server shares this process's GIL), then exact."""
    if server.received < len(expected):
        return False
    transactions = server.message_ids()
    return all(transactions[message_id] for message_id in expected)


def last_received(server) -> float:
    return max(server.handler.received_at)


def report(name: str, server, expected: set[str], seconds: float) -> None:
    transactions = server.message_ids()
    duplicates = sum(1 for message_id in expected if transactions[message_id] > 1)
    lost = sum(1 for message_id in expected if transactions[message_id] == 0)
    say(
        f"bench {name} emails={len(expected)} seconds={seconds:.2f} per_s={len(expected) / seconds:.0f} "
        f"duplicates={duplicates} lost={lost}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=5000)
    args = parser.parse_args()
    # Stopped from outside (timeout, Ctrl-C): still stop the workers and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    faulthandler.dump_traceback_later(240, repeat=True)
    setup_django(DATABASE)
    from django.conf import settings
    from django.utils import timezone

    from cxfeedback.celery import app
    from departments.models import Department
    from surveys.delivery.dispatch import invitations_dispatch_due
    from surveys.delivery.sweeper import invitations_sweep_stuck
    from surveys.models import Question, Survey
    from tests.smtp import LoopbackSmtp
    from tests.workers import CeleryProcess

    server = LoopbackSmtp().start()
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    env = {**server.env(), "QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00", "LOG_LEVEL": "WARNING"}
    # The worker's output is read only when it stops: at INFO a long run would fill the pipe.
    quiet = () if os.environ.get("BENCH_WORKER_LOG") else ("--loglevel=WARNING",)
    workers = [CeleryProcess("worker", *quiet, env=env).start()]
    try:
        department = Department.objects.create(name="Support", slug="support")
        survey = Survey.objects.create(department=department, name="After your call")
        Survey.objects.filter(pk=survey.pk).update(family_id=survey.pk)
        survey.refresh_from_db()
        Question.objects.create(survey=survey, position=1, kind="nps", text="How likely…?")

        # Warm-up: one invitation, so the clock starts with the worker up and connected.
        audience(department, 1, prefix="warmup")
        warmup = invitation_ids(screened_request(department, survey))
        invitations_dispatch_due()
        wait_for(lambda: all_received(server, warmup), timeout=60, what="the warm-up email")
        server.forget()

        with stopwatch() as built:
            audience(department, args.emails, prefix="steady")
            expected = invitation_ids(screened_request(department, survey))
        say(f"built {len(expected)} queued invitations in {built():.1f} s")
        started = time.monotonic()
        invitations_dispatch_due()
        wait_for(lambda: all_received(server, expected), timeout=600, what="every email")
        time.sleep(1)  # anything sent twice would arrive now
        report("dispatch", server, expected, last_received(server) - started)
        server.forget()

        with stopwatch() as built:
            audience(department, args.emails, prefix="crash")
            expected = invitation_ids(screened_request(department, survey))
        say(
            f"crash run: {len(expected)} more built in {built():.1f} s; killing the worker a third of the way"
        )
        started = time.monotonic()
        invitations_dispatch_due()
        third = len(expected) // 3
        wait_for(lambda: server.received >= third, timeout=600, what="a third")
        workers[-1].kill()
        dead = _sending()
        workers.append(CeleryProcess("worker", *quiet, env=env).start())
        # The new worker takes the batches still in the broker; what the dead one had claimed
        # stays in sending until the sweeper, run here as it would be once
        # DELIVERY_STUCK_AFTER has passed (it must not re-queue a live worker's batch).
        wait_for(lambda: not _queued() and _sending() == dead, timeout=600, what="the broker's batches")
        later = timezone.now() + dt.timedelta(seconds=settings.DELIVERY_STUCK_AFTER + 1)
        swept = invitations_sweep_stuck(now=later)
        wait_for(lambda: all_received(server, expected), timeout=600, what="every email")
        time.sleep(1)
        say(f"swept: {swept.requeued} re-queued from sending, {swept.handed_again} handed over again")
        report("dispatch_killed", server, expected, last_received(server) - started)
    finally:
        for worker in workers:
            output = worker.stop()
            if os.environ.get("BENCH_WORKER_LOG"):
                say(output)
        server.stop()
        drop_database(DATABASE)
        shutil.rmtree(BROKER_DIR, ignore_errors=True)


def _queued() -> bool:
    from surveys.models import Invitation

    return Invitation.objects.filter(status="queued").exists()


def _sending() -> set[int]:
    from surveys.models import Invitation

    return set(Invitation.objects.filter(status="sending").values_list("pk", flat=True))


if __name__ == "__main__":
    main()
