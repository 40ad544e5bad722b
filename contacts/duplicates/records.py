"""Reading the contact book for a duplicate search: each person's comparable record
(contacts/duplicates/fields.py), read from PostgreSQL in chunks in id order, so memory holds one
chunk of rows at a time whatever the size of the book. Records merged into another (empty shells
since the merge) are left out.

A person's record draws on everything the company knows of them: their own name and attributes
first (what they or a CX lead wrote), then each department's view, oldest first; and the first
identity of each kind. Only the duplicate search reads it, for CX leads; no department sees it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

from django.db import connection

from contacts.duplicates.fields import comparable
from contacts.models import Contact, ContactImport, DepartmentContact, DepartmentIdentity, Identity

CONTACTS = Contact._meta.db_table
VIEWS = DepartmentContact._meta.db_table
IDENTITIES = Identity._meta.db_table
SUPPLIED = DepartmentIdentity._meta.db_table


# 5,000 persons a query: a few MB of rows, and one round trip is a small share of reading them.
READ_CHUNK = 5000


def _records_sql(*, only_ids: bool) -> str:
    # One probe per person of the views' and identities' contact indexes (both foreign keys).
    wanted = "AND c.id = ANY(%(ids)s)" if only_ids else ""
    return f"""
        SELECT c.id, c.name, c.attributes::text,
            (SELECT coalesce(
                json_agg(json_build_array(v.name, v.attributes) ORDER BY v.created_at, v.id), '[]'
             ) FROM {VIEWS} AS v WHERE v.contact_id = c.id)::text,
            (SELECT coalesce(json_agg(json_build_array(i.kind, i.source, i.normalised) ORDER BY i.id), '[]')
             FROM {IDENTITIES} AS i WHERE i.contact_id = c.id)::text
        FROM {CONTACTS} AS c
        WHERE c.merged_into_id IS NULL AND c.id > %(after)s {wanted}
        ORDER BY c.id
        LIMIT %(limit)s
    """  # noqa: S608 -- table names from model metadata


def records_count(*, contact_ids: list[int] | None = None) -> int:
    """How many persons a search over the whole book (or over `contact_ids`) compares."""
    contacts = Contact.objects.filter(merged_into__isnull=True)
    if contact_ids is not None:
        contacts = contacts.filter(pk__in=contact_ids)
    return contacts.count()


def records_read(*, contact_ids: list[int] | None = None, chunk: int = READ_CHUNK) -> Iterator[list[dict]]:
    """The comparable records of the whole book (or of `contact_ids`), one chunk at a time."""
    after = 0
    ids = sorted(set(contact_ids)) if contact_ids is not None else None
    sql = _records_sql(only_ids=ids is not None)
    while True:
        with connection.cursor() as cursor:
            cursor.execute(sql, {"after": after, "limit": chunk, "ids": ids})
            rows = cursor.fetchall()
        if not rows:
            return
        yield [_record(*row) for row in rows]
        after = rows[-1][0]


def _record(contact_id: int, name: str, attributes: str, views: str, identities: str) -> dict:
    views = json.loads(views)
    return comparable(
        contact_id=contact_id,
        names=[name, *(view_name for view_name, _ in views)],
        attribute_sets=[json.loads(attributes), *(view_attributes for _, view_attributes in views)],
        identities=[tuple(identity) for identity in json.loads(identities)],
    )


def import_contact_ids(*, contact_import: ContactImport) -> list[int]:
    """The persons an import wrote: the department's views it created or changed, and the
    identities it added or supplied, between the import's start and its end. A person the file
    only matched, changing nothing, has nothing new to compare."""
    start = contact_import.created_at
    end = (contact_import.completed_at or contact_import.created_at) + dt.timedelta(seconds=1)
    window = {"department": contact_import.department_id, "start": start, "end": end}
    sql = f"""
        SELECT contact_id FROM {VIEWS}
        WHERE department_id = %(department)s AND updated_at >= %(start)s AND updated_at < %(end)s
        UNION
        SELECT contact_id FROM {IDENTITIES}
        WHERE department_id = %(department)s AND created_at >= %(start)s AND created_at < %(end)s
        UNION
        SELECT i.contact_id FROM {SUPPLIED} AS s JOIN {IDENTITIES} AS i ON i.id = s.identity_id
        WHERE s.department_id = %(department)s AND s.created_at >= %(start)s AND s.created_at < %(end)s
    """  # noqa: S608 -- table names from model metadata
    with connection.cursor() as cursor:
        cursor.execute(sql, window)
        return sorted(contact_id for (contact_id,) in cursor.fetchall())
