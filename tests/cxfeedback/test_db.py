"""`execute_without_waiting`: the statement that marks an invitation sent right before SMTP's final
".". Once it returns, the statement cannot be taken back, and until its answer is asked for it
wakes no one (the moment between the two writes stays a microsecond or two)."""

import os
import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from cxfeedback.db import execute_without_waiting
from departments.models import Department
from tests import factories, workers
from tests.workers import ROOT, wait_until

RENAME = "UPDATE departments_department SET name = $2 WHERE id = $1"

pytestmark = pytest.mark.django_db(transaction=True)


def name_seen_by_another_connection(department_id: int) -> str:
    with psycopg.connect(workers.test_database_url(), autocommit=True) as other:
        return other.execute(
            "SELECT name FROM departments_department WHERE id = %s", [department_id]
        ).fetchone()[0]


def test_the_answer_says_how_many_rows_changed_and_the_change_is_committed():
    department = factories.DepartmentFactory(name="Before")

    answer = execute_without_waiting(RENAME, [str(department.pk), "After"])

    assert answer() == 1
    assert name_seen_by_another_connection(department.pk) == "After"
    assert execute_without_waiting(RENAME, ["0", "Nobody"])() == 0


@pytest.mark.skipif(
    (connection.settings_dict["HOST"] or "").startswith("/"),
    reason="a Unix socket (the embedded server) cannot hold a statement; it leaves at once",
)
def test_over_tcp_postgresql_gets_the_statement_only_when_its_answer_is_asked_for():
    department = factories.DepartmentFactory(name="Before")

    answer = execute_without_waiting(RENAME, [str(department.pk), "After"])
    try:
        while_held = name_seen_by_another_connection(department.pk)
    finally:
        changed = answer()  # the connection is usable again whatever the test found

    assert while_held == "Before", "held in the kernel, not yet sent"
    assert changed == 1
    assert name_seen_by_another_connection(department.pk) == "After"


def test_a_process_killed_before_it_asks_for_the_answer_still_has_its_statement_run():
    department = factories.DepartmentFactory(name="Before")
    script = (
        "import os, signal, django; django.setup()\n"
        "from cxfeedback.db import execute_without_waiting\n"
        f"execute_without_waiting({RENAME!r}, [{str(department.pk)!r}, 'After'])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": workers.test_database_url(),
        "DJANGO_SETTINGS_MODULE": "cxfeedback.settings",
    }

    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=60, check=False)

    assert killed.returncode == -9
    wait_until(
        lambda: Department.objects.get(pk=department.pk).name == "After",
        timeout=10,
        message="the statement sent when the dead process's socket was closed",
    )
