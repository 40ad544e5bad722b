from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from departments.authentication import hash_api_key
from departments.models import ApiKey, Department
from tests import factories


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_department(db):
    output = run("create_department", "billing", "--name", "Billing")

    department = Department.objects.get(slug="billing")
    assert department.name == "Billing"
    assert "billing" in output


def test_create_department_with_a_taken_slug_fails_clearly(support):
    with pytest.raises(CommandError, match="'support' already exists"):
        run("create_department", "support", "--name", "Support again")

    assert Department.objects.get(slug="support").name == "Support"


def test_create_department_needs_a_name(db):
    with pytest.raises(CommandError, match="--name"):
        run("create_department", "billing")


def test_create_api_key_prints_a_working_key_as_its_last_line(support):
    output = run("create_api_key", "support", "--name", "CRM sync")

    key = output.strip().splitlines()[-1]
    api_key = ApiKey.objects.get(key_hash=hash_api_key(key))
    assert (api_key.department, api_key.name) == (support, "CRM sync")
    assert key.startswith(api_key.prefix) and key != api_key.key_hash  # only its hash is stored
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/v1/contacts").status_code == 200


def test_create_api_key_for_an_unknown_department_names_it(db):
    factories.DepartmentFactory(slug="support")

    with pytest.raises(CommandError, match="'suport'"):
        run("create_api_key", "suport")

    assert not ApiKey.objects.exists()
