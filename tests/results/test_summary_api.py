"""GET /api/v1/results/summary: the dashboard's figures for integrations, scoped like the dashboard."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests import factories
from tests.results.summary_data import at, decisions, response, scored_survey

URL = "/api/v1/results/summary"
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def history(support, marketing):
    """Support: NPS 10, 10, 0 and a request with 2 of 5 refused. Marketing: NPS 0 and 5 of 10 refused."""
    rule = factories.FrequencyRuleFactory(name="One survey a month")
    support_nps = scored_survey(support, "nps", name="Support NPS")
    newsletter = scored_survey(marketing, "nps", name="Newsletter NPS")
    for score in (10, 10, 0):
        response(support_nps, at("2026-03-10"), score)
    response(newsletter, at("2026-03-10"), 0)
    decisions(support_nps, at("2026-03-05"), allowed=3, blocked={rule: 2})
    decisions(newsletter, at("2026-03-05"), allowed=5, blocked={rule: 5})
    return support_nps, newsletter


def test_a_cx_lead_gets_every_departments_figures(lead_api, history):
    response_ = lead_api.get(URL, MARCH)

    assert response_.status_code == 200
    body = response_.json()
    assert body["headline"]["responses"] == 4
    assert (body["headline"]["promoters"], body["headline"]["detractors"], body["headline"]["nps"]) == (
        2,
        2,
        0.0,
    )
    assert {row["department"] for row in body["by_department"]} == {"Support", "Marketing"}
    assert body["bias_threshold_percent"] == 30


def test_an_api_key_sees_its_own_department_only(support_api, marketing_api, history):
    support_body = support_api.get(URL, MARCH).json()
    marketing_body = marketing_api.get(URL, MARCH).json()

    assert (support_body["headline"]["responses"], support_body["headline"]["nps"]) == (
        3,
        pytest.approx(33.3),
    )
    assert [row["department"] for row in support_body["by_department"]] == ["Support"]
    assert [row["name"] for row in support_body["by_survey"]] == ["Support NPS"]
    assert [(row["label"], row["contacts"]) for row in support_body["blocked"]] == [
        ("Rule “One survey a month”", 2)
    ]
    # Marketing learns nothing of support: not its answers, names, requests or refusals.
    assert (marketing_body["headline"]["responses"], marketing_body["headline"]["nps"]) == (1, -100.0)
    assert "Support" not in str(marketing_body)
    assert [
        (row["department"], row["requested"], row["blocked"]) for row in marketing_body["by_department"]
    ] == [("Marketing", 10, 5)]


def test_a_department_is_named_by_its_slug(lead_api, support_api, history):
    assert lead_api.get(URL, {**MARCH, "department": "marketing"}).json()["headline"]["responses"] == 1
    assert support_api.get(URL, {**MARCH, "department": "support"}).json()["headline"]["responses"] == 3


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"department": "support"}, "department"),  # not marketing's
        ({"department": "no-such-department"}, "department"),
        ({"survey": "support-survey"}, "survey"),
        ({"start": "1 March"}, "start"),
        ({"channel": "fax"}, "channel"),
        ({"survey_kind": "weekly"}, "survey_kind"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_where(marketing_api, history, filters, field):
    response_ = marketing_api.get(URL, {**MARCH, **filters})

    assert response_.status_code == 400
    body = response_.json()
    assert body["code"] == "invalid"
    assert body["message"].startswith(f"{field}: ")
    assert list(body["extra"]["fields"]) == [field]


def test_another_departments_survey_is_refused_like_a_missing_one(marketing_api, history):
    support_nps, _ = history

    response_ = marketing_api.get(URL, {**MARCH, "survey": support_nps.pk})
    missing = marketing_api.get(URL, {**MARCH, "survey": 999999})

    assert response_.status_code == missing.status_code == 400
    assert response_.json()["message"] == missing.json()["message"]


def test_a_period_that_ends_before_it_starts_is_a_400(lead_api, db):
    response_ = lead_api.get(URL, {"start": "2026-03-31", "end": "2026-03-01"})

    assert response_.status_code == 400
    assert response_.json()["message"] == "end: The end of the period is before its start."


def test_without_credentials_it_is_a_401_or_403(client, db):
    assert client.get(URL).status_code in (401, 403)


def test_only_get_is_allowed(lead_api, db):
    assert lead_api.post(URL, {}, format="json").status_code == 405


def test_the_summary_takes_a_fixed_number_of_queries(support_api, history, django_assert_max_num_queries):
    support_api.get(URL, MARCH)
    # API key, its department, surveys, four grouped counts, rule names, (idempotency-free: a read).
    with django_assert_max_num_queries(10):
        assert support_api.get(URL, MARCH).status_code == 200


def test_the_summary_is_in_the_openapi_schema(tmp_path, db):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    schema = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/results/summary:" in schema
    assert "operationId: results_summary" in schema


@pytest.mark.parametrize(
    "filters", [{"end": "9999-12-31"}, {"start": "0001-01-01"}, {"start": "0001-01-01", "end": "0001-01-02"}]
)
def test_a_day_at_the_ends_of_the_calendar_is_a_400_not_a_crash(lead_api, db, filters):
    response_ = lead_api.get(URL, filters)

    assert response_.status_code == 400
    assert "Give a day between 1970 and 2999." in response_.json()["message"]


def test_a_score_from_fewer_than_30_answers_is_flagged_as_a_small_sample(lead_api, history):
    body = lead_api.get(URL, MARCH).json()

    assert body["headline"]["nps_answers"] == 4 and body["headline"]["nps_few_answers"] is True
    # No CSAT or CES answers at all: no score, and nothing to warn about.
    assert (body["headline"]["csat_few_answers"], body["headline"]["ces_few_answers"]) == (False, False)
    assert all(row["figures"]["nps_few_answers"] for row in body["by_survey"])


def test_30_answers_are_no_longer_a_small_sample(lead_api, support):
    survey = scored_survey(support, "nps", name="Big NPS")
    for _ in range(30):
        response(survey, at("2026-03-10"), 9)

    body = lead_api.get(URL, MARCH).json()

    assert (body["headline"]["nps_answers"], body["headline"]["nps_few_answers"]) == (30, False)
