"""Celery tasks of the gatekeeper: thin wrappers that load by id and call one service."""

from celery import shared_task

from surveys.services.send_requests import send_request_screen


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def screen_send_request_task(send_request_id: int) -> None:
    # A repeated or retried task finds the request screened already and does nothing.
    send_request_screen(send_request_id=send_request_id)
