"""Reading what a single-contact question names: the department's survey and one of its contacts.

Shared by the eligibility API and triggers. Anything outside the asking department is "not found",
so neither a survey nor a contact id leaks from one department to another.
"""

from __future__ import annotations

import uuid
from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Q

from contacts.errors import IdentityConflict
from contacts.models import Channel, DepartmentContact, Identity
from contacts.normalise import phone_region_of
from contacts.selectors import merged_public_id
from contacts.services import IdentityInput, identities_normalise
from contacts.supplies import supplied_by, supplied_sql
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department
from surveys.errors import InvalidSendRequest
from surveys.models import Survey


def survey_for_sending(*, actor: Actor, department: Department, survey_id: int, channel: str) -> Survey:
    """The department's survey `survey_id`, if it may be sent now on `channel`.

    Raises NotFound (not the actor's department, or not this department's survey) and
    InvalidSendRequest naming the field (an old version, no questions yet, an unknown channel).
    """
    if not actor.sees_department(department.pk):
        raise NotFound(f"Department {department.slug!r} not found.", extra={"department": department.slug})
    # SQL rather than the ORM: on every trigger and eligibility call, building the ORM's query (or
    # reading a raw() query's columns) cost more than running it.
    fields = Survey._meta.concrete_fields
    columns = ", ".join(f.column for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM surveys_survey WHERE id = %s AND department_id = %s",  # noqa: S608
            [survey_id, department.pk],
        )
        row = cursor.fetchone()
    survey = Survey.from_db(connection.alias, [f.attname for f in fields], row) if row else None
    if survey is None:
        raise NotFound(f"Survey {survey_id} not found.", extra={"survey": survey_id})
    survey_sendable_check(survey)
    channel_check(channel)
    return survey


def survey_sendable_check(survey: Survey) -> None:
    """Raises InvalidSendRequest naming the survey if it cannot be sent: an old version, or no
    questions yet."""
    if not survey.is_current:
        current = Survey.objects.filter(family_id=survey.family_id, is_current=True).first()
        raise InvalidSendRequest.on_field(
            "survey",
            f"version {survey.version} is not current; send the current version.",
            current_id=current.pk if current else None,
        )
    # A frozen survey has been sent, which needed questions, and it never changes again.
    if survey.frozen_at is None and not survey.questions.exists():
        raise InvalidSendRequest.on_field("survey", "has no questions yet.")


def channel_check(channel: str) -> None:
    """Raises InvalidSendRequest naming the channel unless it is one the gatekeeper sends on."""
    if channel not in Channel.values:
        raise InvalidSendRequest.on_field("channel", f"must be one of {', '.join(Channel.values)}.")


def contact_known_id(
    *,
    department: Department,
    public_id: uuid.UUID | None = None,
    identities: list[IdentityInput] | None = None,
) -> int:
    """The id of the department's contact named by `public_id` (the API's id) or by any of
    `identities` (normalised) the department supplied itself.

    Only the department's own book counts: a person another department knows, or an identity only
    another department gave, is "not found" exactly as a person nobody knows. Raises NotFound,
    InvalidIdentity (400) and IdentityConflict (409) when the identities name two of the
    department's contacts.
    """
    if public_id is not None:
        views = DepartmentContact.objects.filter(department=department)
        contact_id = views.filter(contact__public_id=public_id).values_list("contact_id", flat=True).first()
        if contact_id is None and (merged := merged_public_id(public_id)):
            contact_id = views.filter(contact__public_id=merged).values_list("contact_id", flat=True).first()
        if contact_id is None:
            raise NotFound(f"Contact {public_id} not found.", extra={"contact": str(public_id)})
        return contact_id
    wanted = identities_normalise(identities or [], region=phone_region_of(department.phone_region) or "")
    matches = Identity.objects.filter(
        reduce(or_, (Q(kind=i.kind, source=i.source, normalised=i.normalised) for i in wanted)),
        supplied_by([department.pk]),
    )
    contact_ids = sorted(set(matches.values_list("contact_id", flat=True)))
    if not contact_ids:
        raise NotFound("No contact of this department has these identities.")
    if len(contact_ids) > 1:
        raise IdentityConflict(
            "The identities belong to two different contacts; ask about one of them.",
            extra={"identities": [i.as_extra() for i in wanted]},
        )
    return contact_ids[0]


def contact_with_every_identity(*, department: Department, identities: list[IdentityInput]) -> int | None:
    """The id of the department's contact for which the department already supplied every one of
    `identities` (normalised), or None. Upserting it by those identities alone would change nothing.
    Raises InvalidIdentity (400).
    """
    wanted = identities_normalise(identities, region=phone_region_of(department.phone_region) or "")
    # SQL rather than the ORM: this runs on every trigger, and building the ORM's query cost more
    # than running it. The join is served by Identity's unique (kind, source, normalised) index.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT i.contact_id
               FROM unnest(%(kinds)s::text[], %(sources)s::text[], %(normalised)s::text[])
                    AS w(kind, source, normalised)
               JOIN contacts_identity i
                 ON i.kind = w.kind AND i.source = w.source AND i.normalised = w.normalised
               WHERE {supplied_sql("i", "%(department)s")}
               GROUP BY i.contact_id HAVING count(*) = %(count)s""",  # noqa: S608
            {
                "kinds": [i.kind for i in wanted],
                "sources": [i.source for i in wanted],
                "normalised": [i.normalised for i in wanted],
                "department": department.pk,
                "count": len(wanted),
            },
        )
        # An identity belongs to one contact (a unique constraint), so at most one has them all.
        row = cursor.fetchone()
    return row[0] if row else None
