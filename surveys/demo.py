"""The surveys part of `manage.py load_demo_data`: the default frequency rules and an NPS survey for
each demo department, made through the same services a CX lead and a department owner use.

Running it again changes nothing: rules are found by name, surveys by department and name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.contrib.auth import get_user_model

from departments.actors import Actor
from departments.models import Department
from surveys.models import FrequencyRule, Survey
from surveys.services.rules import frequency_rule_create
from surveys.services.surveys import survey_create_from_template

EVERYONE_RULE = "One survey per 30 days per person"
DEPARTMENT_RULE = "One survey per 90 days per department"
DEMO_CX_LEAD = "cxlead"  # the demo login that "wrote" the rules (contacts' load_demo_data.DEMO_LOGINS)


def load_demo_surveys(departments: Mapping[str, Department]) -> int:
    """Create the missing demo rules and NPS surveys; return how many objects were created."""
    lead = get_user_model().objects.filter(username=DEMO_CX_LEAD).first()
    actor = Actor(department_ids=frozenset(), is_cx_lead=True, user_id=lead.pk if lead else None)
    created = 0
    if not FrequencyRule.objects.filter(name=EVERYONE_RULE).exists():
        frequency_rule_create(actor=actor, name=EVERYONE_RULE, max_touches=1, window=dt.timedelta(days=30))
        created += 1
    for department in departments.values():
        # One rule per department, named for it, so the CX lead tells them apart in the admin.
        name = f"{DEPARTMENT_RULE} ({department.name})"
        if not FrequencyRule.objects.filter(name=name).exists():
            frequency_rule_create(
                actor=actor,
                name=name,
                max_touches=1,
                window=dt.timedelta(days=90),
                scope_department=department,
            )
            created += 1
        survey_name = f"{department.name} NPS"
        if not Survey.objects.filter(department=department, name=survey_name).exists():
            survey_create_from_template(actor=actor, department=department, template="nps", name=survey_name)
            created += 1
    return created
