"""The `account` column: each written row's person joins the account its cell names (by external
id), created on first use and recorded as named by the importing department, as the contacts API
does (contacts.account_services). Set-based: three statements per chunk, in the chunk's transaction."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from contacts.importing.matching import ChunkPlan
from contacts.models import Account, Contact, DepartmentAccount

ACCOUNTS = Account._meta.db_table
NAMED = DepartmentAccount._meta.db_table
CONTACTS = Contact._meta.db_table


def accounts_write(plan: ChunkPlan, *, department_id: int) -> None:
    """Put the people of the chunk's written rows with an account cell in that account."""
    wanted: dict[int, str] = {}
    for row_plan in plan.rows:
        if row_plan.person is not None and row_plan.row.account:
            wanted[row_plan.person.contact_id] = row_plan.row.account
    if not wanted:
        return
    now = timezone.now()
    external_ids = sorted(set(wanted.values()))
    with connection.cursor() as cursor:
        # Sorted: two imports creating the same accounts take the unique index's locks in one order.
        cursor.execute(
            f"""
            INSERT INTO {ACCOUNTS} (name, kind, external_id, created_at)
            SELECT e, %s, e, %s FROM unnest(%s::text[]) AS e ORDER BY e
            ON CONFLICT (external_id) WHERE external_id <> '' DO NOTHING
            """,  # noqa: S608
            [Account.Kind.COMPANY, now, external_ids],
        )
        cursor.execute(
            f"""
            INSERT INTO {NAMED} (department_id, account_id, created_at)
            SELECT %s, a.id, %s FROM {ACCOUNTS} AS a WHERE a.external_id = ANY(%s) ORDER BY a.id
            ON CONFLICT (account_id, department_id) DO NOTHING
            """,  # noqa: S608
            [department_id, now, external_ids],
        )
        cursor.execute(
            f"""
            UPDATE {CONTACTS} AS c SET account_id = a.id
            FROM unnest(%s::bigint[], %s::text[]) AS w(contact_id, external_id)
            JOIN {ACCOUNTS} AS a ON a.external_id = w.external_id
            WHERE c.id = w.contact_id AND c.account_id IS DISTINCT FROM a.id
            """,  # noqa: S608
            [list(wanted), list(wanted.values())],
        )
