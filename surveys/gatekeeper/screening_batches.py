"""A send request's screening in committed batches (issues 18 and 19).

The audience is decided by contact id range, a batch of contacts at a time (sized to its pace:
screening_batch_size), each range in a transaction of its own: lock the request's row, then the
contact stripes (lock order 3 then 4, surveys/gatekeeper/locks.py), decide the range and write its
decisions and invitations (screening.screen), add its counts to the request's running summary, move
the request's committed position (`screening_after`) past it, commit. So:

- a trigger waits at most one batch for a stripe, never the whole screening, and only if its
  contact's id is in (or next to) that batch's range, or shares an account with one that is (issue 18);
- the request's progress (`screening_done` of `screening_total`) moves with every commit, and a
  screening whose worker died carries on after the last committed range, neither deciding a contact
  twice (decision_one_per_contact backs that) nor missing one (issue 19);
- a request cancelled meanwhile stops after the batch running (the cancel waits for the batch's
  hold on the request's advisory lock, then the next batch waits for the cancel's and finds the
  request cancelled; locks.lock_send_request).

What needs the whole request (priority arbitration, overrides, the approval hold and its budget) runs
once every range is decided: send_requests.send_request_screen's last step, under every stripe.
Only the request's final status says it is screened; until then it stays submitted.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from surveys.gatekeeper import locks
from surveys.gatekeeper.active_rules import rules_active
from surveys.gatekeeper.audiences import audience_of
from surveys.gatekeeper.screening import LAST_CONTACT, Audience, Outcome, Send, screen
from surveys.models import SendRequest

Status = SendRequest.Status

# A batch holds the stripes of its range of ids for its time (locks.lock_contact_range), which bounds
# the wait of a trigger for one of its contacts; others do not wait. So a batch is sized by time:
# as many contacts as the batch before decided in settings.SCREENING_BATCH_MS, at most twice that
# batch and settings.SCREENING_BATCH_CONTACTS (10,000), at least SCREENING_BATCH_MIN; the first is
# the least. On a quiet machine batches soon reach the most; on a busy one, where a batch of 10,000
# took 3 s and every trigger for its contacts waited as long, they shrink. Each batch also pays a
# fixed part (a statement planned, its range's touches and addresses read), so smaller ones cost more
# per contact.
SCREENING_BATCH_MIN = 500

# A screening with no batch committed for this long has lost its worker: the sweeper queues it again
# (send_requests.send_requests_screen_again). Far longer than a batch, even on a busy machine.
SCREENING_SILENT_AFTER = dt.timedelta(minutes=5)


def screening_send(send_request: SendRequest, *, at: dt.datetime) -> Send:
    survey = send_request.survey
    return Send(
        send_request_id=send_request.pk,
        department_id=send_request.department_id,
        survey_id=survey.pk,
        survey_family_id=survey.family_id,
        survey_kind=survey.kind,
        channel=send_request.channel,
        at=at,
    )


def screening_request_lock(send_request_id: int) -> SendRequest | None:
    """The request's row, locked (lock order 3), if it is still waiting for (the rest of) its
    screening; None otherwise. Race: two workers screening one request (a task delivered twice, or
    queued again by the sweeper) would decide the same range twice; a cancel would miss the
    invitations of a batch committing after it."""
    locks.lock_send_request(send_request_id, exclusive=False)
    send_request = (
        # Only the request's own row: locking its survey too (select_related would) before the
        # stripes deadlocks with a trigger.
        SendRequest.objects.select_for_update(of=("self",))
        .select_related("survey", "department")
        .filter(pk=send_request_id)
        .first()
    )
    if send_request is None or send_request.status != Status.SUBMITTED:
        return None
    return send_request


def screening_decided(send_request: SendRequest) -> bool:
    """Is every range of the request's audience decided (only the last step left)?"""
    return send_request.screening_after is not None and send_request.screening_after >= LAST_CONTACT


def screening_batch_size(last: int | None = None, *, seconds: float = 0.0) -> int:
    """How many contacts the next batch decides, after one of `last` that took `seconds` (the first:
    None). See SCREENING_BATCH_MIN."""
    most = settings.SCREENING_BATCH_CONTACTS
    least = min(SCREENING_BATCH_MIN, most)
    if last is None:
        return least
    paced = int(last * settings.SCREENING_BATCH_MS / 1000 / max(seconds, 0.001))
    return max(least, min(most, 2 * last, paced))


