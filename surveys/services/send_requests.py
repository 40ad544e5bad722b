"""Send requests: create, pre-flight, submit, screen, cancel — and single-contact triggers.

Every state change goes through `send_request_transition`, a conditional UPDATE on the allowed
transitions, so two callers racing on one request cannot both move it.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from contacts.importing import ContactImportResult, contact_import_run
from contacts.models import Channel
from cxfeedback.exceptions import ApplicationError, Conflict, NotFound
from departments.actors import Actor
from departments.models import Department
from surveys import screening
from surveys.models import AudienceMember, Decision, Invitation, SendRequest, Survey
from surveys.selectors.rules import rules_active

Status = SendRequest.Status

TRANSITIONS: dict[str, set[str]] = {
    Status.DRAFT: {Status.SUBMITTED, Status.CANCELLED},
    Status.SUBMITTED: {Status.SCREENED, Status.CANCELLED},
    Status.SCREENED: {Status.SENDING, Status.COMPLETED, Status.CANCELLED},
    Status.SENDING: {Status.COMPLETED, Status.CANCELLED},
    Status.COMPLETED: set(),
    Status.CANCELLED: set(),
}


class InvalidStatusTransition(Conflict):
    code = "invalid_status_transition"


class SendWindowClosed(ApplicationError):
    code = "send_window_closed"


def send_request_transition(*, send_request: SendRequest, to: str, **fields) -> None:
    """Move a request to status `to` if it may go there from where it is now.

    Raises InvalidStatusTransition if the move is not allowed, or if another caller moved the
    request first (the UPDATE matches only the status this caller saw).
    """
    current = send_request.status
    if to not in TRANSITIONS[current]:
        raise InvalidStatusTransition(
            f"A {current} send request cannot become {to}.", extra={"status": current, "to": to}
        )
    updated = SendRequest.objects.filter(pk=send_request.pk, status=current).update(status=to, **fields)
    if not updated:
        send_request.refresh_from_db(fields=["status"])
        raise InvalidStatusTransition(
            f"The send request changed to {send_request.status} meanwhile.",
            extra={"status": send_request.status, "to": to},
        )
    send_request.status = to
    for name, value in fields.items():
        setattr(send_request, name, value)


def planned_send_at(send_request: SendRequest, *, now: dt.datetime) -> dt.datetime:
    """When the invitations of this request would go out: now, or the window's start if later."""
    if send_request.latest_send_at is not None and send_request.latest_send_at < now:
        raise SendWindowClosed(
            "The request's latest send time has passed.",
            extra={"latest_send_at": send_request.latest_send_at.isoformat()},
        )
    return max(now, send_request.earliest_send_at)


def screening_send(send_request: SendRequest, *, at: dt.datetime) -> screening.Send:
    survey = send_request.survey
    return screening.Send(
        send_request_id=send_request.pk,
        department_id=send_request.department_id,
        survey_id=survey.pk,
        survey_family_id=survey.family_id,
        survey_kind=survey.kind,
        channel=send_request.channel,
        at=at,
    )


def audience_of(send_request: SendRequest) -> screening.Audience:
    kind = send_request.audience_kind
    if kind in (SendRequest.AudienceKind.UPLOAD, SendRequest.AudienceKind.TRIGGER):
        return screening.Audience(send_request_id=send_request.pk)
    if kind == SendRequest.AudienceKind.FILTER:
        return screening.Audience(
            department_id=send_request.department_id, attributes=send_request.audience_filter or {}
        )
    return screening.Audience(department_id=send_request.department_id)


@dataclass(frozen=True)
class PreflightReport:
    planned_send_at: dt.datetime
    outcome: screening.Outcome
    best_send_at: dt.datetime

    @property
    def audience_rows(self) -> int:
        return self.outcome.contacts + self.outcome.duplicates


def send_request_preflight(*, send_request: SendRequest, now: dt.datetime | None = None) -> PreflightReport:
    """What submitting would do, now. Reads only; reserves and writes nothing."""
    now = now or timezone.now()
    at = planned_send_at(send_request, now=now)
    outcome = screening.screen(
        send=screening_send(send_request, at=at),
        rules=rules_active(),
        audience=audience_of(send_request),
        write=False,
        window_end=send_request.latest_send_at or at,
    )
    return PreflightReport(
        planned_send_at=at, outcome=outcome, best_send_at=_best_send_at(send_request, at, outcome)
    )


