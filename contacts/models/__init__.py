"""The contact book: one row per real person, the identities that name them, who knows them, what
they said about being contacted, imports, and merges of two records of one person. Knows nothing
about surveys."""

from contacts.models.accounts import Account, DepartmentAccount
from contacts.models.consent import Consent
from contacts.models.imports import ContactImport, ContactImportIssue
from contacts.models.merges import ContactMerge, DuplicateSearch, DuplicateSuggestion
from contacts.models.people import (
    CHANNEL_IDENTITY_KIND,
    Channel,
    Contact,
    DepartmentContact,
    DepartmentIdentity,
    ErasedIdentity,
    Identity,
    available_time_zones,
    validate_time_zone,
)

__all__ = [
    "CHANNEL_IDENTITY_KIND",
    "Account",
    "Channel",
    "Consent",
    "Contact",
    "ContactImport",
    "ContactImportIssue",
    "ContactMerge",
    "DepartmentAccount",
    "DepartmentContact",
    "DepartmentIdentity",
    "DuplicateSearch",
    "DuplicateSuggestion",
    "ErasedIdentity",
    "Identity",
    "available_time_zones",
    "validate_time_zone",
]
