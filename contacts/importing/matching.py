"""What happens to each row of a chunk, decided from the identities already stored. No database.

A row's identities are looked up among the stored ones and among those claimed by earlier rows of
the same chunk (earlier chunks are stored by then), so rows of one file that name the same person
end on the same contact:

- none known: **created** — a new contact with all of the row's identities;
- all known, one contact: **matched** (by the first identity found);
- some known, one contact: **identities_added** — the unknown ones are added to that contact;
- known, but to different contacts: **conflict** — nothing is written for the row and nothing is
  merged; the conflict is listed for a CX lead.

A matched row's non-empty name, locale, time zone and attributes are written to the contact; a row
that changes nothing there writes nothing, so importing the same file twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    """A contact's importable fields; `changed` holds what the import will write."""

    name: str = ""
    locale: str = ""
    time_zone: str = ""
    attributes: dict = field(default_factory=dict)
    changed: dict = field(default_factory=dict)  # field name → new value
    changed_attributes: dict = field(default_factory=dict)

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


@dataclass(eq=False, slots=True)
class NewContact:
    """A contact this chunk creates; `id` is given once the chunk's ids are allocated."""

    fields: ContactFields
    row_number: int
    id: int | None = None


Owner = int | NewContact  # a stored contact's id, or a contact created earlier in this chunk


@dataclass(slots=True)
class RowPlan:
    row: ImportRow
    outcome: str
    owner: Owner | None = None
    matched_by: RowIdentity | None = None
    added: list[RowIdentity] = field(default_factory=list)
    updated: bool = False
    # For a conflict: each known identity of the row and the contact it belongs to.
    claims: list[tuple[RowIdentity, Owner]] = field(default_factory=list)

    @property
    def contact_id(self) -> int | None:
        return self.owner.id if isinstance(self.owner, NewContact) else self.owner


@dataclass(slots=True)
class ChunkPlan:
    rows: list[RowPlan] = field(default_factory=list)
    new_contacts: list[NewContact] = field(default_factory=list)
    new_identities: list[tuple[Owner, RowIdentity]] = field(default_factory=list)
    # Stored contacts whose fields the chunk changes, by id.
    updates: dict[int, ContactFields] = field(default_factory=dict)


def chunk_plan(
    rows: list[ImportRow], stored: dict[IdentityKey, int], contacts: dict[int, ContactFields]
) -> ChunkPlan:
    """Decide every valid row of a chunk. `stored` maps the rows' known identities to contact ids,
    `contacts` holds those contacts' current fields (they are changed in place)."""
    plan = ChunkPlan()
    claimed: dict[IdentityKey, Owner] = {}  # identities this chunk adds, and to whom
    for row in rows:
        known: list[tuple[RowIdentity, Owner]] = []
        unknown: list[RowIdentity] = []
        owners: list[Owner] = []  # distinct; a NewContact equals only itself
        for identity in row.identities:
            key = identity.key
            owner = stored.get(key)
            if owner is None:
                owner = claimed.get(key)
            if owner is None:
                unknown.append(identity)
            else:
                known.append((identity, owner))
                if owner not in owners:
                    owners.append(owner)
        if len(owners) > 1:
            plan.rows.append(RowPlan(row, Outcome.CONFLICT, claims=known))
            continue
        if not owners:
            owner = NewContact(
                ContactFields(row.name, row.locale, row.time_zone, dict(row.attributes)), row.number
            )
            plan.new_contacts.append(owner)
            row_plan = RowPlan(row, Outcome.CREATED, owner=owner, added=unknown)
        else:
            owner = owners[0]
            outcome = Outcome.IDENTITIES_ADDED if unknown else Outcome.MATCHED
            row_plan = RowPlan(row, outcome, owner=owner, matched_by=known[0][0], added=unknown)
            row_plan.updated = _fields_of(owner, contacts).apply(row)
            if row_plan.updated and not isinstance(owner, NewContact):
                plan.updates[owner] = contacts[owner]
        for identity in unknown:
            claimed[identity.key] = owner
            plan.new_identities.append((owner, identity))
        plan.rows.append(row_plan)
    return plan


def _fields_of(owner: Owner, contacts: dict[int, ContactFields]) -> ContactFields:
    return owner.fields if isinstance(owner, NewContact) else contacts[owner]