def _best_send_at(send_request: SendRequest, at: dt.datetime, outcome: screening.Outcome) -> dt.datetime:
    """The earliest time in the request's window that reaches the most contacts.

    Time-based blocks only ever end, so the most contacts are eligible at the window's end, and the
    earliest time reaching as many is when the last block ending inside the window ends.
    """
    if outcome.last_block_end_in_window is None:
        return at
    return max(at, outcome.last_block_end_in_window)


@transaction.atomic
def send_request_submit(
    *, send_request: SendRequest, actor: Actor, now: dt.datetime | None = None
) -> SendRequest:
    """Submit a draft: freeze its survey and queue the screening (after commit).

    Raises InvalidStatusTransition unless the request is a draft, SendWindowClosed if its window
    has passed.
    """
    now = now or timezone.now()
    planned_send_at(send_request, now=now)
    send_request_transition(send_request=send_request, to=Status.SUBMITTED, submitted_at=now)
    Survey.objects.filter(pk=send_request.survey_id, frozen_at__isnull=True).update(frozen_at=now)
    from surveys.tasks import screen_send_request_task

    publish_on_commit(screen_send_request_task, send_request.pk)
    return send_request


def publish_on_commit(task, *args) -> None:
    """Queue `task` once the transaction commits. A broker that is down then must not turn what was
    committed into a 500 the client would retry: the work is in the database, and the sweeper hands
    it over again (`send_requests_screen_again`, and delivery's DELIVERY_HANDOFF_LEASE), so the
    failure is logged and the caller answered."""

    def publish() -> None:  # a function, not a partial: Django names it when it logs the failure
        task.delay(*args)

    transaction.on_commit(publish, robust=True)


def send_request_screen(*, send_request_id: int, now: dt.datetime | None = None) -> SendRequest | None:
    """Decide every contact of a submitted request and queue invitations for the allowed ones.

    All or nothing in one transaction: a crash or a cut connection leaves the request submitted
    with no decision written, ready to be screened again. Returns None if the request is not
    (or no longer) waiting for screening, so a repeated task does nothing.
    """
    with transaction.atomic():
        send_request = (
            # Only the request's row: locking its survey too (select_related would) before the
            # contacts' stripes deadlocks with a trigger that holds a stripe and freezes the survey.
            SendRequest.objects.select_for_update(of=("self",))
            .select_related("survey")
            .filter(pk=send_request_id)
            .first()
        )
        if send_request is None or send_request.status != Status.SUBMITTED:
            return None
        now = now or timezone.now()
        at = max(now, send_request.earliest_send_at)
        screening.lock_contacts(None)
        outcome = screening.screen(
            send=screening_send(send_request, at=at),
            rules=rules_active(),
            audience=audience_of(send_request),
            write=True,
        )
        send_request_transition(
            send_request=send_request,
            to=Status.SCREENED,
            screened_at=timezone.now(),
            screening_summary=outcome_summary(outcome),
        )
    return send_request


def send_requests_screen_again(*, now: dt.datetime | None = None) -> list[int]:
    """Queue the screening again of requests submitted more than DELIVERY_HANDOFF_LEASE ago and still
    waiting for it: their task was lost (the broker was down at submit, or a worker died holding a
    message of a broker without acknowledgements). A repeated screening does nothing. Returns their ids.
    """
    now = now or timezone.now()
    waiting = SendRequest.objects.filter(
        status=Status.SUBMITTED,
        submitted_at__lt=now - dt.timedelta(seconds=settings.DELIVERY_HANDOFF_LEASE),
    ).values_list("pk", flat=True)
    from surveys.tasks import screen_send_request_task

    ids = list(waiting)
    for send_request_id in ids:
        screen_send_request_task.delay(send_request_id)
    return ids


def outcome_summary(outcome: screening.Outcome) -> dict:
    blocked = dict(outcome.blocked)
    if outcome.duplicates:
        blocked["duplicate_in_audience"] = outcome.duplicates
    return {
        "audience_rows": outcome.contacts + outcome.duplicates,
        "contacts": outcome.contacts,
        "allowed": outcome.allowed,
        "blocked": blocked,
        "blocked_by_rule": {str(rule_id): count for rule_id, count in outcome.blocked_by_rule.items()},
    }


@transaction.atomic
def send_request_cancel(
    *, send_request: SendRequest, actor: Actor, now: dt.datetime | None = None
) -> SendRequest:
    """Cancel a request and its invitations not yet sent (they stop counting as touches).

    Raises InvalidStatusTransition if the request is completed or cancelled already.
    """
    now = now or timezone.now()
    send_request_transition(send_request=send_request, to=Status.CANCELLED, cancelled_at=now)
    Invitation.objects.filter(send_request=send_request, status=Invitation.Status.QUEUED).update(
        status=Invitation.Status.CANCELLED, updated_at=now
    )
    return send_request


