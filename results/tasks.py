"""Celery tasks of the results app: thin wrappers around one service each."""

from celery import shared_task

from results.services.export_jobs import export_job_run, export_jobs_sweep
from results.services.rollups import daily_rollups_refresh


@shared_task(acks_late=True)
def refresh_rollups_task() -> None:
    """Roll up the days that finished since the last run; safe to repeat (an advisory lock and the
    rollup state make a second run a no-op)."""
    daily_rollups_refresh()


# A million-response export takes minutes, past the default limits (300 s); a second delivery while
# it runs leaves at once, one after its worker died resumes it (results/services/export_jobs.py).
EXPORT_JOB_SOFT_LIMIT = 4 * 3600


@shared_task(acks_late=True, soft_time_limit=EXPORT_JOB_SOFT_LIMIT, time_limit=EXPORT_JOB_SOFT_LIMIT + 60)
def run_export_job_task(job_id: int) -> None:
    export_job_run(job_id=job_id)


@shared_task
def sweep_export_jobs_task() -> None:
    export_jobs_sweep()
