"""Accounts: the company or household several contacts belong to. A frequency rule scoped per
account counts the touches of every contact of one account together (surveys/gatekeeper/rules.py),
and a blackout may cover a whole account."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Account(models.Model):
    """A customer company (B2B) or a household: contacts point to it (Contact.account)."""

    class Kind(models.TextChoices):
        COMPANY = "company", "Company"
        HOUSEHOLD = "household", "Household"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.COMPANY)
    # The account's id in the company's own systems (the CRM's): how the API names it.
    external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"], condition=~Q(external_id=""), name="account_external_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"


class DepartmentAccount(models.Model):
    """A department named the account (by its external id): the department may see it, on the
    contacts it knows and in the admin. An account is the company's, shared by every department so
    its caps count every department's touches; which accounts exist is each department's to know
    only of the ones it named."""

    department = models.ForeignKey("departments.Department", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="named_by")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "department"], name="department_account_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.department_id} names {self.account_id}"
