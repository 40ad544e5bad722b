"""Time-ordered UUIDs (version 7, RFC 9562) for the public ids of the tables written in bulk.

A random (version 4) UUID lands on a random leaf page of its unique index. Once the index is larger
than the database's cache, nearly every new row reads a page from disk and dirties it, and the
first change to a page after a checkpoint copies it whole into the WAL: at 1,000,000 contacts and
5,000,000 invitations, one page read per invitation a screening batch wrote, and three quarters of
its insert's time (bench_screening). A version 7 UUID starts with the time in milliseconds, so each
new id goes next to the one made before it, to one place in the index like a sequence's (among the
random ids a table held before, where their time would sort), and is still unguessable: 74 of its
bits are random. They tell the millisecond they were made: a moment of the department's own call or
screening, told only to that department (a request's answer shows its created_at anyway). A
contact's id stays random (contacts.models.Contact): every department that knows the person sees
it, and its time would tell when the first of them did.

`uuid_v7()` in SQL (PostgreSQL 18 has `uuidv7()` built in; the project supports 15 and up) is the
column default the set-based INSERTs use; `uuid7` is the ORM's default for rows made in Python.
"""

from __future__ import annotations

from django.db import models
from uuid6 import uuid7 as uuid7

# A random (version 4) UUID with its first 48 bits replaced by the Unix time in milliseconds and
# its version bits turned from 4 (0100) into 7 (0111); the variant bits stay as they are.
UUID_V7_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$"""


class TimeOrderedUUID(models.Func):
    """uuid_v7() as a column's db_default."""

    function = "uuid_v7"
    template = "%(function)s()"
    output_field = models.UUIDField()