@dataclass(frozen=True)
class TriggerResult:
    send_request: SendRequest
    decision: Decision
    invitation: Invitation | None


def trigger_send(
    *,
    department: Department,
    survey: Survey,
    channel: str,
    contact_id: int,
    purpose: str = "",
    now: dt.datetime | None = None,
) -> TriggerResult:
    """Ask the gatekeeper to send one survey to one contact now, as a single-contact request.

    Writes the request, its decision and (if allowed) a queued invitation in one transaction,
    under the contact's lock. A blocked contact is an outcome (the decision), not an error.
    Raises NotFound if the contact does not exist. Inside a caller's transaction it takes no
    savepoint (two round trips on the trigger API's hot path): an error dooms that transaction.
    """
    now = now or timezone.now()
    with transaction.atomic(savepoint=False):
        send_request = SendRequest(
            department=department,
            survey=survey,
            channel=channel,
            audience_kind=SendRequest.AudienceKind.TRIGGER,
            earliest_send_at=now,
            purpose=purpose,
            status=Status.SCREENED,
            submitted_at=now,
            screened_at=now,
        )
        screening.lock_contacts([contact_id])
        # The request (with its summary), decision and invitation are written by one statement.
        written = screening.screen_contacts(
            send=screening_send(send_request, at=now), contact_ids=[contact_id], request=send_request
        )
        if not written:
            raise NotFound(f"Contact {contact_id} not found.", extra={"contact": contact_id})
        [(decision, invitation)] = written
        if survey.frozen_at is None:
            Survey.objects.filter(pk=survey.pk, frozen_at__isnull=True).update(frozen_at=now)
        if invitation is not None:
            # Sent promptly, once committed; the beat dispatch hands it over if this task is lost.
            from surveys.tasks import send_invitations_task

            publish_on_commit(send_invitations_task, [invitation.pk])
    decision.send_request = send_request
    return TriggerResult(send_request=send_request, decision=decision, invitation=invitation)


class InvalidSendRequest(ApplicationError):
    """A send request that cannot be made as asked; `extra["field"]` names the field."""

    code = "invalid_send_request"


class AudienceLocked(Conflict):
    """The audience of a submitted (or cancelled) request is what was screened: it no longer changes."""

    code = "audience_locked"


# Audiences a department asks for; a TRIGGER request is made only by trigger_send.
REQUESTABLE_AUDIENCES = (
    SendRequest.AudienceKind.UPLOAD,
    SendRequest.AudienceKind.FILTER,
    SendRequest.AudienceKind.ALL_KNOWN,
)
# Rows of an uploaded audience written per INSERT.
AUDIENCE_BATCH_ROWS = 5000


def _invalid(field: str, problem: str, **extra: Any) -> InvalidSendRequest:
    return InvalidSendRequest(f"{field}: {problem}", extra={"field": field, **extra})


def send_request_create(
    *,
    actor: Actor,
    department: Department,
    survey: Survey,
    channel: str,
    audience_kind: str,
    audience_filter: dict | None = None,
    earliest_send_at: dt.datetime | None = None,
    latest_send_at: dt.datetime | None = None,
    priority: int = 5,
    purpose: str = "",
    now: dt.datetime | None = None,
) -> SendRequest:
    """Create a draft send request; nothing is reserved until it is submitted.

    Raises NotFound (not the actor's department) and InvalidSendRequest naming the field.
    """
    if not actor.sees_department(department.pk):
        raise NotFound("No such department.")
    now = now or timezone.now()
    _survey_check(survey, department=department)
    if channel not in Channel.values:
        raise _invalid("channel", f"must be one of {', '.join(Channel.values)}.")
    audience_filter = _audience_check(audience_kind, audience_filter)
    earliest_send_at = earliest_send_at or now
    if latest_send_at is not None and latest_send_at < earliest_send_at:
        raise _invalid("latest_send_at", "must not be before earliest_send_at.")
    if latest_send_at is not None and latest_send_at <= now:
        raise _invalid("latest_send_at", "is in the past: nothing could be sent any more.")
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 10:
        raise _invalid("priority", "must be a whole number from 0 to 10.")
    purpose = (purpose or "").strip()
    if len(purpose) > 500:
        raise _invalid("purpose", "at most 500 characters.")
    return SendRequest.objects.create(
        department=department,
        survey=survey,
        channel=channel,
        audience_kind=audience_kind,
        audience_filter=audience_filter,
        earliest_send_at=earliest_send_at,
        latest_send_at=latest_send_at,
        priority=priority,
        purpose=purpose,
        created_by_id=actor.user_id,
        created_at=now,
    )


