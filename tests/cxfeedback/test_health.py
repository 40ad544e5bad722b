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
