"""The contacts app's errors: each a named ApplicationError that the API's one handler
(cxfeedback/exceptions.py) turns into `{"code", "message", "extra"}` with its HTTP status."""

from __future__ import annotations

from rest_framework import status

from contacts.models import (
    ContactImport,
)
from cxfeedback.exceptions import ApplicationError, Conflict


class InvalidContact(ApplicationError):
    code = "invalid"


class IdentityConflict(Conflict):
    code = "identity_conflict"


class InvalidConsent(ApplicationError):
    code = "invalid"


class ConsentScopeForbidden(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "consent_scope_forbidden"


class ContactImportFailed(ApplicationError):
    """The import stopped at a chunk the database refused; the chunks before it are imported."""

    status_code = 500
    code = "import_failed"

    def __init__(self, message: str, *, contact_import: ContactImport):
        super().__init__(message, extra={"import_id": contact_import.pk, "counts": contact_import.counts})
        self.contact_import = contact_import


class ImportFileRejected(ApplicationError):
    """The whole file cannot be imported (nothing was written); the message says what to fix."""

    code = "import_file_rejected"


class ImportJobRefused(Conflict):
    """The import cannot do that in its state: cancel one that ended, resume one that did not fail."""

    code = "import_job_refused"


class InvalidIdentity(ApplicationError):
    code = "invalid_identity"


class InvalidPhoneRegion(ApplicationError):
    """A phone region (of an import, a department or an upsert) phonenumbers does not know."""

    code = "invalid_phone_region"


class InvalidMergeProposal(ApplicationError):
    code = "invalid"


class DuplicateSearchForbidden(ApplicationError):
    """Duplicate searches and their suggestions compare every department's customers: CX leads only."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "duplicate_search_forbidden"


class DuplicateSearchRefused(Conflict):
    code = "duplicate_search_refused"


class SuggestionAlreadyReviewed(Conflict):
    code = "suggestion_already_reviewed"
