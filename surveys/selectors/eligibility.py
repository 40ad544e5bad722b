"""Reading what a single-contact question names: the department's survey and one of its contacts.

Shared by the eligibility API and triggers. Anything outside the asking department is "not found",
so neither a survey nor a contact id leaks from one department to another.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Exists, OuterRef, Q

from contacts.models import Channel, DepartmentContact, Identity
from contacts.services import IdentityConflict, IdentityInput, identities_normalise
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department
from surveys.models import Question, Survey
from surveys.services.send_requests import InvalidSendRequest


def survey_for_sending(*, actor: Actor, department: Department, survey_id: int, channel: str) -> Survey:
    """The department's survey `survey_id`, if it may be sent now on `channel`.

    Raises NotFound (not the actor's department, or not this department's survey) and
    InvalidSendRequest naming the field (an old version, no questions yet, an unknown channel).
    """
    if not actor.sees_department(department.pk):
        raise NotFound(f"Department {department.slug!r} not found.", extra={"department": department.slug})
    # One query: the survey with whether it has questions, which a trigger checks on every call.
    survey = (
        Survey.objects.filter(pk=survey_id, department=department)
        .annotate(has_questions=Exists(Question.objects.filter(survey=OuterRef("pk"))))
        .first()
    )
    if survey is None:
        raise NotFound(f"Survey {survey_id} not found.", extra={"survey": survey_id})
    if not survey.is_current:
        current = Survey.objects.filter(family_id=survey.family_id, is_current=True).first()
        raise InvalidSendRequest(
            f"survey: version {survey.version} is not current; send the current version.",
            extra={"field": "survey", "current_id": current.pk if current else None},
        )
    if not survey.has_questions:
        raise InvalidSendRequest("survey: has no questions yet.", extra={"field": "survey"})
    if channel not in Channel.values:
        raise InvalidSendRequest(
            f"channel: must be one of {', '.join(Channel.values)}.", extra={"field": "channel"}
        )
    return survey


def contact_known_id(
    *, department: Department, contact_id: int | None = None, identities: list[IdentityInput] | None = None
) -> int:
    """The id of the department's contact named by `contact_id` or by any of `identities` (normalised).

    Only contacts the department knows count. Raises NotFound, InvalidIdentity (400) and
    IdentityConflict (409) when the identities name two of the department's contacts.
    """
    known = DepartmentContact.objects.filter(department=department)
    if contact_id is not None:
        if not known.filter(contact_id=contact_id).exists():
            raise NotFound(f"Contact {contact_id} not found.", extra={"contact": contact_id})
        return contact_id
    wanted = identities_normalise(identities or [])
    matches = Identity.objects.filter(
        reduce(or_, (Q(kind=i.kind, source=i.source, normalised=i.normalised) for i in wanted)),
        Exists(known.filter(contact_id=OuterRef("contact_id"))),
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
