"""Putting contacts in accounts (a company or household), by the account's external id.

An account is the company's: one external id names one account whichever department names it, so a
rule scoped per account counts every department's touches of its people. What a department learns
is kept to what it said itself: naming an account answers the same whether it existed or not, and a
department sees an account (on a contact, in the admin) only once it named it (DepartmentAccount).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from contacts.errors import InvalidContact
from contacts.models import Account, Contact, DepartmentAccount
from departments.models import Department

ACCOUNT_EXTERNAL_ID_MAX = 200


def account_external_id_clean(value: str, *, field: str = "account") -> str:
    """The external id as stored (surrounding spaces dropped); raises InvalidContact (400) naming
    `field` when it is too long."""
    cleaned = value.strip()
    if len(cleaned) > ACCOUNT_EXTERNAL_ID_MAX:
        raise InvalidContact(
            f"{field}: an account's external id has at most {ACCOUNT_EXTERNAL_ID_MAX} characters.",
            extra={"field": field},
        )
    return cleaned


def account_name(*, department: Department, external_id: str) -> Account:
    """The account `external_id` names, created on first use (named after its external id, a
    company; a CX lead renames it or makes it a household in the admin), recorded as named by
    `department`. Safe against two departments naming a new account at the same moment."""
    account = Account.objects.filter(external_id=external_id).first()
    if account is None:
        try:
            with transaction.atomic():
                account = Account.objects.create(external_id=external_id, name=external_id)
        except IntegrityError:  # created by someone else between the read and the insert
            account = Account.objects.get(external_id=external_id)
    DepartmentAccount.objects.get_or_create(department=department, account=account)
    return account


def contact_account_assign(*, department: Department, contact: Contact, external_id: str | None) -> None:
    """Put `contact` (whom `department` knows) in the account `external_id` names; "" takes them out
    of an account, but only of one the department named (another's stays, unseen and untouched);
    None changes nothing."""
    if external_id is None:
        return
    external_id = account_external_id_clean(external_id)
    if not external_id:
        if (
            contact.account_id
            and DepartmentAccount.objects.filter(
                department=department, account_id=contact.account_id
            ).exists()
        ):
            Contact.objects.filter(pk=contact.pk).update(account=None)
            contact.account_id = None
        return
    account = account_name(department=department, external_id=external_id)
    if contact.account_id != account.pk:
        Contact.objects.filter(pk=contact.pk).update(account=account)
        contact.account_id = account.pk
