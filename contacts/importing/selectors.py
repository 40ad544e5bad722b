"""Reading contact imports for the one who asks: another department's import is a 404, so its id
says nothing."""

from __future__ import annotations

from contacts.models import ContactImport, ContactImportIssue
from cxfeedback.exceptions import NotFound
from departments.actors import Actor


def contact_import_get(*, actor: Actor, import_id: int) -> ContactImport:
    """The import with its department; raises NotFound unless the actor sees its department."""
    contact_import = ContactImport.objects.select_related("department").filter(pk=import_id).first()
    if contact_import is None or not actor.sees_department(contact_import.department_id):
        raise NotFound("No such import.")
    return contact_import


def contact_import_issues_first(contact_import: ContactImport, *, limit: int) -> list[ContactImportIssue]:
    """The first `limit` issues of the import, in row order."""
    return list(contact_import.issues.order_by("row_number", "pk")[:limit])
