"""Named personas and clients shared by every test.

- `support` and its owner `alice`: the department most tests act as.
- `marketing` and its owner `mallory`: a second department that must never see support's data.
- `lead`: a CX lead, who sees everything.
"""

import time

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from departments.services import api_key_create
from tests import factories


@pytest.fixture
def support(db):
    return factories.DepartmentFactory(slug="support", name="Support")


@pytest.fixture
def marketing(db):
    return factories.DepartmentFactory(slug="marketing", name="Marketing")


@pytest.fixture
def alice(support):
    return factories.department_owner(support, username="alice")


@pytest.fixture
def mallory(marketing):
    return factories.department_owner(marketing, username="mallory")


@pytest.fixture
def lead(db):
    return factories.cx_lead(username="lead")


def _api_client_for(department) -> APIClient:
    _, key = api_key_create(department=department, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def support_api(support) -> APIClient:
    """The REST API as the support department's integration (its API key)."""
    return _api_client_for(support)


@pytest.fixture
def marketing_api(marketing) -> APIClient:
    return _api_client_for(marketing)


@pytest.fixture
def lead_api(lead) -> APIClient:
    client = APIClient()
    client.force_login(lead)
    return client


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice) -> Client:
    """The admin as alice. Each persona has a client of its own, so a test may use several."""
    return _logged_in(alice)


@pytest.fixture
def mallory_client(mallory) -> Client:
    return _logged_in(mallory)


@pytest.fixture
def lead_client(lead) -> Client:
    return _logged_in(lead)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Personas' passwords are hashed when they are created; the real hasher costs ~0.3 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def at_a_minutes_start():
    """Rate limits count in fixed windows (cxfeedback/rate_limit.py). A test that makes a few requests
    and expects the last refused starts just after a minute does, with the clock running, so its
    requests never straddle two windows, of a minute or of an hour (the clock moves at most a minute
    ahead)."""
    with time_machine.travel((time.time() // 60 + 1) * 60 + 0.5, tick=True):
        yield


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker process on the tests' broker and database; stopped after the test."""
    from cxfeedback.celery import app
    from tests.workers import CeleryProcess

    with app.connection_for_write() as conn:
        # Tasks left by earlier tests refer to rows that are gone; start from an empty queue.
        conn.default_channel.queue_purge(app.conf.task_default_queue)
    worker = CeleryProcess("worker").start()
    yield worker
    worker.stop()
