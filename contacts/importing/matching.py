"""What happens to each row of a chunk, decided from the identities already stored. No database.

An import writes the importing department's own view of each person (DepartmentContact), never the
person's shared row, and counts every outcome against the department's own book, so a row tells
the department nothing about who else knows the person.

A row's identities are looked up among the stored ones and among those claimed by earlier rows of
the same chunk (earlier chunks are stored by then), so rows of one file that name the same person
end on the same contact:

- none known: **created** — a new person (with empty shared fields) and the department's view,
  with all of the row's identities;
- known, one person the department has no view of (another department knows them): **created**
  too — the department's new view of that same person (one person for the gatekeeper);
- known, one person the department has a view of: **matched** (by the first identity the department
  supplied), or **identities_added** when the row has identities the department had not supplied,
  even if the person has them through another department;
- known, but to different persons: **conflict** — nothing is written for the row and nothing is
  merged; the conflict is listed for a CX lead.

Every identity of a written row is recorded as supplied by the department (contacts/supplies.py). A
matched row's non-empty name, locale, time zone and attributes are written to the department's
view; a row that changes nothing there writes nothing, so importing the same file twice changes
nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import NamedTuple

from contacts.importing.reading import ImportRow, RowIdentity

IdentityKey = tuple[str, str, str]  # (kind, source, normalised), as Identity's unique constraint


class Outcome:
    CREATED = "created"
    MATCHED = "matched"
    IDENTITIES_ADDED = "identities_added"
    CONFLICT = "conflict"
    INVALID = "invalid"


@dataclass(slots=True)
class ContactFields:
    """A view's importable fields; `changed` holds what the import will write to a stored view."""

    name: str = ""
    locale: str = ""
    time_zone: str = ""
    attributes: dict = field(default_factory=dict)
    changed: dict = field(default_factory=dict)  # field name → new value
    changed_attributes: dict = field(default_factory=dict)

    @classmethod
    def of_row(cls, row: ImportRow) -> ContactFields:
        return cls(row.name, row.locale, row.time_zone, dict(row.attributes))

    def apply(self, row: ImportRow) -> bool:
        """Take the row's non-empty values; return whether any of them differs from what is stored."""
        before = len(self.changed) + len(self.changed_attributes)
        for name in ("name", "locale", "time_zone"):
            value = getattr(row, name)
            if value and value != getattr(self, name):
                setattr(self, name, value)
                self.changed[name] = value
        for key, value in row.attributes.items():
            if self.attributes.get(key) != value:
                self.attributes[key] = value
                self.changed_attributes[key] = value
        return len(self.changed) + len(self.changed_attributes) > before


class StoredIdentity(NamedTuple):
    contact_id: int
    supplied: bool  # by the importing department


class StoredContact(NamedTuple):
    """A stored person a chunk names, and the importing department's view of them, if any."""

    public_id: uuid.UUID
    view_id: int | None
    view: ContactFields | None


@dataclass(eq=False, slots=True)
class Person:
    """A person rows of the chunk name, with the department's view of them as the chunk leaves it.
    Compared by identity: two Person objects are two people."""

    contact_id: int | None  # None for a person this chunk creates, until ids are allocated
    public_id: uuid.UUID | None
    view: ContactFields | None  # None while the department has no view of them
    view_id: int | None = None  # the stored view's id; None for a view this chunk creates
    new_contact: bool = False  # the chunk creates the person, not only the department's view
    row_number: int = 0  # the row that created the person or the department's view of them

    @classmethod
    def stored(cls, contact_id: int, contact: StoredContact) -> Person:
        return cls(contact_id, contact.public_id, contact.view, contact.view_id)


@dataclass(slots=True)
class RowPlan:
    row: ImportRow
    outcome: str
    person: Person | None = None
    matched_by: RowIdentity | None = None
    # The row's identities the department had not supplied before (all of them for a created row).
    added: list[RowIdentity] = field(default_factory=list)
    updated: bool = False
    # For a conflict: each known identity of the row and the person it belongs to.
    claims: list[tuple[RowIdentity, Person]] = field(default_factory=list)


@dataclass(slots=True)
class ChunkPlan:
    rows: list[RowPlan] = field(default_factory=list)
    # New persons, each with the department's new view (person.view).
    new_contacts: list[Person] = field(default_factory=list)
    # Identities nobody had, and the person each is added to; all supplied by the department.
    new_identities: list[tuple[Person, RowIdentity]] = field(default_factory=list)
    # Stored identities the department supplies from now on (it had not supplied them before).
    supplied: list[RowIdentity] = field(default_factory=list)
    # Stored persons whose view the chunk creates or changes, by contact id.
    views: dict[int, Person] = field(default_factory=dict)


def chunk_plan(
    rows: list[ImportRow], identities: dict[IdentityKey, StoredIdentity], contacts: dict[int, StoredContact]
) -> ChunkPlan:
    """Decide every valid row of a chunk. `identities` maps the rows' stored identities to their
    person, `contacts` holds those persons and the department's views of them."""
    plan = ChunkPlan()
    people: dict[int, Person] = {}  # the stored persons the chunk names, by contact id
    claimed: dict[IdentityKey, Person] = {}  # identities this chunk adds, and to whom
    supplied = {key for key, stored in identities.items() if stored.supplied}
    for row in rows:
        known: list[tuple[RowIdentity, Person]] = []
        owners: list[Person] = []
        added: list[RowIdentity] = []  # the row's identities the department had not supplied
        for identity in row.identities:
            key = identity.key
            if key not in supplied:
                added.append(identity)
            stored = identities.get(key)
            if stored is None:
                person = claimed.get(key)
            else:
                person = people.get(stored.contact_id)
                if person is None:
                    person = people[stored.contact_id] = Person.stored(
                        stored.contact_id, contacts[stored.contact_id]
                    )
            if person is not None:
                known.append((identity, person))
                if person not in owners:
                    owners.append(person)
        if len(owners) > 1:
            plan.rows.append(RowPlan(row, Outcome.CONFLICT, claims=known))
            continue
        row_plan = _row_written(plan, row, owners[0] if owners else None, known, added, supplied)
        person = row_plan.person
        for identity in added:
            key = identity.key
            supplied.add(key)
            if key in identities:
                plan.supplied.append(identity)
            else:
                claimed[key] = person
                plan.new_identities.append((person, identity))
        plan.rows.append(row_plan)
    return plan


def _row_written(
    plan: ChunkPlan,
    row: ImportRow,
    person: Person | None,
    known: list[tuple[RowIdentity, Person]],
    added: list[RowIdentity],
    supplied: set[IdentityKey],
) -> RowPlan:
    """The plan of a row that names at most one person: a new person, a new view, or a match."""
    if person is None:
        person = Person(None, None, ContactFields.of_row(row), new_contact=True, row_number=row.number)
        plan.new_contacts.append(person)
        return RowPlan(row, Outcome.CREATED, person, added=added)
    if person.view is None:
        # Known to other departments only: new to this one, which is shown nothing of theirs.
        person.view, person.row_number = ContactFields.of_row(row), row.number
        plan.views[person.contact_id] = person
        return RowPlan(row, Outcome.CREATED, person, added=added)
    outcome = Outcome.IDENTITIES_ADDED if added else Outcome.MATCHED
    matched_by = next((identity for identity, _ in known if identity.key in supplied), known[0][0])
    row_plan = RowPlan(row, outcome, person, matched_by=matched_by, added=added)
    row_plan.updated = person.view.apply(row)
    if row_plan.updated and not person.new_contact:
        plan.views[person.contact_id] = person
    return row_plan
