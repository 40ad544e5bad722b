"""Celery tasks of the results app: thin wrappers around one service each."""

from celery import shared_task

from results.services.rollups import daily_rollups_refresh


@shared_task(acks_late=True)
def refresh_rollups_task() -> None:
    """Roll up the days that finished since the last run; safe to repeat (an advisory lock and the
    rollup state make a second run a no-op)."""
    daily_rollups_refresh()
