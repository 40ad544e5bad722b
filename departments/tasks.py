"""Celery tasks of the departments app: thin wrappers around one service each."""

from celery import shared_task

from cxfeedback.idempotency import idempotency_records_purge


@shared_task
def idempotency_records_purge_task() -> None:
    idempotency_records_purge()
