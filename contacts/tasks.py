"""Celery tasks of the contact book: thin wrappers around one service each."""

from celery import shared_task

from contacts.importing.housekeeping import import_files_purge


@shared_task
def import_files_purge_task() -> None:
    import_files_purge()
