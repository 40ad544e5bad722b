"""Every operation of /api/schema/, fuzzed by schemathesis through the WSGI app: no 5xx, every error in
the error shape, every answer as the schema says (issue 6). A small, fixed-seed cousin of the
reliability run's schemathesis check (reliability/bad_input.py), so the suite keeps the guarantee.

Two of schemathesis's checks are left out, as in that run: they judge how precisely the schema
describes the input (it cannot say "no NUL characters" or "an id or identities, not both"), not how
the app answers it.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from departments.models import Department
from departments.services import api_key_create
from reliability.bad_input_hooks import error_shape
from surveys.models import FrequencyRuleVersion
from tests import factories

pytestmark = pytest.mark.slow


@pytest.fixture
def api_schema(db):
    """The schema, served by the WSGI app itself. Like Django's test client, requests leave the
    database connection open: it holds the test's transaction."""
    from cxfeedback.wsgi import application

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def support_key(db) -> str:
    support = factories.DepartmentFactory(slug="support", name="Support")
    factories.SurveyFactory(department=support)
    factories.known_contact(support, email="ada@example.com")
    return api_key_create(department=support, name="schemathesis")[1]


def test_the_api_answers_every_input_as_its_schema_says(api_schema, support_key):
    """Positive and negative inputs for each operation (schemathesis's own pytest integration does
    not run under pytest 9, hence the loop)."""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _examples(operation.as_strategy(generation_mode=mode), support_key)
            except Exception as failure:
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    assert not failures, "\n\n".join(failures)


def _examples(strategy, key: str) -> None:
    @given(case=strategy)
    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    def call(case):
        case.call_and_validate(
            headers={"Authorization": f"Bearer {key}"},
            additional_checks=[error_shape],
            excluded_checks=[negative_data_rejection, positive_data_acceptance],
        )

    call()


def test_blank_choices_in_answers_conform_to_the_schema(api_schema, support_key):
    # "" means every channel or kind (or an allowed decision), null every department or no user. DRF
    # drops allow_blank from read-only model fields, so the schema called such answers invalid.
    rule = factories.FrequencyRuleFactory(scope_survey_kind="", scope_channel="", scope_department=None)
    FrequencyRuleVersion.objects.create(rule=rule, version=1, snapshot={}, changed_by=None)
    contact = factories.known_contact(Department.objects.get(slug="support"), email="bob@example.com")
    factories.ConsentFactory(contact=contact, channel="")
    screened = factories.screened_request(Department.objects.get(slug="support"))  # allowed: no reason
    headers = {"Authorization": f"Bearer {support_key}"}

    for path, parameters in (
        ("/api/v1/frequency-rules", {}),
        ("/api/v1/frequency-rules/{rule_id}", {"rule_id": rule.pk}),
        ("/api/v1/contacts/{contact_id}/consents", {"contact_id": str(contact.public_id)}),
        ("/api/v1/send-requests/{send_request_id}/decisions", {"send_request_id": str(screened.public_id)}),
    ):
        case = api_schema[path]["GET"].Case(path_parameters=parameters)
        response = case.call_and_validate(headers=headers)
        assert response.status_code == 200
    assert "" in {decision["reason"] for decision in response.json()["results"]}
