"""Schema changes a live install can take: `.ci/run` fails on a model changed without its migration,
and on a new migration that builds an index on a history table while blocking its writes; the
concurrent way passes. Run against a copy of the project, changed as a developer would change it."""

import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import migrations, models

from cxfeedback.migration_lint import migration_problems, project_problems
from cxfeedback.migration_ops import AddIndexConcurrently

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"surveys_invitation": "invitation"}


def test_the_projects_migrations_pass_the_check():
    assert project_problems() == []


def lint(operations, *, atomic: bool = True, app: str = "surveys") -> list[str]:
    migration = type("Migration", (migrations.Migration,), {"atomic": atomic, "operations": operations})(
        "0099_probe", app
    )
    return [problem.message for problem in migration_problems(app, migration, tables=TABLES)]


INDEX = models.Index(fields=["channel"], name="invitation_channel_probe")


@pytest.mark.parametrize(
    ("operations", "atomic", "refused"),
    [
        ([migrations.AddIndex("invitation", INDEX)], True, "AddIndex invitation_channel_probe on invitation"),
        (
            [migrations.AddField("decision", "probe", models.IntegerField(db_index=True))],
            True,
            "has an index",
        ),
        (
            [migrations.AddConstraint("response", models.UniqueConstraint(fields=["id"], name="u_probe"))],
            True,
            "builds its index",
        ),
        ([migrations.RunSQL("CREATE INDEX x ON surveys_invitation (channel)")], True, "without CONCURRENTLY"),
        ([AddIndexConcurrently("invitation", INDEX)], True, "needs atomic = False"),
        ([AddIndexConcurrently("invitation", INDEX)], False, None),
        ([migrations.RunSQL("CREATE INDEX CONCURRENTLY x ON surveys_invitation (channel)")], False, None),
        ([migrations.AddIndex("frequencyrule", models.Index(fields=["name"], name="r"))], True, None),
    ],
)
def test_index_builds_on_history_tables_must_be_concurrent(operations, atomic, refused):
    problems = lint(operations, atomic=atomic)

    assert (problems == []) if refused is None else any(refused in p for p in problems), problems


def test_an_index_build_is_seen_inside_separate_database_and_state():
    hidden = migrations.SeparateDatabaseAndState(
        database_operations=[migrations.RunSQL("CREATE INDEX x ON surveys_invitation (channel)")]
    )

    assert any("without CONCURRENTLY" in problem for problem in lint([hidden]))


def test_an_index_on_a_table_the_same_sql_creates_is_fine():
    """As the migration that partitions a history table does: a new table, its indexes, a copy."""
    new_table = migrations.RunSQL(
        "ALTER TABLE surveys_invitation RENAME TO surveys_invitation_old;"
        " CREATE TABLE surveys_invitation (LIKE surveys_invitation_old) PARTITION BY RANGE (id);"
        " CREATE INDEX x ON surveys_invitation (channel);"
    )

    assert lint([new_table]) == []


def test_an_index_on_a_table_created_in_the_same_migration_is_fine():
    created = migrations.CreateModel("Invitation", [("id", models.BigAutoField(primary_key=True))])

    assert lint([created, migrations.AddIndex("invitation", INDEX)]) == []


@pytest.fixture
def project_copy(tmp_path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".local", ".git", "__pycache__", "staticfiles")
    )
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def ci_migrations(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", ".ci/run", "migrations"], cwd=project, capture_output=True, text=True, timeout=120
    )


def model_edit(project: Path, old: str, new: str) -> None:
    path = project / "surveys" / "models" / "delivery.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.slow
def test_ci_fails_on_a_model_change_without_its_migration(project_copy):
    clean = ci_migrations(project_copy)
    model_edit(
        project_copy,
        "    failure_reason = models.CharField(max_length=500, blank=True)\n",
        "    failure_reason = models.CharField(max_length=500, blank=True)\n"
        "    provider_id = models.CharField(max_length=100, blank=True)\n",
    )

    changed = ci_migrations(project_copy)

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert changed.returncode != 0
    assert "a model changed without its migration" in changed.stdout


@pytest.mark.slow
def test_ci_fails_on_a_blocking_index_build_and_passes_the_concurrent_one(project_copy):
    model_edit(
        project_copy,
        '            BTreeIndex(fields=["contact"], fillfactor=70, name="invitation_contact"),\n',
        '            BTreeIndex(fields=["contact"], fillfactor=70, name="invitation_contact"),\n'
        '            models.Index(fields=["channel"], name="invitation_channel"),\n',
    )
    env = {
        "DEBUG": "true",
        "SECRET_KEY": "x",
        "DATABASE_URL": "postgresql://ci@127.0.0.1:1/none",
        "PATH": "/usr/bin:/bin",
    }
    made = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-W", "ignore", "manage.py", "makemigrations", "surveys",
         "--name", "invitation_channel", "--skip-checks"],
        cwd=project_copy, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    blocking = ci_migrations(project_copy)
    migration = next((project_copy / "surveys" / "migrations").glob("*_invitation_channel.py"))
    text = migration.read_text().replace("migrations.AddIndex(", "AddIndexConcurrently(")
    text = text.replace(
        "class Migration(migrations.Migration):\n",
        "from cxfeedback.migration_ops import AddIndexConcurrently\n\n\n"
        "class Migration(migrations.Migration):\n    atomic = False\n",
    )
    migration.write_text(text)

    concurrent = ci_migrations(project_copy)

    assert blocking.returncode != 0
    assert "AddIndex invitation_channel on invitation blocks its writes" in blocking.stderr
    assert concurrent.returncode == 0, concurrent.stdout + concurrent.stderr
