"""REST API v1, GET /api/v1/results/responses: works (answers, comments, follow-up), the filters,
another department's responses (never shown; naming its department is a 400 that does not say whose
it is), wrong method, bad input, unauthenticated; a fixed number of queries; the OpenAPI schema."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tests.api import assert_error
from tests.results.drill import answered, feedback_survey

URL = "/api/v1/results/responses"
NOW = timezone.now().replace(microsecond=0)
DAY = dt.timedelta(days=1)


@pytest.fixture
def survey(support):
    return feedback_survey(support, name="Router repair check")


def test_lists_responses_with_answers_newest_first(support_api, survey, support):
    older = answered(survey, nps=9, csat=5, comment="Fine", at=NOW - 2 * DAY)
    newer = answered(survey, nps=3, csat=2, comment="Engineer never came")

    response = support_api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    first, second = body["results"]
    assert (first["id"], second["id"]) == (newer.pk, older.pk)
    assert first["department"] == "support"
    assert first["survey"] == survey.pk and first["survey_name"] == "Router repair check"
    assert first["contact"] == str(newer.contact.public_id) and first["channel"] == "email"
    assert first["follow_up"] == "open" and second["follow_up"] is None
    nps, csat, comment = first["answers"]
    assert (nps["kind"], nps["position"], nps["value_number"]) == ("nps", 1, 3)
    assert (csat["kind"], csat["value_number"]) == ("csat", 2)
    assert (comment["kind"], comment["value_text"], comment["value_number"]) == (
        "free_text",
        "Engineer never came",
        None,
    )


def test_filters_by_period_survey_and_channel(support_api, survey, support):
    other = feedback_survey(support, name="Billing check")
    by_sms = answered(survey, channel="sms")
    answered(survey, at=NOW - 100 * DAY)
    answered(other)

    def ids(**params) -> list[int]:
        response = support_api.get(URL, params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert len(ids()) == 3
    assert len(ids(start=(NOW - 200 * DAY).date(), end=(NOW - 50 * DAY).date())) == 1
    assert len(ids(survey=other.pk)) == 1
    assert ids(channel="sms") == [by_sms.pk]
    assert len(ids(department="support")) == 3


def test_pages_with_limit_and_offset(support_api, survey):
    for _ in range(3):
        answered(survey)

    body = support_api.get(URL, {"limit": 2}).json()

    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_another_departments_responses_are_never_listed(
    marketing_api, support_api, lead_api, survey, marketing
):
    answered(survey, comment="support's secret")
    answered(feedback_survey(marketing, name="Spring pulse"), comment="marketing's own")

    marketing_rows = marketing_api.get(URL).json()["results"]
    assert [row["department"] for row in marketing_rows] == ["marketing"]
    assert "support's secret" not in str(marketing_rows)
    assert len(lead_api.get(URL).json()["results"]) == 2
    assert [row["department"] for row in lead_api.get(URL, {"department": "support"}).json()["results"]] == [
        "support"
    ]


def test_naming_another_departments_department_or_survey_is_a_400_that_says_nothing_of_it(
    marketing_api, survey
):
    answered(survey)

    for params in ({"department": "support"}, {"survey": survey.pk}, {"department": "no-such-department"}):
        body = assert_error(marketing_api.get(URL, params), 400)
        assert "Support" not in body["message"] and "Router" not in str(body)


def test_bad_input_is_a_400_in_the_error_shape(support_api):
    body = assert_error(support_api.get(URL, {"start": "yesterday"}), 400)
    assert "start" in body["extra"]["fields"]
    body = assert_error(support_api.get(URL, {"start": "2026-05-02", "end": "2026-05-01"}), 400)
    assert "before its start" in body["message"]
    assert_error(support_api.get(URL, {"channel": "pigeon"}), 400)


def test_wrong_method_and_no_credentials(support_api, db):
    assert_error(support_api.post(URL, {}, format="json"), 405)
    assert_error(APIClient().get(URL), 401)


def test_a_fixed_number_of_queries_however_many_responses(support_api, survey, django_assert_max_num_queries):
    answered(survey)
    with django_assert_max_num_queries(8):
        assert support_api.get(URL).status_code == 200
    for _ in range(12):
        answered(survey, nps=1)
    with django_assert_max_num_queries(8):
        assert len(support_api.get(URL).json()["results"]) == 13


def test_the_endpoint_is_in_a_schema_without_warnings(client, tmp_path, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/results/responses"]["get"]
    assert operation["operationId"] == "results_response_list"
    assert {parameter["name"] for parameter in operation["parameters"]} >= {
        "start",
        "end",
        "department",
        "survey",
    }

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
