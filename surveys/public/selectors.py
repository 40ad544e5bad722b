"""Reads for the customer's pages: the invitation behind a personal link, its questions, and what
the contact's consent says now. The token is the only key; nothing here takes a contact id."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from django.db import connection
from django.db.models import Model

from contacts.consent_selectors import consent_status
from contacts.models import CHANNEL_IDENTITY_KIND, Contact, Identity
from departments.models import CompanySettings, Department
from surveys.delivery.tokens import token_hash
from surveys.models import Invitation, InvitationToken, Question, Survey

# Identity kinds that reach a contact on each channel.


class LinkState(Enum):
    OPEN = "open"  # the survey may be answered
    ANSWERED = "answered"
    CLOSED = "closed"  # expired, cancelled, failed — or no such link: outsiders cannot tell which


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a personal-link token belongs to, with its survey and contact, in one query;
    None for a token nobody was given.

    Every public request starts here, so the statement is written once (`_token_sql`) instead of
    compiled by the ORM each time, which cost eight times the query itself. The instances are
    ordinary ones built with `from_db`: a column left out (one that needs converting, such as JSON)
    is deferred and loads on first use.
    """
    sql, parts = _token_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [token_hash(token)])
        row = cursor.fetchone()
    if row is None:
        return None
    instances, start = [], 0
    for model, attnames in parts:
        instances.append(model.from_db(connection.alias, attnames, row[start : start + len(attnames)]))
        start += len(attnames)
    invitation, survey, contact = instances
    invitation.survey, invitation.contact = survey, contact
    return invitation


@functools.cache
def _token_sql() -> tuple[str, list[tuple[type[Model], list[str]]]]:
    """The token lookup's SELECT (token → invitation → survey, contact) and, per model, its columns."""
    parts, columns = [], []
    for model, alias in ((Invitation, "i"), (Survey, "s"), (Contact, "c")):
        fields = [field for field in model._meta.concrete_fields if not hasattr(field, "from_db_value")]
        parts.append((model, [field.attname for field in fields]))
        columns += [f'{alias}."{field.column}"' for field in fields]
    tables = (
        f"{InvitationToken._meta.db_table} t "
        f"JOIN {Invitation._meta.db_table} i ON i.id = t.invitation_id "
        f"JOIN {Survey._meta.db_table} s ON s.id = i.survey_id "
        f"JOIN {Contact._meta.db_table} c ON c.id = i.contact_id"
    )
    # Names from the models' own metadata; the token is a bound parameter.
    sql = f"SELECT {', '.join(columns)} FROM {tables} WHERE t.token_hash = %s"  # noqa: S608
    return sql, parts


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


def company_name() -> str:
    """The company's name as customers know it ("" until a CX lead sets it). Read without creating
    the settings row: a customer's GET changes nothing."""
    return CompanySettings.objects.filter(pk=1).values_list("company_name", flat=True).first() or ""


def department_name(department_id: int) -> str:
    return Department.objects.filter(pk=department_id).values_list("name", flat=True).first() or ""


def contact_channels(contact_id: int) -> set[str]:
    """The channels the contact can be reached on: email with an email address, SMS with a phone."""
    kinds = set(Identity.objects.filter(contact_id=contact_id).values_list("kind", flat=True).distinct())
    return {channel for channel, kind in CHANNEL_IDENTITY_KIND.items() if kind in kinds}


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
