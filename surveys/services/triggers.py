"""Triggered sends: after a business event, an integration asks to survey one person now.

The contact is upserted by identity (contacts/services.py `contact_upsert`) and the survey is asked
for through the gatekeeper as a single-contact send request (`trigger_send`), which decides under
the contact's lock like any screening. Both happen in one transaction, so a trigger that fails
leaves neither a half-made contact nor a request behind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from contacts.models import DepartmentContact
from contacts.services import IdentityInput, contact_upsert
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department
from surveys.models import Decision, Invitation, Survey
from surveys.selectors.decisions import decision_explain
from surveys.selectors.eligibility import contact_with_every_identity
from surveys.services.send_requests import InvalidSendRequest, trigger_send

PURPOSE_MAX_LENGTH = 500  # SendRequest.purpose


@dataclass(frozen=True)
class Trigger:
    """What a trigger did: the contact it upserted, the gatekeeper's decision and, if allowed, the
    queued invitation; `explanation` is the decision in words for the asking department."""

    contact_id: int
    contact_created: bool
    decision: Decision
    invitation: Invitation | None
    explanation: str


def trigger_create(
    *,
    actor: Actor,
    department: Department,
    survey: Survey,
    channel: str,
    identities: list[IdentityInput],
    name: str | None = None,
    locale: str | None = None,
    time_zone: str | None = None,
    attributes: dict[str, Any] | None = None,
    purpose: str = "",
    now: dt.datetime | None = None,
) -> Trigger:
    """Upsert the contact and ask for `survey` to be sent to them now, in one transaction.

    Writes the contact (see contact_upsert), a single-contact send request, its decision and, if
    allowed, a queued invitation. A blocked contact is an outcome, not an error. Raises NotFound
    (not the actor's department or survey), InvalidSendRequest (purpose), InvalidIdentity and
    InvalidContact (400) and IdentityConflict (409) from the upsert.
    """
    if not actor.sees_department(department.pk) or survey.department_id != department.pk:
        raise NotFound(f"Survey {survey.pk} not found.", extra={"survey": survey.pk})
    purpose = (purpose or "").strip()
    if len(purpose) > PURPOSE_MAX_LENGTH:
        raise InvalidSendRequest(
            f"purpose: at most {PURPOSE_MAX_LENGTH} characters.", extra={"field": "purpose"}
        )
    now = now or timezone.now()
    fields = {"name": name, "locale": locale, "time_zone": time_zone, "attributes": attributes}
    # Most triggers name a contact the department already has, by identities it already has: the
    # upsert would change nothing, so it (and its identity and row locks) is skipped. The
    # gatekeeper's own lock on the contact, in trigger_send, is taken either way.
    contact_id = None
    if not any(value is not None for value in fields.values()):
        contact_id = contact_with_every_identity(department=department, identities=identities)
    # A savepoint only where there is something to roll back to: a failed upsert (a conflict, say)
    # must leave a caller's transaction usable; on the fast path any error ends the request anyway.
    with transaction.atomic(savepoint=contact_id is None):
        created = False
        if contact_id is None:
            contact, created = contact_upsert(
                actor=actor,
                department=department,
                identities=identities,
                source=DepartmentContact.Source.API,
                **fields,
            )
            contact_id = contact.pk
        result = trigger_send(
            department=department,
            survey=survey,
            channel=channel,
            contact_id=contact_id,
            purpose=purpose,
            now=now,
        )
    return Trigger(
        contact_id=contact_id,
        contact_created=created,
        decision=result.decision,
        invitation=result.invitation,
        explanation=decision_explain(result.decision, viewer=actor, now=now),
    )
