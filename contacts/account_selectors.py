"""Reading accounts, scoped to who asks: a CX lead sees every account and everyone in it; a
department the accounts it named (DepartmentAccount), and in them only the people it knows."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from contacts.models import Account, Contact, DepartmentAccount, DepartmentContact
from departments.actors import Actor


def accounts_visible(*, actor: Actor) -> QuerySet[Account]:
    """The accounts the actor may see, each with `members` (account_members)."""
    accounts = Account.objects.all()
    if not actor.is_cx_lead:
        named = DepartmentAccount.objects.filter(
            account=OuterRef("pk"), department_id__in=actor.department_ids
        )
        accounts = accounts.filter(Exists(named))
    return accounts.annotate(members=account_members(actor=actor))


def account_members(*, actor: Actor) -> Coalesce:
    """How many people of the account (OuterRef "pk") the actor may see: all for a CX lead, the
    ones its departments know for a department."""
    people = Contact.objects.filter(account=OuterRef("pk"), merged_into=None)
    if not actor.is_cx_lead:
        people = people.filter(
            Exists(
                DepartmentContact.objects.filter(
                    contact=OuterRef("pk"), department_id__in=actor.department_ids
                )
            )
        )
    counted = people.order_by().values("account").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), 0)


def account_prefetch(*, actor: Actor) -> tuple:
    """What contacts_visible prefetches for contact_account_seen: the account and, for a department,
    whether it named it."""
    namers = DepartmentAccount.objects.all()
    if not actor.is_cx_lead:
        namers = namers.filter(department_id__in=actor.department_ids)
    return ("account", Prefetch("account__named_by", queryset=namers, to_attr="seen_namers"))


def contact_account_seen(contact: Contact, *, actor: Actor) -> str | None:
    """The external id of `contact`'s account (prefetched by account_prefetch) if the actor may see
    it: a CX lead always, a department when it named the account; None otherwise."""
    account = contact.account
    if account is None or not (actor.is_cx_lead or account.seen_namers):
        return None
    return account.external_id