def _survey_check(survey: Survey, *, department: Department) -> None:
    if survey.department_id != department.pk:
        raise _invalid("survey", "is not a survey of this department.")
    if not survey.is_current:
        current = Survey.objects.filter(family_id=survey.family_id, is_current=True).first()
        raise _invalid(
            "survey",
            f"version {survey.version} is not current; send the current version.",
            current_id=current.pk if current else None,
        )
    if not survey.questions.exists():
        raise _invalid("survey", "has no questions yet.")


def _audience_check(audience_kind: str, audience_filter: Any) -> dict:
    """The filter to store: a flat JSON object for FILTER audiences, {} for the others."""
    if audience_kind not in REQUESTABLE_AUDIENCES:
        raise _invalid("audience_kind", f"must be one of {', '.join(REQUESTABLE_AUDIENCES)}.")
    if audience_kind != SendRequest.AudienceKind.FILTER:
        if audience_filter:
            raise _invalid("audience_filter", "only an audience of kind filter has a filter.")
        return {}
    if not isinstance(audience_filter, dict) or not audience_filter:
        raise _invalid("audience_filter", 'give the attributes to match as an object, e.g. {"tier": "gold"}.')
    for key, value in audience_filter.items():
        # Flat: the audience is `attributes @> filter`, and nested objects would match in surprising ways.
        if not key or (value is not None and not isinstance(value, str | int | float | bool)):
            raise _invalid("audience_filter", f"{key!r}: each value must be a text, number or true/false.")
    return audience_filter


@dataclass(frozen=True)
class AudienceUpload:
    send_request: SendRequest
    members: int  # audience rows written: one per imported row that names a contact
    contact_import: ContactImportResult  # its counts and issues say which rows were left out


def send_request_set_audience_upload(
    *, actor: Actor, send_request: SendRequest, file: BinaryIO, filename: str = ""
) -> AudienceUpload:
    """Import a contacts CSV into the request's department and make its rows the request's audience,
    replacing any earlier upload. Rows the import leaves out (invalid, conflicts) are not in it.

    Writes contacts (the import), a ContactImport and AudienceMember rows. Raises NotFound,
    InvalidSendRequest (not an uploaded-list audience), AudienceLocked (not a draft),
    ImportFileRejected and ContactImportFailed (no audience written).
    """
    if not actor.sees_department(send_request.department_id):
        raise NotFound(f"Send request {send_request.pk} not found.")
    if send_request.audience_kind != SendRequest.AudienceKind.UPLOAD:
        raise _invalid("audience_kind", "only a request with an uploaded list takes a file.")
    if send_request.status != Status.DRAFT:
        raise AudienceLocked(f"The audience of a {send_request.status} request cannot change.")
    # The import reports each row's contact; a spooled file keeps memory flat for large lists.
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", newline="", encoding="utf-8") as report:
        result = contact_import_run(
            department=send_request.department,
            file=getattr(file, "file", file),
            actor=actor,
            filename=filename or getattr(file, "name", "") or "",
            report=report,
        )
        report.seek(0)
        with transaction.atomic():
            # Against a submit in the meantime: the screening must read the audience it was shown.
            locked = SendRequest.objects.select_for_update().get(pk=send_request.pk)
            if locked.status != Status.DRAFT:
                raise AudienceLocked(f"The audience of a {locked.status} request cannot change.")
            AudienceMember.objects.filter(send_request=locked).delete()
            members = _audience_write(locked, _report_contacts(report))
    return AudienceUpload(send_request=locked, members=members, contact_import=result)


def _report_contacts(report) -> Iterator[tuple[int, int]]:
    """(row number, contact id) of every imported row, read back from the import's per-row report."""
    reader = csv.reader(report)
    header = next(reader)
    row_at, contact_at = header.index("row"), header.index("contact_id")
    for record in reader:
        if record[contact_at]:
            yield int(record[row_at]), int(record[contact_at])


def _audience_write(send_request: SendRequest, rows: Iterator[tuple[int, int]]) -> int:
    written = 0
    batch: list[AudienceMember] = []
    for row_number, contact_id in rows:
        batch.append(AudienceMember(send_request=send_request, contact_id=contact_id, row_number=row_number))
        if len(batch) >= AUDIENCE_BATCH_ROWS:
            written += len(AudienceMember.objects.bulk_create(batch))
            batch = []
    if batch:
        written += len(AudienceMember.objects.bulk_create(batch))
    return written
