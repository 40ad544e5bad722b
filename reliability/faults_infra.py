"""Faults of the infrastructure under the app (issue 19): the database restarted mid-dispatch and
mid-screening, the broker losing every message in flight, a task delivered twice, and the clock of
the worker and beat jumping an hour ahead. Each works on a department of its own and ends with the
independent checks (reliability/checks.py), as the first five (reliability/faults.py) do.
"""

from __future__ import annotations

import datetime as dt
import time

from reliability import breakers, checks
from reliability.checks import Tally
from reliability.faults import (
    Outcome,
    delivery_checks,
    invitations_in,
    request_submit,
    triggers,
    wait_until,
)

OUTAGE_SECONDS = 5


def database_restarted_mid_dispatch(stack) -> Outcome:
    """A 1,200-contact request; once 100 of its invitations are sent, every database session is cut
    and none let in for 5 s (a PostgreSQL restart as the app sees it)."""
    tally = Tally()
    department = stack.department_create("fault-pg-dispatch")
    stack.contacts_create(1200, "pgdispatch", [department])
    request_id = request_submit(stack, department, tally)
    if not wait_until(lambda: invitations_in(stack, request_id, ("sent",)) >= 100, timeout=120):
        tally.problems.append("the worker never sent 100 invitations")
    cut = breakers.database_outage(stack, OUTAGE_SECONDS)
    sent = invitations_in(stack, request_id, ("sent",))
    restarted = stack.supervise()
    note = delivery_checks(stack, department, tally)
    exited = f"; {' and '.join(restarted)} exited and restarted" if restarted else ""
    return Outcome(1200, tally, f"{cut} sessions cut at {sent} sent{exited}; {note}".rstrip("; "))


def database_restarted_mid_screening(stack) -> Outcome:
    """A 20,000-contact request (300 reachable); while the worker holds every contact stripe to
    screen it, every database session is cut and none let in for 5 s."""
    tally = Tally()
    department = stack.department_create("fault-pg-screen")
    ids = stack.contacts_create(20_000, "pgscreen", [department])
    stack.sql("DELETE FROM contacts_identity WHERE contact_id = ANY(%s)", [ids[300:]])
    request_id = request_submit(stack, department, tally)
    screening = wait_until(
        lambda: stack.sql(
            """SELECT pid FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               GROUP BY pid HAVING count(*) > 16 LIMIT 1"""
        ),
        timeout=60,
        interval=0.002,
    )
    if not screening:
        tally.problems.append("never caught the worker screening")
    breakers.database_outage(stack, OUTAGE_SECONDS)
    # Decisions past the committed batches' count: a batch half-written.
    [(status, stray)] = stack.sql(
        """SELECT status, (SELECT count(*) FROM surveys_decision WHERE send_request_id = r.id)
                  - screening_done
           FROM surveys_sendrequest r WHERE id = %s""",
        [request_id],
    )
    if status == "submitted" and stray:
        tally.half_screened += 1
        tally.problems.append(f"half-screened right after the restart: {stray} decisions past its progress")
    restarted = stack.supervise()
    note = delivery_checks(stack, department, tally)
    exited = f"; {' and '.join(restarted)} exited and restarted" if restarted else ""
    return Outcome(20_000, tally, f"restarted with the request {status}{exited}; {note}".rstrip("; "))


def broker_lost_messages(stack) -> Outcome:
    """While a request is being delivered the worker stops (warm shutdown: its batch ends); a second
    request is submitted and triggers come in, and beat hands the queued invitations over (their
    messages wait in the broker); then the broker loses everything it held (Redis restarted without
    its data) and a worker starts again. Screenings and deliveries whose messages were lost are
    found again (the dispatcher and the sweeper), none sent twice.

    Not SIGKILL: a kill landing between an email's mark as sent and SMTP's final "." loses that
    email by design (delivery is at most once in that window: surveys/delivery/__init__.py), which
    is worker_killed_mid_batch's subject, not the broker's."""
    tally = Tally()
    department = stack.department_create("fault-broker-lost")
    contacts = stack.contacts_create(900, "lost", [department])
    first = {"audience_kind": "filter", "audience_filter": {"batch": "lost", "segment": "s1"}}
    request_id = request_submit(stack, department, tally, **first)
    wait_until(lambda: invitations_in(stack, request_id, ("sent",)) >= 5, timeout=60)
    stack.worker.stop()
    rest = {"audience_kind": "filter", "audience_filter": {"batch": "lost"}}
    request_submit(stack, department, tally, **rest)
    made = triggers(stack, department, contacts[:30], "lost", tally)
    time.sleep(3)  # beat's dispatcher hands the first request's queued invitations over meanwhile
    lost = breakers.broker_flush(stack)
    if lost is None:
        stack.worker_start()
        return Outcome(0, tally, f"skipped: the {stack.broker_kind} broker is not this run's to flush", True)
    stack.worker_start()
    restarted = stack.supervise()
    note = delivery_checks(stack, department, tally)
    if not lost:
        tally.problems.append("the broker held no message when it lost them: nothing was proved")
    exited = f"; {' and '.join(restarted)} exited and restarted" if restarted else ""
    return Outcome(made + 4, tally, f"{lost} messages lost{exited}; {note}".rstrip("; "))


