"""A read replica for the results pages (cxfeedback/db_router.py): with DATABASE_REPLICA_URL set, the
dashboard, the drill-down and the exports read from it, and nothing else does — the gatekeeper
decides and writes on the primary. Here the replica is a mirror of the test database (Django's
TEST MIRROR): the same rows through a connection of its own, so each test can tell which connection
a page read through."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from tests import factories
from tests.results.drill import answered, feedback_survey

pytestmark = pytest.mark.django_db(transaction=True)

EXPORT = "/admin/results/export/responses.csv"


@pytest.fixture
def replica(transactional_db, settings):
    """A "replica" alias on the test database, as settings.py makes it from DATABASE_REPLICA_URL."""
    mirror = {**connections["default"].settings_dict, "TEST": {"MIRROR": "default"}}
    settings.DATABASES = {**settings.DATABASES, "replica": mirror}
    connections.settings["replica"] = mirror
    # Connected here: the test case allows only the aliases it was made with to connect on demand.
    connections["replica"].connect()
    yield connections["replica"]
    connections["replica"].close()
    del connections["replica"]
    del connections.settings["replica"]


def reads(captured: CaptureQueriesContext, table: str) -> int:
    return sum(
        1 for query in captured.captured_queries if f'"{table}"' in query["sql"] or table in query["sql"]
    )


def test_an_export_is_read_from_the_replica_and_shows_the_same_rows(replica, alice_client, support):
    survey = feedback_survey(support, name="Router repair check")
    first = answered(survey, nps=9, comment="Quick fix")
    second = answered(survey, nps=3)

    with (
        CaptureQueriesContext(replica) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        response = alice_client.get(EXPORT)
        text = b"".join(response.streaming_content).decode("utf-8")

    _header, *rows = list(csv.reader(io.StringIO(text[1:])))
    assert [row[0] for row in rows] == [str(first.pk), str(second.pk)]
    assert rows[0][-1] == "Quick fix"
    assert reads(on_replica, "surveys_response") >= 1
    assert reads(on_primary, "surveys_response") == 0


def test_the_dashboard_reads_from_the_replica(replica, alice_client, support):
    answered(feedback_survey(support), nps=10)

    with (
        CaptureQueriesContext(replica) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        response = alice_client.get("/admin/results/")

    assert response.status_code == 200
    assert reads(on_replica, "surveys_") >= 1
    assert reads(on_primary, "surveys_") == 0


def test_another_departments_export_from_the_replica_shows_none_of_their_responses(
    replica, mallory_client, support
):
    answered(feedback_survey(support, name="Router repair check"), comment="support's secret")

    response = mallory_client.get(EXPORT)
    text = b"".join(response.streaming_content).decode("utf-8")

    _header, *rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == []
    assert "secret" not in text and "Router" not in text


def test_a_trigger_decides_on_the_primary_only(replica, support_api, support):
    survey = factories.SurveyFactory(department=support)

    with CaptureQueriesContext(replica) as on_replica:
        response = support_api.post(
            "/api/v1/triggers",
            {
                "survey": survey.pk,
                "channel": "email",
                "contact": {"identities": [{"kind": "email", "value": "a@example.com"}]},
            },
            format="json",
        )

    assert response.status_code == 201, response.content
    assert on_replica.captured_queries == []
