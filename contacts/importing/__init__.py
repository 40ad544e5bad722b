"""Importing contacts from CSV (admin, API, `manage.py import_contacts`).

- reading.py: encoding, delimiter, header, records — no database;
- rows.py: each record checked into a row (identities normalised, phone regions) — no database;
- matching.py: what happens to each row of a chunk — no database;
- outcomes.py: counts, issues and per-row report lines from a decided chunk — no database;
- parallel.py: reading a large file's rows on several cores;
- writing.py: the set-based SQL for one chunk;
- services.py: contact_import_run (the command line; and the run a job resumes);
- jobs.py: the admin's and the API's imports as background jobs (queue, confirm, cancel, resume, sweep);
- selectors.py: an import for the one who asks.
"""

from contacts.errors import ContactImportFailed, ImportFileRejected
from contacts.importing.jobs import (
    contact_import_cancel,
    contact_import_confirm,
    contact_import_queue,
    contact_import_resume,
)
from contacts.importing.outcomes import ImportIssue
from contacts.importing.reading import ALLOWED_COLUMNS
from contacts.importing.services import ContactImportResult, contact_import_run

__all__ = [
    "ALLOWED_COLUMNS",
    "ContactImportFailed",
    "ContactImportResult",
    "ImportFileRejected",
    "ImportIssue",
    "contact_import_cancel",
    "contact_import_confirm",
    "contact_import_queue",
    "contact_import_resume",
    "contact_import_run",
]
