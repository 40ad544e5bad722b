"""Celery tasks of the gatekeeper and of delivery: thin wrappers that load by id and call one service.

Every task may run twice (the broker delivers at least once; acks are late): each service is safe
to repeat. Tasks take and return ids only, never a token or an address, so nothing personal reaches
the broker or the worker's log.
"""

import random

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from surveys.delivery.dispatch import invitations_dispatch_due
from surveys.delivery.reminders import reminders_send
from surveys.delivery.reservations import reservations_release_expired
from surveys.delivery.sending import invitations_send_batch
from surveys.delivery.sweeper import invitations_expire, invitations_sweep_stuck
from surveys.external.imports import touch_imports_sweep
from surveys.gatekeeper.audience_uploads import audience_upload_run, audience_uploads_sweep
from surveys.gatekeeper.decision_partitions import decision_partitions_ensure
from surveys.gatekeeper.send_requests import send_request_screen, send_requests_screen_again
from surveys.gatekeeper.simulations import rule_simulation_run, rule_simulations_resume_stuck


class DeliveryDeferred(Exception):
    """Some invitations of a batch failed for now; the message names the error class only."""


# A database error (a cut connection, a failover) rolled the batch running back: try again, carrying
# on after the last committed batch.
@shared_task(
    acks_late=True,
    autoretry_for=(OSError, OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def screen_send_request_task(send_request_id: int) -> None:
    # A repeated or retried task carries on after the last committed batch, or finds the request
    # screened already and does nothing.
    send_request_screen(send_request_id=send_request_id)


def delivery_backoff(retries: int) -> int:
    """Seconds before retry number `retries` + 1: doubling from DELIVERY_RETRY_BACKOFF up to
    DELIVERY_RETRY_BACKOFF_MAX, with up to 20% jitter so a recovered server is not hit all at once."""
    delay = min(settings.DELIVERY_RETRY_BACKOFF * 2**retries, settings.DELIVERY_RETRY_BACKOFF_MAX)
    return max(1, round(delay * random.uniform(0.8, 1.0)))


# A database error retries the whole batch: what it had claimed is in sending and is not claimed
# again (the sweeper sees to it), so only still-queued invitations are tried, and none twice.
@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=settings.DELIVERY_MAX_ATTEMPTS,
)
def send_invitations_task(self, invitation_ids: list[int]) -> None:
    # Ids no longer queued (sent, claimed by a twin of this task, cancelled) are skipped by the claim.
    outcome = invitations_send_batch(invitation_ids=invitation_ids)
    if outcome.handed_on:
        send_invitations_task.delay(outcome.handed_on)
    if outcome.retry:
        # Past max_retries Celery gives up; the invitations stay queued and the sweeper hands them
        # over again after DELIVERY_HANDOFF_LEASE, until DELIVERY_MAX_ATTEMPTS fails them.
        raise self.retry(
            args=[outcome.retry],
            countdown=delivery_backoff(self.request.retries),
            exc=DeliveryDeferred(f"{len(outcome.retry)} invitations deferred: {outcome.retry_code}"),
        )


@shared_task(acks_late=True)
def dispatch_due_task() -> None:
    invitations_dispatch_due()


@shared_task(acks_late=True)
def sweep_stuck_task() -> None:
    invitations_sweep_stuck()
    send_requests_screen_again()
    rule_simulations_resume_stuck()
    touch_imports_sweep()
    audience_uploads_sweep()


@shared_task(acks_late=True)
def expire_invitations_task() -> None:
    invitations_expire()


@shared_task(acks_late=True)
def send_reminders_task() -> None:
    reminders_send()


@shared_task(acks_late=True)
def release_reservations_task() -> None:
    reservations_release_expired()


@shared_task(acks_late=True)
def decision_partitions_ensure_task() -> None:
    decision_partitions_ensure()


# Late acks: a worker that dies mid-run has its message redelivered, and the run carries on after the
# last batch it stored (surveys/gatekeeper/simulations.py); a finished simulation is left alone.
@shared_task(acks_late=True)
def run_rule_simulation_task(simulation_id: int) -> None:
    rule_simulation_run(simulation_id=simulation_id)


# Late acks: a worker that dies mid-import has its message redelivered, and the job carries on after
# its last committed chunk (surveys/external/imports.py); an ended import is left alone.
@shared_task(acks_late=True, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 60)
def run_touch_import_task(job_id: int) -> None:
    from surveys.external.imports import touch_import_run

    touch_import_run(job_id=job_id)


# Late acks: a worker that dies mid-upload has its message redelivered, and the job carries on after
# its last committed chunk (surveys/gatekeeper/audience_uploads.py); an ended upload is left alone.
@shared_task(acks_late=True, soft_time_limit=4 * 3600, time_limit=4 * 3600 + 60)
def run_audience_upload_task(upload_id: int) -> None:
    audience_upload_run(upload_id=upload_id)
