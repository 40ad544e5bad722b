"""Blackouts: opening and closing them, idempotently by the opener's external id.

While a blackout is open no department may survey its contact (or any contact of its account);
once closed, not until its tail has passed (surveys/gatekeeper/rules.py decides, the screening
statement reads surveys_blackout). What another department learns of it is its kind alone, through
a decision's reason and explanation: never its external id, summary or opener.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from contacts.models import Account, DepartmentContact
from cxfeedback.exceptions import NotFound
from departments.models import Department
from surveys.errors import InvalidBlackout
from surveys.models import DEFAULT_BLACKOUT_TAIL, Blackout


def blackout_account_id(*, department: Department, external_id: str) -> int:
    """The id of the account with this external id, if the department knows one of its contacts.

    Raises NotFound otherwise, the same for an account no one has and one only other departments
    know, so the answer tells nothing of other departments' customers."""
    account_id = (
        Account.objects.filter(
            external_id=external_id,
            pk__in=DepartmentContact.objects.filter(department=department).values("contact__account_id"),
        )
        .values_list("pk", flat=True)
        .first()
    )
    if account_id is None:
        raise NotFound(f"Account {external_id!r} not found.", extra={"account": external_id})
    return account_id


def blackout_open(
    *,
    department: Department,
    external_id: str,
    kind: str,
    contact_id: int | None = None,
    account_id: int | None = None,
    summary: str = "",
    tail: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> tuple[Blackout, bool]:
    """Open a blackout of the department's contact or account; (the blackout, whether it was
    created). Idempotent: the department's blackout with this external id, if there is one, is
    returned unchanged. Raises InvalidBlackout for a negative tail or not exactly one of contact
    and account."""
    if (contact_id is None) == (account_id is None):
        raise InvalidBlackout("Name the contact or the account (one of the two).", extra={"field": "contact"})
    if tail is not None and tail < dt.timedelta(0):
        raise InvalidBlackout("tail: must not be negative.", extra={"field": "tail"})
    # get_or_create, under the unique (department, external_id): two opens racing create one.
    with transaction.atomic():
        return Blackout.objects.get_or_create(
            department=department,
            external_id=external_id,
            defaults={
                "kind": kind,
                "contact_id": contact_id,
                "account_id": account_id,
                "summary": summary,
                "tail": DEFAULT_BLACKOUT_TAIL if tail is None else tail,
                "opened_at": now or timezone.now(),
            },
        )


def blackout_close(
    *,
    department: Department,
    external_id: str,
    tail: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> Blackout:
    """Close the department's blackout (surveys stay blocked for its tail, or `tail` if given).
    Idempotent: closing a closed blackout changes nothing. Raises NotFound (no such blackout of
    this department) and InvalidBlackout (a negative tail)."""
    if tail is not None and tail < dt.timedelta(0):
        raise InvalidBlackout("tail: must not be negative.", extra={"field": "tail"})
    now = now or timezone.now()
    fields = {"closed_at": max(now, _opened_at(department, external_id))}
    if tail is not None:
        fields["tail"] = tail
    # One conditional UPDATE: of two closes racing, the first sets the time and the second finds it set.
    Blackout.objects.filter(department=department, external_id=external_id, closed_at__isnull=True).update(
        **fields
    )
    return Blackout.objects.get(department=department, external_id=external_id)


def _opened_at(department: Department, external_id: str) -> dt.datetime:
    opened_at = (
        Blackout.objects.filter(department=department, external_id=external_id)
        .values_list("opened_at", flat=True)
        .first()
    )
    if opened_at is None:
        raise NotFound(f"Blackout {external_id!r} not found.", extra={"blackout": external_id})
    return opened_at
