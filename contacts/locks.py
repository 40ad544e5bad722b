"""Advisory locks on normalised identities, shared by every writer that creates contacts.

The race: two writers (a CSV import and an API upsert, or two imports) both look up the same new
email, both find nothing, and both create a contact. The unique constraint on identities stops the
second identity, but only by failing its whole transaction. Holding a lock on the identity from
before the look-up until commit makes the second writer wait and then see the first one's contact.

Every writer locks through `identities_lock`, which takes the locks ordered by lock id, so two
writers locking overlapping sets never deadlock. These come first in the lock order of the whole
project, before any row lock (written down once, in surveys/gatekeeper/locks.py).

The locks are transaction-level: they are released at commit or rollback, and each one occupies a
slot in PostgreSQL's shared lock table until then (max_locks_per_transaction × max_connections
slots in all), so lock a chunk, not a whole file.
"""

from collections.abc import Iterable

from django.db import connection


class LockOutsideTransaction(RuntimeError):
    """An xact lock taken in autocommit mode would be released at once and protect nothing."""


def identity_lock_key(kind: str, source: str, normalised: str) -> str:
    """The lock key of one identity: the same three fields as Identity's unique constraint."""
    return f"{kind}:{source}:{normalised}"


# The lock id of a key, in SQL. identities_lock_staged builds the same key from a table's columns.
LOCK_ID_SQL = "hashtextextended({key}, 0)"


def identities_lock(keys: Iterable[str]) -> None:
    """Block until this transaction holds the advisory lock of every key (from identity_lock_key).

    Raises LockOutsideTransaction when called outside transaction.atomic().
    """
    unique_keys = sorted(set(keys))
    if not unique_keys:
        return
    if not connection.in_atomic_block:
        raise LockOutsideTransaction("identities_lock() must run inside transaction.atomic().")
    _lock_ids_in_order("unnest(%s::text[]) AS key", "key", [unique_keys])


def identities_lock_staged(table: str) -> None:
    """identities_lock for the identities in `table` (columns kind, source, normalised), for a
    caller with thousands of keys that has already copied them there (the CSV import)."""
    if not connection.in_atomic_block:
        raise LockOutsideTransaction("identities_lock_staged() must run inside transaction.atomic().")
    _lock_ids_in_order(table, "kind || ':' || source || ':' || normalised", [])


def _lock_ids_in_order(source_sql: str, key_sql: str, params: list) -> None:
    lock_id = LOCK_ID_SQL.format(key=key_sql)
    with connection.cursor() as cursor:
        # ORDER BY the lock id itself (PostgreSQL evaluates the volatile lock function after the
        # sort), so every writer acquires overlapping locks in the same order.
        cursor.execute(
            f"SELECT pg_advisory_xact_lock(lock_id) FROM (SELECT DISTINCT {lock_id} AS lock_id "  # noqa: S608
            f"FROM {source_sql}) AS wanted ORDER BY lock_id",  # both parts are constants of this module
            params,
        )
