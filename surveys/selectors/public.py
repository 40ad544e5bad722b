"""Reads for the customer's pages: the invitation behind a personal link, its questions, and what
the contact's consent says now. The token is the only key; nothing here takes a contact id."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from contacts.consent_selectors import consent_status
from contacts.models import Channel, Identity
from surveys.models import Invitation, InvitationToken, Question, Survey
from surveys.tokens import token_hash

# Identity kinds that reach a contact on each channel.
CHANNEL_IDENTITY = {Channel.EMAIL: Identity.Kind.EMAIL, Channel.SMS: Identity.Kind.PHONE}


class LinkState(Enum):
    OPEN = "open"  # the survey may be answered
    ANSWERED = "answered"
    CLOSED = "closed"  # expired, cancelled, failed — or no such link: outsiders cannot tell which


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a personal-link token belongs to, with its survey and contact, in one query;
    None for a token nobody was given. Every public request asks this, so it stays lean: a unique
    index lookup with no ORDER BY, and the department only where a page names it."""
    try:
        found = InvitationToken.objects.select_related("invitation__survey", "invitation__contact").get(
            token_hash=token_hash(token)
        )
    except InvitationToken.DoesNotExist:
        return None
    return found.invitation


def link_state(invitation: Invitation | None, *, now: dt.datetime) -> LinkState:
    """What the survey link shows at `now`. An answered invitation stays answered after it expires."""
    if invitation is None:
        return LinkState.CLOSED
    if invitation.status == Invitation.Status.ANSWERED:
        return LinkState.ANSWERED
    if invitation.status not in Invitation.OPEN:
        return LinkState.CLOSED
    if invitation.expires_at is not None and invitation.expires_at <= now:
        return LinkState.CLOSED
    return LinkState.OPEN


def survey_questions(survey: Survey) -> Sequence[Question]:
    """The survey's questions in order. A sent survey is frozen and its questions never change
    (an edit makes the next version), so each process reads those once; the instances are shared
    between requests and must not be changed."""
    if survey.frozen_at is None:
        return list(Question.objects.filter(survey_id=survey.pk).order_by("position"))
    return _frozen_survey_questions(survey.pk)


@functools.lru_cache(maxsize=1024)
def _frozen_survey_questions(survey_id: int) -> tuple[Question, ...]:
    return tuple(Question.objects.filter(survey_id=survey_id).order_by("position"))


def contact_channels(contact_id: int) -> set[str]:
    """The channels the contact can be reached on: email with an email address, SMS with a phone."""
    kinds = set(Identity.objects.filter(contact_id=contact_id).values_list("kind", flat=True).distinct())
    return {channel for channel, kind in CHANNEL_IDENTITY.items() if kind in kinds}


@dataclass(frozen=True)
class PreferencesStatus:
    """What the preference centre says the contact has chosen, as of now."""

    unsubscribed: bool  # from every survey
    department_opted_out: bool  # from the invitation's department
    paused_until: dt.datetime | None
    blocked_channels: frozenset[str]


def preferences_status(*, invitation: Invitation, channels: set[str], now: dt.datetime) -> PreferencesStatus:
    everyone = consent_status(contact_id=invitation.contact_id, department_id=None, channel="", at=now)
    department = consent_status(
        contact_id=invitation.contact_id, department_id=invitation.department_id, channel="", at=now
    )
    blocked = frozenset(
        channel
        for channel in channels
        if consent_status(
            contact_id=invitation.contact_id, department_id=None, channel=channel, at=now
        ).reason
        == "opted_out"
    )
    return PreferencesStatus(
        unsubscribed=everyone.reason == "opted_out",
        department_opted_out=department.reason == "opted_out",
        paused_until=department.until if department.reason == "snoozed" else None,
        blocked_channels=blocked,
    )