def screening_batch_run(
    *, send_request_id: int, now: dt.datetime | None = None, size: int | None = None
) -> bool | None:
    """Decide the request's next range of `size` contacts (SCREENING_BATCH_CONTACTS by default) and
    commit it with the request's progress.

    Returns True once every range is decided, False if more are left, None if the request is not
    (or no longer) waiting for its screening (screened, cancelled, or gone).
    """
    with transaction.atomic():
        send_request = screening_request_lock(send_request_id)
        if send_request is None:
            return None
        if screening_decided(send_request):
            return True
        now = now or timezone.now()
        at = max(now, send_request.earliest_send_at)
        audience = audience_of(send_request)
        total = send_request.screening_total
        if total is None:
            total = audience.contacts_count()
        after = send_request.screening_after if send_request.screening_after is not None else -1
        hi = audience.batch_end(after=after, size=size or settings.SCREENING_BATCH_CONTACTS)
        outcome = _batch_decide(send_request, audience, at=at, after=after, hi=hi)
        SendRequest.objects.filter(pk=send_request.pk).update(
            screening_total=total,
            screening_done=F("screening_done") + outcome.contacts,
            screening_after=hi,
            screening_progress_at=timezone.now(),
            screening_summary=summaries_add(send_request.screening_summary, outcome_summary(outcome)),
        )
    return hi >= LAST_CONTACT


def _batch_decide(
    send_request: SendRequest, audience: Audience, *, at: dt.datetime, after: int, hi: int
) -> Outcome:
    """Decide the audience's contacts in (after, hi], from the first of them to the last.

    Under the stripes of those ids and of their contacts' account mates (a rule per account counts
    those), for this batch only: a trigger for anyone else does not wait for it. Not the whole range:
    the first batch's would reach down to the oldest contact, the last one's up to every id to come,
    and so take all the stripes. A contact that joins the audience meanwhile with an id outside them
    is passed over, as one behind an earlier batch always was."""
    held = audience.first_and_last(after=after, hi=hi)
    if held is None:
        return Outcome()
    first, last = held
    locks.lock_contact_range(after=first - 1, last=last)
    with connection.cursor() as cursor:
        # Compiling the statement's expressions (JIT: some 400 functions, seconds on a busy
        # machine) took longer than deciding the batch, in every batch (bench_screening).
        cursor.execute("SET LOCAL jit = off")
    return screen(
        send=screening_send(send_request, at=at),
        rules=rules_active(),
        audience=audience,
        write=True,
        window_end=send_request.latest_send_at,
        bounds=[(first - 1, last)],
    )


def outcome_summary(outcome: Outcome) -> dict:
    blocked = dict(outcome.blocked)
    if outcome.duplicates:
        blocked["duplicate_in_audience"] = outcome.duplicates
    return {
        "audience_rows": outcome.contacts + outcome.duplicates,
        "contacts": outcome.contacts,
        "allowed": outcome.allowed,
        "planned": outcome.planned_total,
        "made_way": outcome.made_way,
        "planned_by_day": {day.isoformat(): count for day, count in sorted(outcome.planned.items())},
        "blocked": blocked,
        "blocked_by_rule": {str(rule_id): count for rule_id, count in outcome.blocked_by_rule.items()},
    }


def summaries_add(first: dict, second: dict) -> dict:
    """Two screening summaries (outcome_summary) of disjoint ranges, added: counts by key."""
    added = {}
    for key in sorted(first.keys() | second.keys()):
        one, other = first.get(key), second.get(key)
        if isinstance(one, dict) or isinstance(other, dict):
            added[key] = summaries_add(one or {}, other or {})
        else:
            added[key] = (one or 0) + (other or 0)
    return added


def outcome_from_summary(summary: dict) -> Outcome:
    """The Outcome a running summary (summaries_add of the batches') stands for."""
    blocked = dict(summary.get("blocked", {}))
    duplicates = blocked.pop("duplicate_in_audience", 0)
    return Outcome(
        contacts=summary.get("contacts", 0),
        duplicates=duplicates,
        allowed=summary.get("allowed", 0),
        blocked=blocked,
        blocked_by_rule={int(rule): count for rule, count in summary.get("blocked_by_rule", {}).items()},
        planned={dt.date.fromisoformat(day): n for day, n in summary.get("planned_by_day", {}).items()},
        made_way=summary.get("made_way", 0),
    )


def screening_progress(send_request: SendRequest) -> dict | None:
    """The screening's progress as the API and the admin show it: contacts decided of the audience's;
    None before submission and for a request without an audience to screen (a trigger's)."""
    if send_request.status == Status.DRAFT or send_request.audience_kind in (
        SendRequest.AudienceKind.TRIGGER,
        SendRequest.AudienceKind.EXTERNAL,
    ):
        return None
    running = send_request.status == Status.SUBMITTED
    stopped = running or send_request.status == Status.CANCELLED
    done, total = send_request.screening_done, send_request.screening_total
    if not stopped and total is None:  # screened before screenings kept their progress
        done = total = send_request.screening_summary.get("contacts", 0)
    if not stopped:
        percent = 100
    elif total:
        # Contacts who joined the audience while it was screened are decided too: never past 100 %,
        # and 100 % only once the request is screened.
        percent = min(99 if running else 100, done * 100 // total)
    else:
        percent = 0
    return {
        "rows_done": done,
        "rows_total": total,
        "percent": percent,
        "running": running,
        "updated_at": send_request.screening_progress_at,
    }
