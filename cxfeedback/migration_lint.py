"""The migration check: no new migration builds an index on a history table the blocking way.

`python -m cxfeedback.migration_lint` (in .ci/run beside `makemigrations --check`) reads every
migration of the project's apps and reports each operation that would build an index on a history
table (HISTORY_MODELS: millions of rows, written by every trigger, screening and answer) while
holding a lock that stops writes: AddIndex, a unique or exclusion constraint, a field with an
index or unique, or CREATE INDEX in RunSQL without CONCURRENTLY. The way to do it is
cxfeedback.migration_ops.AddIndexConcurrently in a migration with `atomic = False`. An index on a
table created in the same migration is fine: the table is empty. Exits 1 when anything is reported.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.operations import AddIndexConcurrently as DjangoAddIndexConcurrently
from django.db import migrations, models

from cxfeedback.migration_ops import AddIndexConcurrently

PROJECT_APPS = ("departments", "contacts", "surveys", "results", "audit")
# (app, model): the tables that grow with every customer touch and that live installs keep for years.
HISTORY_MODELS = frozenset(
    {
        ("surveys", "invitation"),  # the touches every frequency rule counts
        ("surveys", "invitationtoken"),
        ("surveys", "decision"),
        ("surveys", "sendrequest"),  # one per trigger
        ("surveys", "response"),
        ("surveys", "answer"),
        ("contacts", "consent"),
        ("audit", "auditentry"),
    }
)
# Migrations that build indexes on history tables the blocking way and are accepted as they are:
# every live install applied them when they shipped, so none will run them on a large table again;
# a new install runs them on empty tables. Never add a migration here that is not yet released.
ACCEPTED = {
    ("surveys", "0002_delivery"): "released with delivery, before any install held many invitations",
    ("surveys", "0006_results_time_indexes"): "released; applied by every live install since",
    ("surveys", "0007_invitation_contact_dedup_decision_rule_unchecked"): "released; applied everywhere",
    # Adding the column with a random default rewrote the tables anyway; no index option avoided that.
    ("surveys", "0008_public_ids"): "released; applied everywhere",
}
# A blocking CREATE INDEX, and the table it is on.
CREATE_INDEX = re.compile(
    r'\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)(?:IF\s+NOT\s+EXISTS\s+)?(?:"?\w+"?\s+)?'
    r'ON\s+(?:ONLY\s+)?(?:"?\w+"?\.)?"?(\w+)"?',
    re.IGNORECASE,
)
ADVICE = "build it with cxfeedback.migration_ops.AddIndexConcurrently in a migration with atomic = False"


@dataclass(frozen=True)
class Problem:
    app: str
    migration: str
    message: str

    def __str__(self) -> str:
        return f"{self.app}.{self.migration}: {self.message}"


def migration_problems(app: str, migration: migrations.Migration, *, tables: dict[str, str]) -> list[Problem]:
    """What `migration` of `app` does that locks a history table for an index build. `tables` maps
    each history table's name to its model's, for RunSQL."""
    problems: list[str] = []
    created: set[str] = set()
    for operation in _database_operations(migration.operations):
        model = getattr(operation, "model_name", None) or getattr(operation, "name", "")
        model = (model or "").lower()
        if isinstance(operation, migrations.CreateModel):
            created.add(operation.name_lower)
            continue
        history = (app, model) in HISTORY_MODELS and model not in created
        if isinstance(operation, AddIndexConcurrently):
            if migration.atomic:
                problems.append(f"{operation.describe()}: needs atomic = False")
        elif isinstance(operation, DjangoAddIndexConcurrently):
            problems.append(f"{operation.describe()}: use cxfeedback's, which sets a lock_timeout")
        elif isinstance(operation, migrations.AddIndex) and history:
            problems.append(f"AddIndex {operation.index.name} on {model} blocks its writes: {ADVICE}")
        elif isinstance(operation, migrations.AddConstraint) and history:
            if isinstance(operation.constraint, models.UniqueConstraint | ExclusionConstraint):
                problems.append(
                    f"constraint {operation.constraint.name} on {model} builds its index while blocking "
                    f"writes: {ADVICE}, then add the constraint"
                )
        elif isinstance(operation, migrations.AddField | migrations.AlterField) and history:
            if getattr(operation.field, "db_index", False) or getattr(operation.field, "unique", False):
                problems.append(f"field {model}.{operation.name} has an index: {ADVICE}")
        elif isinstance(operation, migrations.RunSQL):
            sql = " ".join(operation.sql) if isinstance(operation.sql, list | tuple) else str(operation.sql)
            for table in {match.group(1).lower() for match in CREATE_INDEX.finditer(sql)} & set(tables):
                # A table the same SQL creates is empty when its indexes are built.
                if not re.search(rf"\bCREATE\s+TABLE\s+{table}\s*\(", sql, re.IGNORECASE):
                    problems.append(f"RunSQL creates an index on {table} without CONCURRENTLY")
    return [Problem(app=app, migration=migration.name, message=message) for message in problems]


def _database_operations(operations) -> list:
    """The operations that touch the database, those inside SeparateDatabaseAndState included."""
    flat = []
    for operation in operations:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            flat += _database_operations(operation.database_operations)
        else:
            flat.append(operation)
    return flat


def project_problems() -> list[Problem]:
    """Every problem in the project's migrations on disk, except the ACCEPTED migrations'."""
    from django.apps import apps
    from django.db.migrations.loader import MigrationLoader

    tables = {apps.get_model(app, model)._meta.db_table: model for app, model in HISTORY_MODELS}
    loader = MigrationLoader(None, ignore_no_migrations=True)
    problems = []
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if app in PROJECT_APPS and (app, name) not in ACCEPTED:
            problems += migration_problems(app, migration, tables=tables)
    return problems


def main() -> int:
    import django

    django.setup()
    problems = project_problems()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"migration check: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxfeedback.settings")
    sys.exit(main())
