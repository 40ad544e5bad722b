"""/metrics: what an operator's Prometheus reads — queue depth and age, stuck sends, unscreened
requests, rollup lag, heartbeats, sends per channel, decisions per reason, screening and trigger
latency — and only the operator."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from departments.actors import Actor
from surveys.delivery.dispatch import invitations_dispatch_due
from surveys.gatekeeper.send_requests import send_request_submit
from surveys.models import Invitation, SendRequest
from tests import factories
from tests.smtp import loopback_smtp
from tests.workers import CeleryProcess, wait_until

TOKEN = "metrics-token-for-tests"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, by name and labels."""
    answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 200, answer.content
    samples = {}
    for family in text_string_to_metric_families(answer.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def audience(support, count: int) -> list:
    return [factories.known_contact(support, email=f"person{n}@example.com") for n in range(count)]


@pytest.mark.django_db
def test_without_the_token_or_an_allowed_network_there_are_no_metrics(client, settings):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200

    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ", REMOTE_ADDR="192.0.2.7").status_code == 404


@pytest.mark.django_db
def test_the_queue_its_age_stuck_sends_and_unscreened_requests(client, support):
    now = timezone.now()
    audience(support, 3)
    request = factories.screened_request(support)
    due, later, claimed = Invitation.objects.filter(send_request=request).order_by("pk")
    SendRequest.objects.filter(pk=request.pk).update(earliest_send_at=now - dt.timedelta(minutes=10))
    Invitation.objects.filter(pk=due.pk).update(touched_at=now - dt.timedelta(minutes=5))
    Invitation.objects.filter(pk=later.pk).update(send_after=now + dt.timedelta(hours=8))  # quiet hours
    Invitation.objects.filter(pk=claimed.pk).update(
        status="sending",
        updated_at=now - dt.timedelta(minutes=20),  # past DELIVERY_STUCK_AFTER
    )
    waiting = factories.SendRequestFactory(
        department=support, status="submitted", submitted_at=now - dt.timedelta(minutes=3)
    )

    samples = scrape(client)

    assert samples[("cxfeedback_invitations_pending", (("state", "queued_due"),))] == 1
    assert samples[("cxfeedback_invitations_pending", (("state", "queued_later"),))] == 1
    assert samples[("cxfeedback_invitations_pending", (("state", "sending"),))] == 1
    assert 295 < samples[("cxfeedback_invitations_oldest_age_seconds", (("state", "queued_due"),))] < 400
    assert samples[("cxfeedback_invitations_stuck", ())] == 1
    assert samples[("cxfeedback_send_requests_unscreened", ())] == 1
    assert 175 < samples[("cxfeedback_send_requests_unscreened_oldest_age_seconds", ())] < 280
    SendRequest.objects.filter(pk=waiting.pk).update(status="screened")
    assert scrape(client)[("cxfeedback_send_requests_unscreened", ())] == 0


@pytest.mark.django_db
def test_sends_and_decisions_count_the_rollups_and_the_days_after_them(client, support):
    from results.services.rollups import ROLLUP_SETTLE, daily_rollups_refresh

    contacts = audience(support, 3)
    factories.ConsentFactory(contact=contacts[0])  # opted out: blocked
    request = factories.screened_request(support)
    sent_at = timezone.now() - dt.timedelta(days=3)  # on a day the rollups will hold
    Invitation.objects.filter(send_request=request).update(status="sent", sent_at=sent_at)
    request.decisions.update(decided_at=sent_at)
    before = scrape(client)

    daily_rollups_refresh()  # those days move from the live tables into the rollups
    after = scrape(client)

    for samples in (before, after):
        assert samples[("cxfeedback_invitations_sent_total", (("channel", "email"),))] == 2
        assert samples[("cxfeedback_decisions_total", (("reason", "allowed"),))] == 2
        assert samples[("cxfeedback_decisions_total", (("reason", "opted_out"),))] == 1
    assert ("cxfeedback_rollup_lag_seconds", ()) not in before  # never rolled up
    # A day is rolled up once ROLLUP_SETTLE has passed after its midnight: the lag stays under a day
    # and that settling time, whatever the time of day the tests run.
    assert 0 < after[("cxfeedback_rollup_lag_seconds", ())] <= 86400 + ROLLUP_SETTLE.total_seconds()


@pytest.mark.django_db
def test_trigger_latency_and_responses_per_view(client, support, support_api):
    survey = factories.SurveyFactory(department=support)
    before = scrape(client)

    answer = support_api.post(
        "/api/v1/triggers",
        {"survey": survey.pk, "channel": "email",
         "contact": {"identities": [{"kind": "email", "value": "ann@example.com"}]}},
        format="json",
    )  # fmt: skip

    assert answer.status_code == 201, answer.content
    after = scrape(client)
    count = ("cxfeedback_trigger_duration_seconds_count", ())
    assert after[count] == before.get(count, 0) + 1
    responses = ("cxfeedback_http_responses_total", (("status", "201"), ("view", "trigger-create")))
    assert after[responses] == before.get(responses, 0) + 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_metrics_after_a_screening_and_a_dispatch_by_a_real_worker(client, support, settings, tmp_path):
    """The worker runs in prometheus_client's multiprocess mode, as in production: its screening
    time reaches /metrics through its files; the rest is read from the database."""
    from cxfeedback.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM heartbeat")
    settings.METRICS_PROCESS_DIRS = [str(tmp_path)]
    contacts = audience(support, 3)
    factories.ConsentFactory(contact=contacts[0])
    with loopback_smtp() as smtp_server:
        worker = CeleryProcess(
            "worker",
            env={**smtp_server.env(), "QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00",
                 "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "HEARTBEAT_INTERVAL": "1"},
        ).start()  # fmt: skip
        try:
            request = factories.SendRequestFactory(department=support)
            send_request_submit(send_request=request, actor=Actor(department_ids=frozenset({support.pk})))
            wait_until(
                lambda: SendRequest.objects.get(pk=request.pk).status == "screened", message="the screening"
            )
            screened = scrape(client)
            invitations_dispatch_due()
            wait_until(lambda: len(smtp_server.messages) == 2, message="two invitations sent")
            wait_until(lambda: not Invitation.objects.exclude(status="sent").exists(), message="marked sent")
            dispatched = scrape(client)
        finally:
            output = worker.stop()

    assert screened[("cxfeedback_screening_duration_seconds_count", ())] == 1, output
    assert screened[("cxfeedback_invitations_pending", (("state", "queued_due"),))] == 2
    assert dispatched[("cxfeedback_invitations_pending", (("state", "queued_due"),))] == 0
    assert dispatched[("cxfeedback_invitations_sent_total", (("channel", "email"),))] == 2
    assert dispatched[("cxfeedback_decisions_total", (("reason", "allowed"),))] == 2
    assert dispatched[("cxfeedback_decisions_total", (("reason", "opted_out"),))] == 1
    assert dispatched[("cxfeedback_heartbeat_age_seconds", (("process", "worker"),))] < 10
