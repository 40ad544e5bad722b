"""Brute-force lockout on the admin login (django-axes): five wrong passwords for one username from
one address, and that pair is locked out for an hour — the right password included."""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from tests import factories

PASSWORD = "correct horse battery staple"  # tests/factories.py's UserFactory


def login(client: Client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=address
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


@pytest.fixture
def owner(support):
    return factories.department_owner(support, username="olga")


def test_the_right_password_logs_in(client, owner):
    assert logged_in(login(client, "olga", PASSWORD))


def test_five_wrong_passwords_lock_the_account_out_for_an_hour_even_with_the_right_one(client, owner):
    for _ in range(4):
        assert login(client, "olga", "guess").status_code == 200  # the form again, with its error
    assert login(client, "olga", "guess").status_code == 429  # the fifth locks out

    refused = login(client, "olga", PASSWORD)

    assert refused.status_code == 429
    assert b"Too many failed logins" in refused.content
    assert "_auth_user_id" not in client.session
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(minutes=61)):
        assert logged_in(login(Client(), "olga", PASSWORD))


def test_four_wrong_passwords_do_not_lock_out(client, owner):
    for _ in range(4):
        login(client, "olga", "guess")

    assert logged_in(login(client, "olga", PASSWORD))


def test_other_users_and_other_addresses_are_unaffected(client, owner, alice):
    for _ in range(5):
        login(client, "olga", "guess")

    assert logged_in(login(Client(), "alice", PASSWORD))
    # Keyed on username and address: olga herself, from her office, still gets in.
    assert logged_in(login(Client(), "olga", PASSWORD, address="198.51.100.20"))


def test_api_keys_and_force_login_do_not_count_as_logins(client, owner, support_api, marketing):
    for _ in range(5):
        login(client, "olga", "guess")

    # An API key is checked by its own authentication class, not the login lockout.
    assert support_api.get("/api/v1/contacts").status_code == 200
    other = Client()
    other.force_login(owner)
    assert other.get("/admin/").status_code == 200
