"""The API's rate limit per key: one integration in a loop is refused (429, Retry-After, the error
shape), another department's key goes on, and the count is shared through PostgreSQL."""

import pytest


@pytest.fixture(autouse=True)
def tight_limit(settings):
    settings.API_RATE_LIMIT = "3/minute"


def test_a_key_over_its_limit_is_refused_and_other_keys_are_not(
    db, support_api, marketing_api, at_a_minutes_start
):
    answers = [support_api.get("/api/v1/surveys").status_code for _ in range(4)]
    refused = support_api.get("/api/v1/surveys")
    other = marketing_api.get("/api/v1/surveys")

    assert answers == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["code"] == "throttled"
    assert set(refused.json()) == {"code", "message", "extra"}
    assert other.status_code == 200


def test_a_logged_in_user_is_counted_on_their_own(db, lead_api, support_api):
    for _ in range(3):
        support_api.get("/api/v1/surveys")

    assert lead_api.get("/api/v1/surveys").status_code == 200


def test_without_a_limit_nothing_is_counted(db, support_api, settings):
    settings.API_RATE_LIMIT = ""

    assert {support_api.get("/api/v1/surveys").status_code for _ in range(5)} == {200}


def test_an_unknown_key_is_refused_before_it_counts(db, client):
    answers = {
        client.get("/api/v1/surveys", HTTP_AUTHORIZATION="Bearer cxf_unknownunknown").status_code
        for _ in range(5)
    }

    assert answers == {401}
