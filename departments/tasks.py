"""Celery tasks of the departments app, the API's housekeeping: thin wrappers around one service each."""

from celery import shared_task

from cxfeedback.idempotency import idempotency_records_purge
from cxfeedback.rate_limit import rate_limit_counters_purge


@shared_task
def idempotency_records_purge_task() -> None:
    idempotency_records_purge()


@shared_task
def rate_limit_counters_purge_task() -> None:
    rate_limit_counters_purge()
