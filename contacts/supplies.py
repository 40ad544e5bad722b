"""Which identities a department supplied: what it sees of a person and may send to.

The department that wrote an identity first is on the identity itself (`Identity.department`, its
spelling `Identity.value`); every other one is a DepartmentIdentity row with its own spelling. On
the identity, because nearly every identity has one supplier and an import then writes it in the
same COPY as the identity: a row of its own per identity cost an import a third of its speed.

Every reader asks through `supplied_by` (the ORM) or `supplied_sql` (raw SQL), every writer records
a supply through `identities_supply`, so the two places stay one fact.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from django.db import connection
from django.db.models import Case, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from contacts.models import DepartmentIdentity


def supplied_by(department_ids: Collection[int]) -> Q:
    """For an Identity queryset: supplied by one of these departments."""
    later = DepartmentIdentity.objects.filter(identity=OuterRef("pk"), department_id__in=department_ids)
    return Q(department_id__in=department_ids) | Exists(later)


def as_supplied(department_ids: Collection[int], field: str = "value") -> Case:
    """For an Identity queryset: `field` ("value" or "created_at") of the supply by the first of
    these departments to supply it: how it wrote the identity, and when."""
    later = DepartmentIdentity.objects.filter(identity=OuterRef("pk"), department_id__in=department_ids)
    supply = Subquery(later.order_by("created_at", "pk").values(field)[:1])
    if field == "value":  # a supply with no spelling of its own wrote it as the identity holds it
        supply = Coalesce(NullIf(supply, Value("")), F("value"))
    return Case(When(department_id__in=department_ids, then=F(field)), default=supply)


def supplied_sql(identity: str, department: str) -> str:
    """SQL: the identity aliased `identity` was supplied by the department `department` (a column
    or a placeholder)."""
    # Aliases and placeholders from the caller's own SQL, never input.
    later = f"SELECT 1 FROM contacts_departmentidentity s WHERE s.identity_id = {identity}.id"  # noqa: S608
    return f"({identity}.department_id = {department} OR EXISTS ({later} AND s.department_id = {department}))"


def identities_supply(department_id: int, supplied: Iterable[tuple[int, str]]) -> None:
    """Record stored identities (id, as the department wrote it) as supplied by the department too:
    a DepartmentIdentity row unless it is their first supplier. Repeats change nothing."""
    rows = list(supplied)
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO contacts_departmentidentity (department_id, identity_id, value, created_at)
            SELECT %(department)s, i.id, given.value, %(now)s
            FROM unnest(%(ids)s::bigint[], %(values)s::text[]) AS given(id, value)
            JOIN contacts_identity i ON i.id = given.id
            WHERE i.department_id IS DISTINCT FROM %(department)s
            ON CONFLICT (identity_id, department_id) DO NOTHING
            """,
            {
                "department": department_id,
                "ids": [identity_id for identity_id, _ in rows],
                "values": [value for _, value in rows],
                "now": timezone.now(),
            },
        )
