"""The public pages' rate limit: how a rate is written, whom it counts, and its windows."""

import threading
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.test import RequestFactory

from cxfeedback.rate_limit import Rate, client_address, rate_limit_counters_purge, rate_limit_exceeded


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("60/minute", Rate(60, 60)),
        ("5/second", Rate(5, 1)),
        ("1000/Hour", Rate(1000, 3600)),
        ("2/day", Rate(2, 86400)),
    ],
)
def test_a_rate_is_a_count_per_period(text, rate):
    assert Rate.parse(text) == rate


@pytest.mark.parametrize("text", ["60", "60/fortnight", "many/minute", "0/minute", ""])
def test_a_rate_written_otherwise_stops_the_app_at_start(text):
    with pytest.raises(ImproperlyConfigured):
        Rate.parse(text)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "6.6.6.6", "10.0.0.1"),  # no proxy: the header is whatever the client wrote
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the entry our proxy appended
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "10.0.0.1"),  # fewer entries than proxies: not from our proxies
    ],
)
def test_the_client_is_the_address_the_outermost_trusted_proxy_saw(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == expected


def test_a_new_window_starts_the_count_again(db):
    request = RequestFactory().get("/", REMOTE_ADDR=f"198.51.100.{uuid.uuid4().int % 250}")
    rate = Rate(2, 60)
    start = 1_800_000_000.0  # a window boundary (a multiple of 60)

    in_first_window = [
        rate_limit_exceeded(request, scope="test", rate=rate, now=start + s) for s in (1, 2, 50)
    ]
    in_next_window = rate_limit_exceeded(request, scope="test", rate=rate, now=start + 61)

    assert in_first_window == [0, 0, 10]  # the third is refused until the window ends in 10 s
    assert in_next_window == 0


def test_the_purge_forgets_clients_quiet_for_a_day_and_keeps_the_others(db):
    start = 1_899_999_960.0  # a window boundary, after every counter other tests may have left
    quiet, busy = (RequestFactory().get("/", REMOTE_ADDR=f"203.0.113.{n}") for n in (1, 2))
    rate = Rate(1, 60)
    rate_limit_exceeded(quiet, scope="purge", rate=rate, now=start)
    rate_limit_exceeded(busy, scope="purge", rate=rate, now=start + 86400)

    rate_limit_counters_purge(now=start + 86400 + 30)

    with connection.cursor() as cursor:
        cursor.execute("SELECT client FROM rate_limit_counter WHERE scope = 'purge'")
        assert cursor.fetchall() == [("203.0.113.2",)]
    # The busy client is still at its limit in its window; the quiet one starts afresh.
    assert rate_limit_exceeded(busy, scope="purge", rate=rate, now=start + 86400 + 31) > 0
    assert rate_limit_exceeded(quiet, scope="purge", rate=rate, now=start + 86400 + 31) == 0


@pytest.mark.django_db(transaction=True)
def test_requests_at_the_same_moment_are_all_counted():
    """Twenty requests at once against a limit of ten: exactly ten pass, whoever comes first."""
    request = RequestFactory().get("/", REMOTE_ADDR=f"192.0.2.{uuid.uuid4().int % 250}")
    barrier = threading.Barrier(20)
    outcomes: list[int] = []

    def hit():
        try:
            barrier.wait()
            outcomes.append(
                rate_limit_exceeded(request, scope="test", rate=Rate(10, 3600), now=3600.0 * 500_000)
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcome == 0 for outcome in outcomes) == [False] * 10 + [True] * 10
