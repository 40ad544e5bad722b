"""Celery tasks of the contact book: thin wrappers around one service each."""

from celery import shared_task

from contacts.duplicates.services import duplicate_search_run
from contacts.importing.housekeeping import import_files_purge
from contacts.importing.jobs import contact_import_job_run, contact_import_jobs_sweep


@shared_task
def import_files_purge_task() -> None:
    import_files_purge()


# A whole-book search of a large book outlasts the default limits (300 s): it saves its progress as
# it goes, and a second delivery while it runs leaves at once (services.duplicate_search_run).
DUPLICATE_SEARCH_SOFT_LIMIT = 4 * 3600


@shared_task(
    acks_late=True, soft_time_limit=DUPLICATE_SEARCH_SOFT_LIMIT, time_limit=DUPLICATE_SEARCH_SOFT_LIMIT + 60
)
def run_duplicate_search_task(search_id: int) -> None:
    duplicate_search_run(search_id=search_id)


# A 300,000-row import takes minutes, far past the default limits (300 s); a second delivery while it
# runs leaves at once, and one after its worker died resumes it (contacts/importing/jobs.py).
CONTACT_IMPORT_SOFT_LIMIT = 4 * 3600


@shared_task(
    acks_late=True, soft_time_limit=CONTACT_IMPORT_SOFT_LIMIT, time_limit=CONTACT_IMPORT_SOFT_LIMIT + 60
)
def run_contact_import_task(import_id: int) -> None:
    contact_import_job_run(import_id=import_id)


@shared_task
def sweep_contact_imports_task() -> None:
    contact_import_jobs_sweep()
