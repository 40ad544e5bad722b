"""Triggered sends: after a business event, an integration asks to survey one person now.

The contact is upserted by identity (contacts/services.py `contact_upsert`) and the survey is asked
for through the gatekeeper as a single-contact send request (`trigger_send`), which decides under
the contact's lock like any screening. Both happen in one transaction, so a trigger that fails
leaves neither a half-made contact nor a request behind.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from contacts.models import DepartmentContact
from contacts.normalise import phone_region_of
from contacts.services import IdentityInput, contact_upsert, identities_normalise
from contacts.supplies import supplied_sql
from cxfeedback.db import prepared_fetch
from cxfeedback.exceptions import NotFound
from cxfeedback.publish import publish_batched_on_commit
from departments.actors import Actor
from departments.models import Department
from surveys.gatekeeper import locks
from surveys.gatekeeper.decisions import decision_explain, next_eligible_shown
from surveys.gatekeeper.lookups import channel_check, survey_for_sending, survey_sendable_check
from surveys.gatekeeper.screening import screen_contacts
from surveys.gatekeeper.send_requests import purpose_clean, screening_send
from surveys.gatekeeper.trigger_caps import trigger_cap_spend
from surveys.models import Decision, Invitation, SendRequest, Survey


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
        locks.lock_contacts([contact_id])  # lock order 4, after the upsert's 1 and 2: see locks.py
        # The request (with its summary), decision and invitation are written by one statement.
        written = screen_contacts(
            send=screening_send(send_request, at=now), contact_ids=[contact_id], request=send_request
        )
        if not written:  # callers name a contact by its public id: the error does not show the pk
            raise NotFound("Contact not found.")
        [(decision, invitation)] = written
        if survey.frozen_at is None:
            Survey.objects.filter(pk=survey.pk, frozen_at__isnull=True).update(frozen_at=now)
        if invitation is not None:
            # Sent promptly, once committed, in one message with the other triggers' invitations of
            # the moment; the sweeper hands it over again if the message is lost.
            from surveys.tasks import send_invitations_task

            publish_batched_on_commit(send_invitations_task, invitation.pk)
    decision.send_request = send_request
    return TriggerResult(send_request=send_request, decision=decision, invitation=invitation)


Status = SendRequest.Status


@dataclass(frozen=True)
class Trigger:
    """What a trigger did: the contact it upserted, the gatekeeper's decision and, if allowed, the
    queued invitation; `explanation` and `next_eligible_at` are the decision as the asking
    department is shown it (the time to the hour, see surveys/gatekeeper/decisions.py)."""

    contact_id: int
    contact_public_id: uuid.UUID
    contact_time_zone: str  # the zone delivery uses for them ("" for the site's): see planned_times.py
    contact_created: bool
    decision: Decision
    invitation: Invitation | None
    explanation: str
    next_eligible_at: dt.datetime | None


def trigger_create(
    *,
    actor: Actor,
    department: Department,
    survey_id: int,
    channel: str,
    identities: list[IdentityInput],
    name: str | None = None,
    locale: str | None = None,
    time_zone: str | None = None,
    attributes: dict[str, Any] | None = None,
    purpose: str = "",
    now: dt.datetime | None = None,
) -> Trigger:
    """Upsert the contact and ask for the department's survey `survey_id` to be sent to them now.

    Writes the contact (see contact_upsert), a single-contact send request, its decision and, if
    allowed, a queued invitation. A blocked contact is an outcome, not an error. Raises NotFound,
    InvalidSendRequest (purpose, or a survey that cannot be sent now), InvalidIdentity and
    InvalidContact (400) and IdentityConflict (409) from the upsert, TriggerCapReached (429)."""
    purpose = purpose_clean(purpose)
    now = now or timezone.now()
    fields = {"name": name, "locale": locale, "time_zone": time_zone, "attributes": attributes}
    survey, known = _survey_and_known_contact(actor, department, survey_id, channel, identities, fields)
    # A savepoint only where there is something to roll back to: a failed upsert (a conflict, say)
    # must leave a caller's transaction usable; on the fast path any error ends the request anyway.
    with transaction.atomic(savepoint=known is None):
        trigger_cap_spend(department=department, now=now)  # never held for approval: capped
        created = False
        if known is None:
            contact_id, created = _trigger_contact_upsert(actor, department, identities, fields)
            known = _contact_card(contact_id, department)
        result = trigger_send(
            department=department,
            survey=survey,
            channel=channel,
            contact_id=known.contact_id,
            purpose=purpose,
            now=now,
        )
    return Trigger(
        contact_id=known.contact_id,
        contact_public_id=known.public_id,
        contact_time_zone=known.time_zone,
        contact_created=created,
        decision=result.decision,
        invitation=result.invitation,
        explanation=decision_explain(result.decision, viewer=actor, now=now),
        next_eligible_at=next_eligible_shown(result.decision.next_eligible_at, viewer=actor),
    )


def contact_public_id(contact_id: int) -> uuid.UUID:
    """The id the API shows for contact `contact_id` (Contact.public_id), the primary key never."""
    # SQL rather than the ORM: it runs on every trigger, where building the ORM's query costs more
    # than running it (as in surveys/gatekeeper/lookups.py).
    with connection.cursor() as cursor:
        cursor.execute("SELECT public_id FROM contacts_contact WHERE id = %s", [contact_id])
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class _ContactCard:
    """What a trigger shows of its contact: the id it decides on, the public id it answers with and
    the zone its planned time is read in."""

    contact_id: int
    public_id: uuid.UUID
    time_zone: str


# The zone as delivery reads it (surveys/delivery/planned_times.py `contact_time_zone`): the
# department's view of the person, else the person's own; "" (the site's) without a view.
_CARD_COLUMNS = """c.id, c.public_id,
    CASE WHEN dc.id IS NULL THEN '' ELSE coalesce(nullif(dc.time_zone, ''), c.time_zone, '') END"""
_CARD_JOIN = """JOIN contacts_contact c ON c.id = m.contact_id
    LEFT JOIN contacts_departmentcontact dc
      ON dc.contact_id = m.contact_id AND dc.department_id = %(department)s"""


# The survey, and the contact with every one of the identities. The join is served by Identity's
# unique (kind, source, normalised) index; an identity belongs to one contact (a unique
# constraint), so at most one has them all.
SURVEY_AND_CONTACT_SQL = f"""SELECT {{survey_columns}}, card.*
    FROM surveys_survey s LEFT JOIN LATERAL (
      WITH m AS (
        SELECT i.contact_id
        FROM {{identities}} AS w(kind, source, normalised)
        JOIN contacts_identity i ON i.kind = w.kind AND i.source = w.source AND i.normalised = w.normalised
        WHERE {supplied_sql("i", "%(department)s")}
        GROUP BY i.contact_id HAVING count(*) = %(count)s)
      SELECT {_CARD_COLUMNS} FROM m {_CARD_JOIN}) card ON true
    WHERE s.id = %(survey)s AND s.department_id = %(department)s"""  # noqa: S608 -- constants, no input
# Most triggers name one identity: given as plain parameters rather than arrays of one, PostgreSQL
# plans the statement once per connection (prepared_fetch), where arrays had it planned on every call.
IDENTITIES_SQL = "unnest(%(kinds)s::text[], %(sources)s::text[], %(normalised)s::text[])"
ONE_IDENTITY_SQL = "(VALUES (%(kind)s::text, %(source)s::text, %(normalised_one)s::text))"


def _survey_and_known_contact(
    actor: Actor,
    department: Department,
    survey_id: int,
    channel: str,
    identities: list[IdentityInput],
    fields: dict[str, Any],
) -> tuple[Survey, _ContactCard | None]:
    """The department's survey `survey_id`, checked as lookups.py `survey_for_sending` checks it,
    and its contact with every one of these identities if the trigger changes nothing else about
    them, else None: the upsert runs. Raises NotFound, InvalidSendRequest and InvalidIdentity (400).

    Most triggers name a contact the department already has by identities it already has: the
    upsert (and its locks) is skipped; trigger_send's lock on the contact is taken either way. One
    statement reads the survey, the contact (as lookups.py `contact_with_every_identity` finds it),
    its public id and zone: this runs on every trigger."""
    if any(value is not None for value in fields.values()):
        return survey_for_sending(
            actor=actor, department=department, survey_id=survey_id, channel=channel
        ), None
    if not actor.sees_department(department.pk):
        raise NotFound(f"Department {department.slug!r} not found.", extra={"department": department.slug})
    wanted = identities_normalise(identities, region=phone_region_of(department.phone_region) or "")
    survey_fields = Survey._meta.concrete_fields
    params = {"department": department.pk, "count": len(wanted), "survey": survey_id}
    if len(wanted) == 1:
        [one] = wanted
        identities_sql = ONE_IDENTITY_SQL
        params.update(kind=one.kind, source=one.source, normalised_one=one.normalised)
    else:
        identities_sql = IDENTITIES_SQL
        params.update(
            kinds=[i.kind for i in wanted],
            sources=[i.source for i in wanted],
            normalised=[i.normalised for i in wanted],
        )
    survey_columns = ", ".join(f"s.{f.column}" for f in survey_fields)
    rows = prepared_fetch(
        SURVEY_AND_CONTACT_SQL.format(survey_columns=survey_columns, identities=identities_sql), params
    )
    if not rows:
        raise NotFound(f"Survey {survey_id} not found.", extra={"survey": survey_id})
    [row] = rows
    width = len(survey_fields)
    survey = Survey.from_db(connection.alias, [f.attname for f in survey_fields], row[:width])
    survey_sendable_check(survey)
    channel_check(channel)
    card = row[width:]
    return survey, (_ContactCard(*card) if card[0] is not None else None)


def _contact_card(contact_id: int, department: Department) -> _ContactCard:
    """The card of a contact the trigger has just upserted."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_CARD_COLUMNS} FROM (SELECT %(contact)s::bigint AS contact_id) m {_CARD_JOIN}",  # noqa: S608
            {"contact": contact_id, "department": department.pk},
        )
        return _ContactCard(*cursor.fetchone())


def _trigger_contact_upsert(
    actor: Actor, department: Department, identities: list[IdentityInput], fields: dict[str, Any]
) -> tuple[int, bool]:
    """The trigger's contact, upserted through the API's source: (its id, whether it is new to the
    department)."""
    view, created = contact_upsert(
        actor=actor,
        department=department,
        identities=identities,
        source=DepartmentContact.Source.API,
        **fields,
    )
    return view.contact_id, created
