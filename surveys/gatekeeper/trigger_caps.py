"""A department's daily trigger cap (Department.daily_trigger_cap, issue 15). Triggers are never held
for approval: past the cap they are refused, with a clear error, until the next day."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.utils import timezone

from departments.models import Department
from surveys.errors import TriggerCapReached

# One statement: the day's row is made or counted up only while under the cap. Its row lock (held to
# the end of the trigger's transaction) makes the department's triggers take turns here, so two
# cannot both take the last one; a trigger that fails later rolls its count back with it.
SPEND_SQL = """
    INSERT INTO surveys_triggerday (department_id, day, triggers) VALUES (%(department)s, %(day)s, 1)
    ON CONFLICT (department_id, day) DO UPDATE SET triggers = surveys_triggerday.triggers + 1
        WHERE surveys_triggerday.triggers < %(cap)s
    RETURNING triggers
"""


def trigger_cap_spend(*, department: Department, now: dt.datetime) -> None:
    """Count one trigger of `department` today, inside the trigger's transaction (first, before any
    other lock: see surveys/gatekeeper/locks.py). Nothing for a department without a cap. Raises
    TriggerCapReached (429) once the day's cap is used up."""
    cap = department.daily_trigger_cap
    if cap is None:
        return
    day = timezone.localdate(now)
    counted = None
    if cap > 0:
        with connection.cursor() as cursor:
            cursor.execute(SPEND_SQL, {"department": department.pk, "day": day, "cap": cap})
            counted = cursor.fetchone()
    if counted is None:
        raise TriggerCapReached(
            f"The department's daily trigger cap ({cap}) is reached for {day.isoformat()}: no more "
            "triggers until tomorrow. A CX lead can raise it.",
            extra={"daily_trigger_cap": cap, "day": day.isoformat()},
        )
