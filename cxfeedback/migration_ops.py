"""Migration operations that keep a live install writing while its schema changes.

A plain AddIndex runs CREATE INDEX, which holds a SHARE lock on the table for the whole build:
on the history tables (millions of invitations, decisions, responses) every write waits, the
trigger API and delivery included, for as long as the build takes. So an index on one of them is
built with `AddIndexConcurrently` from here, in a migration with `atomic = False`:

    from cxfeedback.migration_ops import AddIndexConcurrently

    class Migration(migrations.Migration):
        atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction
        operations = [AddIndexConcurrently(model_name="invitation", index=models.Index(...))]

It is Django's (django.contrib.postgres.operations), with two additions:
- a lock_timeout while it runs (MIGRATION_LOCK_TIMEOUT, default 5s): the build itself lets writes
  through, but its lock request still queues behind, say, a long VACUUM or another migration's
  lock, and everything that comes after it queues behind it. Better to fail and run `migrate`
  again than to stall the site.
- a failed concurrent build leaves an INVALID index of the same name behind, and the next
  `migrate` would stop at "already exists": such a leftover is dropped (concurrently) first.

cxfeedback/migration_lint.py refuses any other index build on the history tables.
"""

from __future__ import annotations

import os

from django.contrib.postgres import operations

LOCK_TIMEOUT = os.environ.get("MIGRATION_LOCK_TIMEOUT", "5s")

INVALID_INDEX_SQL = """
SELECT 1 FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid
WHERE pg_class.relname = %s AND NOT pg_index.indisvalid
"""


class AddIndexConcurrently(operations.AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY under a lock_timeout, after dropping an invalid leftover of it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", [LOCK_TIMEOUT])
            try:
                cursor.execute(INVALID_INDEX_SQL, [self.index.name])
                if cursor.fetchone():
                    cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.index.name}"')
                super().database_forwards(app_label, schema_editor, from_state, to_state)
            finally:
                cursor.execute("RESET lock_timeout")
