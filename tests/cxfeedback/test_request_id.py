"""JSON log lines that carry the request's id, into the Celery tasks the request queued."""

import io
import json
import logging

import pytest

from cxfeedback.log_json import JsonFormatter
from cxfeedback.logging_filters import RedactTokens
from cxfeedback.request_id import HEADER
from tests import factories
from tests.smtp import loopback_smtp
from tests.workers import CeleryProcess, wait_until


@pytest.fixture
def json_console():
    """The configured console handler (settings.LOGGING), captured, writing JSON as in production."""
    handler = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactTokens) for f in h.filters)
    )
    stream = io.StringIO()
    previous_stream, previous_formatter = handler.setStream(stream), handler.formatter
    handler.setFormatter(JsonFormatter())
    yield stream
    handler.setStream(previous_stream)
    handler.setFormatter(previous_formatter)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_each_request_has_an_id_on_its_lines_and_its_response(client, json_console):
    answer = client.get("/api/v1/nothing-here")
    given = client.get("/api/v1/nothing-here", HTTP_X_REQUEST_ID="lb-3f2a9c01")
    forged = client.get("/api/v1/nothing-here", HTTP_X_REQUEST_ID="<script>alert(1)</script>")

    logged = [line for line in lines(json_console) if line["logger"] == "django.request"]
    assert len(answer[HEADER]) == 32 and given[HEADER] == "lb-3f2a9c01"
    assert forged[HEADER] not in ("<script>alert(1)</script>", answer[HEADER])
    assert [line["request_id"] for line in logged] == [answer[HEADER], "lb-3f2a9c01", forged[HEADER]]
    assert {line["level"] for line in logged} == {"WARNING"}
    assert all(line["message"].startswith("Not Found: /api/v1/nothing-here") for line in logged)


def test_a_line_is_redacted_before_it_becomes_json(json_console):
    try:
        raise ValueError("no such link /t/abcdefghijklmnopqrstuvwxyz for ann@example.com")
    except ValueError:
        logging.getLogger("cxfeedback.tests").exception("failed for %s", "+49 151 23456789")

    [line] = lines(json_console)
    assert line["message"] == "failed for [phone]"
    assert "/t/[redacted] for [email]" in line["exception"]
    assert "ann@example.com" not in json_console.getvalue()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_request_id_reaches_the_worker_that_sends_the_triggers_invitation(support, support_api):
    from cxfeedback.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    survey = factories.SurveyFactory(department=support)
    with loopback_smtp() as smtp_server:
        worker = CeleryProcess(
            "worker",
            env={**smtp_server.env(), "QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00",
                 "LOG_FORMAT": "json"},
        ).start()  # fmt: skip
        try:
            answer = support_api.post(
                "/api/v1/triggers",
                {"survey": survey.pk, "channel": "email",
                 "contact": {"identities": [{"kind": "email", "value": "ann@example.com"}]}},
                format="json", HTTP_X_REQUEST_ID="trigger-0001",
            )  # fmt: skip
            wait_until(lambda: smtp_server.messages, message="the invitation sent")
        finally:
            output = worker.stop(finish_tasks=True)  # the batch logs its line after the message is out

    assert answer.status_code == 201 and answer[HEADER] == "trigger-0001"
    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    batch = [line for line in logged if "invitation batch" in line["message"]]
    assert batch, output
    assert batch[0]["request_id"] == "trigger-0001"
    assert batch[0]["task"].startswith("surveys.tasks.send_invitations_task[")
    assert "ann@example.com" not in output
