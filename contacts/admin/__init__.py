"""The contact book in the admin, scoped by role (Django's autodiscovery imports this package).

A department owner sees the people their departments know (a DepartmentContact row, the
department's view), and of each only their own departments' views, the identities their
departments supplied and the consent records concerning them; a CX lead sees everything.

- contacts.py: the contact list and page (the departments' views inline, edited there).
- contact_add.py: the "Add contact" page, through contacts.services.contact_upsert.
- search.py: finding rows by their contact as the user sees the contact (used by every admin
  whose rows name a contact).
- identities.py: identities typed as given and normalised on save; the normalised form is never
  edited by hand; an owner's are recorded as supplied by their departments.
- consent.py: append-only consent, recorded through the contact page's inline, and its history.
- imports.py: imports and their issues, as history.
- import_pages.py: the CSV import's pages (upload, preview, confirm, result).
- accounts.py: companies and households, with how many of the user's contacts are in each.
- duplicates.py: duplicate searches and their suggestions, for CX leads (review, accept, reject).
"""

from contacts.admin import accounts, consent, contacts, duplicates, identities, import_pages, imports

__all__ = ["accounts", "consent", "contacts", "duplicates", "identities", "import_pages", "imports"]
