"""Queueing a Celery task once the transaction commits, without turning a broker outage into an error."""

from __future__ import annotations

from django.db import transaction


def publish_on_commit(task, *args) -> None:
    """Queue `task` once the transaction commits. A broker that is down then must not turn what was
    committed into a 500 the client would retry: the work is in the database, and the sweeper hands
    it over again (`send_requests_screen_again`, and delivery's DELIVERY_HANDOFF_LEASE), so the
    failure is logged and the caller answered."""

    def publish() -> None:  # a function, not a partial: Django names it when it logs the failure
        task.delay(*args)

    transaction.on_commit(publish, robust=True)
