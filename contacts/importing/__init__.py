"""Importing contacts from CSV (admin, API, `manage.py import_contacts`).

- reading.py: encoding, delimiter, header, records — no database;
- rows.py: each record checked into a row (identities normalised, phone regions) — no database;
- matching.py: what happens to each row of a chunk — no database;
- outcomes.py: counts, issues and per-row report lines from a decided chunk — no database;
- parallel.py: reading a large file's rows on several cores;
- writing.py: the set-based SQL for one chunk;
- services.py: contact_import_run / contact_import_preview / contact_import_confirm.
"""

from contacts.errors import ContactImportFailed, ImportFileRejected
from contacts.importing.outcomes import ImportIssue
from contacts.importing.reading import ALLOWED_COLUMNS
from contacts.importing.services import (
    ContactImportResult,
    contact_import_confirm,
    contact_import_preview,
    contact_import_run,
)

__all__ = [
    "ALLOWED_COLUMNS",
    "ContactImportFailed",
    "ContactImportResult",
    "ImportFileRejected",
    "ImportIssue",
    "contact_import_confirm",
    "contact_import_preview",
    "contact_import_run",
]
