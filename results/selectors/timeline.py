"""One person's history with the company, in time order: every invitation, gatekeeper decision,
response, consent change and follow-up, across departments.

A CX lead sees all of it. A department owner sees their own departments' part, consent records
that concern them (every-department ones and their own, as the contact book shows), and — for each
counted touch by another department — only "Contacted by another department" and the hour: no
survey, no department, no channel, no answer, no minute (PRODUCT.md §4.4, the wording of
surveys/gatekeeper/decisions.py). The person is shown through the department's own view: the
identities it supplied, never another department's.
Other departments' decisions, responses and follow-ups are left out: a decision reached nobody, and a
response is already implied by the touch it answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone

from contacts.models import Consent, Contact
from contacts.selectors import consent_list, contact_get
from departments.actors import Actor
from results.selectors.followups import follow_ups_visible
from results.selectors.responses import answer_display
from surveys.gatekeeper.decisions import decision_explain
from surveys.models import Answer, Decision, Invitation, Response

# Within the same instant, the causal order: decided, invited, answered, followed up.
KIND_ORDER = {"consent": 0, "decision": 1, "invitation": 2, "elsewhere": 2, "response": 3, "follow_up": 4}


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str  # one of KIND_ORDER
    title: str
    detail: str = ""
    # The department it belongs to; empty for every-department consent and another department's touch.
    department: str = ""
    # A response's answers as (question, value) pairs, in question order.
    answers: list[tuple[str, str | int]] = field(default_factory=list)
    follow_up_id: int | None = None


@dataclass(frozen=True)
class Timeline:
    contact: Contact
    entries: list[TimelineEntry]


def contact_timeline(*, actor: Actor, contact_id: int, now: dt.datetime | None = None) -> Timeline:
    """The contact's history as the actor may see it, oldest first. Raises NotFound for a contact
    the actor's departments do not know (contacts.selectors.contact_get). Seven queries."""
    contact = contact_get(actor=actor, contact_id=contact_id)
    now = now or timezone.now()
    entries = [
        *_invitations(actor, contact),
        *_touches_elsewhere(actor, contact, now=now),
        *_decisions(actor, contact),
        *_responses(actor, contact),
        *_consents(actor, contact),
        *_follow_ups(actor, contact),
    ]
    entries.sort(key=lambda entry: (entry.at, KIND_ORDER[entry.kind]))
    return Timeline(contact=contact, entries=entries)


def _own(actor: Actor, queryset, department_path: str):
    if actor.is_cx_lead:
        return queryset
    return queryset.filter(**{f"{department_path}__in": actor.department_ids})


def _invitations(actor: Actor, contact: Contact) -> list[TimelineEntry]:
    invitations = _own(actor, Invitation.objects.filter(contact=contact), "department_id").select_related(
        "survey", "department"
    )
    return [
        TimelineEntry(
            at=invitation.sent_at or invitation.touched_at,
            kind="invitation",
            title=f"Invited to “{invitation.survey}” by {invitation.get_channel_display().lower()}",
            detail=f"Status: {invitation.get_status_display().lower()}",
            department=invitation.department.name,
        )
        for invitation in invitations
    ]


def _touches_elsewhere(actor: Actor, contact: Contact, *, now: dt.datetime) -> list[TimelineEntry]:
    """Another department's counted touches, as times only: nothing else is even read."""
    if actor.is_cx_lead:
        return []
    moments = (
        Invitation.objects.filter(contact=contact)
        .exclude(department_id__in=actor.department_ids)
        .exclude(status__in=Invitation.NOT_COUNTED)
        # To the hour: minutes would tie a department's contacts to one of another's send requests.
        .annotate(at=Trunc(Coalesce("sent_at", "touched_at"), "hour", tzinfo=dt.UTC))
        .values_list("at", flat=True)
    )
    return [
        TimelineEntry(
            at=at,
            kind="elsewhere",
            title="Contacted by another department" if at <= now else "Survey planned by another department",
        )
        for at in moments
    ]


def _decisions(actor: Actor, contact: Contact) -> list[TimelineEntry]:
    decisions = _own(actor, Decision.objects.filter(contact=contact), "send_request__department_id")
    decisions = decisions.select_related("send_request__survey", "send_request__department", "rule")
    return [
        TimelineEntry(
            at=decision.decided_at,
            kind="decision",
            title=f"{'Allowed' if decision.allowed else 'Blocked'}: “{decision.send_request.survey}”",
            detail=decision_explain(decision, viewer=actor),
            department=decision.send_request.department.name,
        )
        for decision in decisions
    ]


def _responses(actor: Actor, contact: Contact) -> list[TimelineEntry]:
    answers = Answer.objects.select_related("question").order_by("question__position", "pk")
    responses = (
        _own(actor, Response.objects.filter(contact=contact), "department_id")
        .select_related("survey", "department")
        .prefetch_related(Prefetch("answers", queryset=answers))
    )
    return [
        TimelineEntry(
            at=response.submitted_at,
            kind="response",
            title=f"Answered “{response.survey}”",
            detail=f"By {response.get_channel_display().lower()}",
            department=response.department.name,
            answers=[(answer.question.text, answer_display(answer)) for answer in response.answers.all()],
        )
        for response in responses
    ]


def _consents(actor: Actor, contact: Contact) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            at=consent.created_at,
            kind="consent",
            title=_consent_title(consent),
            detail=f"Source: {consent.get_source_display().lower()}",
            department=consent.department.name if consent.department_id else "",
        )
        for consent in consent_list(actor=actor, contact=contact)
    ]


def _consent_title(consent: Consent) -> str:
    scope = consent.scope_label
    if consent.kind == Consent.Kind.SNOOZE:
        return f"Snoozed until {timezone.localtime(consent.until):%-d %b %Y} ({scope})"
    return f"{consent.get_kind_display()} ({scope})"


def _follow_ups(actor: Actor, contact: Contact) -> list[TimelineEntry]:
    follow_ups = follow_ups_visible(actor=actor).filter(contact=contact).select_related("department")
    return [
        TimelineEntry(
            at=follow_up.created_at,
            kind="follow_up",
            title=f"Follow-up opened ({follow_up.get_status_display().lower()} now)",
            detail=follow_up.note,
            department=follow_up.department.name,
            follow_up_id=follow_up.pk,
        )
        for follow_up in follow_ups
    ]
