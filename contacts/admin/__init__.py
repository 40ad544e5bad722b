"""The contact book in the admin, scoped by role (Django's autodiscovery imports this package).

A department owner sees the contacts their departments know (a DepartmentContact row), and of each
contact only their own departments' links and consent records (plus every-department ones); a CX
lead sees everything.

- contacts.py: the contact list and page, and the add form.
- identities.py: identities typed as given and normalised on save; the normalised form is never
  edited by hand.
- consent.py: append-only consent, recorded through the contact page's inline, and its history.
- imports.py: imports and their issues, as history.
- import_pages.py: the CSV import's pages (upload, preview, confirm, result).
"""

from contacts.admin import consent, contacts, identities, import_pages, imports

__all__ = ["consent", "contacts", "identities", "import_pages", "imports"]
