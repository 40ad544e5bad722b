import datetime as dt
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from contacts.models import Consent, Contact, DepartmentContact
from cxfeedback.idempotency import idempotency_records_purge
from departments.models import IdempotencyRecord
from tests import factories

CONTACTS = "/api/v1/contacts"
ANN = {"identities": [{"kind": "email", "value": "ann@example.com"}], "name": "Ann"}


def post(client, body: dict, key: str | None = "retry-1", url: str = CONTACTS):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, body, format="json", **headers)


def test_a_repeat_with_the_same_key_and_body_replays_the_first_answer(support_api):
    first = post(support_api, ANN)
    Contact.objects.update(name="Changed since")  # a replay shows the first answer, not today's state

    again = post(support_api, {"name": "Ann", "identities": [{"value": "ann@example.com", "kind": "email"}]})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Contact.objects.count() == 1


def test_a_repeat_without_a_key_acts_again(support_api):
    assert post(support_api, ANN, key=None).status_code == 201
    assert post(support_api, ANN, key=None).status_code == 200  # matched, not replayed


def test_the_same_key_with_another_body_is_422_and_changes_nothing(support_api):
    post(support_api, ANN)

    response = post(support_api, {**ANN, "name": "Bob"})

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert response.json()["extra"]["key"] == "retry-1"
    assert DepartmentContact.objects.get().name == "Ann"


def test_the_same_key_on_another_endpoint_is_422(support_api, support):
    contact = factories.known_contact(support)
    post(support_api, ANN)

    response = post(support_api, {"kind": "opt_out"}, url=f"{CONTACTS}/{contact.public_id}/consents")

    assert response.status_code == 422
    assert not Consent.objects.exists()


def test_keys_are_scoped_to_the_caller(support_api, marketing_api):
    post(support_api, ANN)

    response = post(marketing_api, ANN)

    # Marketing's own call, not a replay: the person is new to marketing, as if nobody knew them.
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_failed_answers_are_not_stored(support_api):
    bad = post(support_api, {"identities": [{"kind": "email", "value": "ann.example.com"}]})

    fixed = post(support_api, ANN)

    assert bad.status_code == 400
    assert fixed.status_code == 201
    assert IdempotencyRecord.objects.count() == 1


def test_consent_is_recorded_once_per_key(support_api, support):
    contact = factories.known_contact(support)
    url = f"{CONTACTS}/{contact.public_id}/consents"

    responses = [post(support_api, {"kind": "opt_out"}, key="unsubscribe-7", url=url) for _ in range(3)]

    assert [r.status_code for r in responses] == [201, 201, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert Consent.objects.count() == 1


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_a_malformed_key_is_400(support_api, key):
    response = post(support_api, ANN, key=key)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Contact.objects.exists()


def test_a_key_of_255_characters_is_accepted(support_api):
    assert post(support_api, ANN, key="k" * 255).status_code == 201


def test_purge_deletes_records_older_than_a_day(db):
    now = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)

    def record(key: str, age: dt.timedelta) -> None:
        IdempotencyRecord.objects.create(
            scope="api-key:1",
            key=key,
            request_hash="x",
            response_status=201,
            response_body={},
            created_at=now - age,
        )

    record("old", dt.timedelta(hours=25))
    record("fresh", dt.timedelta(hours=23))

    assert idempotency_records_purge(older_than=dt.timedelta(hours=24), now=now) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_have_one_effect(support_api):
    """Without the lock on (caller, key), the losers miss the record, run the upsert again (a 200
    "matched") and then fail on the record's unique constraint (a 500)."""
    threads_per_round, rounds = 6, 4
    for round_number in range(rounds):
        body = {"identities": [{"kind": "email", "value": f"race{round_number}@example.com"}]}
        barrier = threading.Barrier(threads_per_round)
        responses: list = []

        def call(body=body, barrier=barrier, responses=responses, key=f"race-{round_number}"):
            client = APIClient()  # one per thread, with the same API key
            client.credentials(**support_api._credentials)
            try:
                barrier.wait()
                responses.append(post(client, body, key=key))
            finally:
                connection.close()

        threads = [threading.Thread(target=call) for _ in range(threads_per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(r.status_code for r in responses) == [201] * threads_per_round
        assert len({r.json()["id"] for r in responses}) == 1
        assert sum(r.has_header("Idempotent-Replayed") for r in responses) == threads_per_round - 1
    assert Contact.objects.count() == rounds


def test_housekeeping_runs_on_the_beat(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    housekeeping = {
        "departments.tasks.idempotency_records_purge_task",
        "departments.tasks.rate_limit_counters_purge_task",
        "contacts.tasks.import_files_purge_task",
    }
    assert housekeeping <= tasks
    from cxfeedback.celery import app

    app.loader.import_default_modules()
    assert tasks <= set(app.tasks)
