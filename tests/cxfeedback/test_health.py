import pytest
from kombu import Connection

from cxfeedback.celery import app as celery_app


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_names_the_broker_when_it_is_down(client, monkeypatch):
    # Port 9 on loopback: nothing listens there, so the connection is refused at once.
    monkeypatch.setattr(celery_app, "connection_for_write", lambda: Connection("redis://127.0.0.1:9/0"))

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "unavailable"}


@pytest.mark.django_db
def test_healthz_names_the_database_when_it_is_down(client):
    from django.db import connections

    broken = dict(connections["default"].settings_dict, PORT="9", HOST="127.0.0.1")
    connections["default"].close()
    original = connections["default"].settings_dict
    connections["default"].settings_dict = broken
    try:
        response = client.get("/healthz")
    finally:
        connections["default"].settings_dict = original
        connections["default"].close()

    assert response.status_code == 503
    assert response.json() == {"database": "unavailable", "broker": "ok"}


def test_healthz_answers_only_get(client, db):
    assert client.post("/healthz").status_code == 405


# /readyz: the whole system, a worker and the beat included.


def heartbeats_clear() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM heartbeat")  # not a model's table: tests do not flush it


@pytest.mark.django_db
def test_readyz_fails_until_a_worker_and_the_beat_are_seen(client, settings):
    import datetime as dt

    from django.utils import timezone

    from cxfeedback.heartbeats import heartbeat_record

    settings.HEARTBEAT_MAX_AGE = 120
    heartbeats_clear()
    never = client.get("/readyz")
    heartbeat_record(process="worker")
    heartbeat_record(process="beat", now=timezone.now() - dt.timedelta(seconds=600))
    beat_dead = client.get("/readyz")
    heartbeat_record(process="beat")
    ready = client.get("/readyz")

    assert never.status_code == 503
    assert never.json() == {"database": "ok", "broker": "ok", "worker": "never seen", "beat": "never seen"}
    assert beat_dead.status_code == 503
    assert beat_dead.json()["worker"] == "ok"
    assert beat_dead.json()["beat"].startswith("not seen for 6")
    assert ready.status_code == 200
    assert client.get("/healthz").status_code == 200  # the load balancer's check never asked for them


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_and_beat_keep_readyz_green_and_their_death_turns_it_red(client, settings):
    from tests.workers import CeleryProcess, wait_until

    settings.HEARTBEAT_MAX_AGE = 3
    heartbeats_clear()
    env = {"HEARTBEAT_INTERVAL": "1"}
    beat_schedule = f"--schedule=/tmp/celerybeat-{settings.DATABASES['default']['TEST']['NAME']}"
    worker = CeleryProcess("worker", env=env).start()
    beat = CeleryProcess("beat", beat_schedule, env=env).start()
    try:
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=60, message="ready")
        beat.kill()
        dead = wait_until(
            lambda: (answer := client.get("/readyz")).status_code == 503 and answer, timeout=30,
            message="the beat's death noticed",
        )  # fmt: skip
    finally:
        beat.stop()
        worker.stop()

    assert dead.json()["beat"].startswith("not seen for")
    assert dead.json()["worker"] == "ok"
