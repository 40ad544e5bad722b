"""Queueing a Celery task once the transaction commits, without turning a broker outage into an error."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from django.conf import settings
from django.db import transaction

from cxfeedback.request_id import REQUEST_ID

logger = logging.getLogger(__name__)


def publish_on_commit(task, *args) -> None:
    """Queue `task` once the transaction commits. A broker that is down then must not turn what was
    committed into a 500 the client would retry: the work is in the database, and the sweeper hands
    it over again (`send_requests_screen_again`, and delivery's DELIVERY_HANDOFF_LEASE), so the
    failure is logged and the caller answered."""

    def publish() -> None:  # a function, not a partial: Django names it when it logs the failure
        task.delay(*args)

    transaction.on_commit(publish, robust=True)


def publish_batched_on_commit(task, item: Any) -> None:
    """Once the transaction commits, queue `task` with a list that holds `item`, sharing the message
    with the items other requests of this process committed meanwhile (at most DELIVERY_BATCH_SIZE).

    For work every request makes one of (a trigger's one invitation): a publish costs about 1 ms of
    the request's CPU, and a background thread of the process makes it instead, at once when idle,
    and for everything that came in while it was publishing when busy, so nobody waits for a batch
    to fill. An item whose publish is lost (the broker down, the process killed before it ran) is
    in the database like any: the sweeper hands it over again. The message's request id names
    every request in it (cxfeedback/request_id.py)."""
    request_id = REQUEST_ID.get()

    def add() -> None:
        _publisher.add(task, item, request_id)

    transaction.on_commit(add, robust=True)


class _BatchPublisher:
    """Per process: what is waiting to be published, and the thread that publishes it."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a lock held at fork would never open
        atexit.register(self.flush)  # a clean shutdown publishes what is left

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: dict[Any, list[tuple[Any, str]]] = {}
        self._thread: threading.Thread | None = None

    def add(self, task, item: Any, request_id: str) -> None:
        with self._lock:
            self._pending.setdefault(task, []).append((item, request_id))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="publish-batches", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()  # before taking the items: one added from here on wakes us again
            try:
                self.flush()
            except Exception:  # the thread must outlive any one batch; the sweeper recovers that one
                logger.exception("Publishing a batch failed")

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        size = settings.DELIVERY_BATCH_SIZE
        for task, entries in pending.items():
            for start in range(0, len(entries), size):
                _publish(task, entries[start : start + size])


def _publish(task, entries: list[tuple[Any, str]]) -> None:
    request_ids = ",".join(dict.fromkeys(request_id for _, request_id in entries if request_id))
    token = REQUEST_ID.set(request_ids)
    try:
        task.delay([item for item, _ in entries])
    except Exception:  # as publish_on_commit's robust callbacks: logged, recovered by the sweeper
        logger.exception("Publishing %s for %d items failed", getattr(task, "name", task), len(entries))
    finally:
        REQUEST_ID.reset(token)


_publisher = _BatchPublisher()