def task_delivered_twice(stack) -> Outcome:
    """Every message of a request delivered two more times, as a broker's visibility-timeout replay
    does: its screening three times at once, and each batch of its invitations sent by three tasks
    racing the dispatcher's own."""
    from surveys.tasks import screen_send_request_task, send_invitations_task

    tally = Tally()
    department = stack.department_create("fault-twice")
    stack.contacts_create(800, "twice", [department])
    request_id = request_submit(stack, department, tally)
    for _ in range(2):
        screen_send_request_task.delay(request_id)
    queued = wait_until(
        lambda: stack.sql(
            "SELECT array_agg(id ORDER BY id) FROM surveys_invitation WHERE send_request_id = %s",
            [request_id],
        )[0][0],
        timeout=120,
        interval=0.02,
    )
    batches = [queued[i : i + 100] for i in range(0, len(queued or []), 100)]
    for batch in batches * 2:
        send_invitations_task.delay(batch)
    note = delivery_checks(stack, department, tally)
    return Outcome(800, tally, f"{2 + 2 * len(batches)} messages replayed; {note}".rstrip("; "))


CLOCK_JUMP = 3600


def clock_jumped_an_hour(stack) -> Outcome:
    """The worker's and beat's clock jumps an hour ahead while a request is delivered (beat finds
    every periodic task due: dispatch, sweeps, expiry, reminders, reservation releases), with a
    second request whose window (20 to 30 minutes from now) the jump skips; then it comes back.
    The skipped request's reservations are released, never sent late; the others are delivered
    once; a third request screened after the clock came back counts the sends dated an hour ahead."""
    tally = Tally()
    department = stack.department_create("fault-clock")
    stack.contacts_create(600, "clock", [department])
    now = dt.datetime.now(dt.UTC)
    half = {"audience_kind": "filter", "audience_filter": {"batch": "clock", "segment": "s1"}}
    first = request_submit(stack, department, tally)
    window = {
        "earliest_send_at": (now + dt.timedelta(minutes=20)).isoformat(),
        "latest_send_at": (now + dt.timedelta(minutes=30)).isoformat(),
    }
    survey = stack.survey_create(department.pk, "Clock window", "transactional")
    skipped = request_submit(stack, department, tally, survey=survey, **half, **window)
    wait_until(lambda: invitations_in(stack, first, ("sent",)) >= 50, timeout=120)
    breakers.celery_restart(stack, clock_ahead=CLOCK_JUMP)
    note = stack.drain(timeout=120, request_ids=[first, skipped])
    breakers.celery_restart(stack)
    survey = stack.survey_create(department.pk, "Clock after", "transactional")
    third = request_submit(stack, department, tally, survey=survey)
    note = "; ".join(filter(None, [note, stack.drain(timeout=120, request_ids=[third])]))
    late = stack.sql(
        """SELECT count(*) FILTER (WHERE i.status NOT IN ('cancelled', 'queued')),
                  count(*) FILTER (WHERE i.status = 'queued')
           FROM surveys_invitation i WHERE i.send_request_id = %s""",
        [skipped],
    )[0]
    if late[0]:
        tally.violations += late[0]
        tally.problems.append(f"{late[0]} invitations of the skipped window sent after it closed")
    if late[1]:
        tally.problems.append(f"{late[1]} invitations of the skipped window still reserved")
    tally.add(checks.delivered_once(stack, [first, third]))
    tally.add(checks.screened_whole(stack, [first, skipped, third]))
    tally.add(checks.rules_kept(stack))
    return Outcome(600 * 3, tally, f"jumped {CLOCK_JUMP} s ahead and back; {note}".rstrip("; "))


FAULTS = [
    database_restarted_mid_dispatch,
    database_restarted_mid_screening,
    broker_lost_messages,
    task_delivered_twice,
    clock_jumped_an_hour,
]
