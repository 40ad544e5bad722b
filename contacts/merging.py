"""Moving what one record of a person holds to another, and back: the rows of a merge.

Found by the models' own metadata, not by a list: every table with a foreign key to a contact, in
whatever app, so the contact book knows nothing about surveys and a table added later moves too.
A row moves unless it would break a unique constraint with a row the survivor already holds (the
person invited twice by one request, once under each record): such rows stay with the absorbed
record and are counted apart. What moved is listed by table and id, so an unmerge moves exactly
those rows back and nothing the survivor gained since.

Department views are the one table folded rather than moved: a department that knew both records
keeps one view, the survivor's, with the blanks filled from the other; both are kept as they were
for the unmerge. The callers (surveys/merges.py) hold the locks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Exists, OuterRef

from contacts.models import Contact, ContactMerge, DepartmentContact, DuplicateSuggestion

# The merge's own bookkeeping points at contacts too, and is not the person's data.
NOT_MOVED = {ContactMerge, DuplicateSuggestion, Contact}


# The fields of a person's record and of a department's view that a merge fills in when blank.
OWN_FIELDS = ("name", "locale", "time_zone")
VIEW_FIELDS = ("name", "locale", "time_zone", "notes")


@dataclass
class Moves:
    """What a merge moved ("app.model.field" → ids) and what stayed with the absorbed record."""

    moved: dict[str, list[int]] = field(default_factory=dict)
    kept_apart: dict[str, int] = field(default_factory=dict)


def contact_relations() -> list[tuple[type[models.Model], models.ForeignKey]]:
    """Every (model, foreign key) that points at a contact and holds the person's data."""
    # include_hidden: most history tables point at contacts with related_name="+".
    return [
        (relation.related_model, relation.field)
        for relation in Contact._meta.get_fields(include_hidden=True)
        if relation.one_to_many and relation.auto_created and relation.related_model not in NOT_MOVED
    ]


def relation_label(model: type[models.Model], foreign_key: models.ForeignKey) -> str:
    return f"{model._meta.label_lower}.{foreign_key.name}"


def rows_move(*, survivor: Contact, absorbed: Contact) -> Moves:
    """Point every row of the absorbed record at the survivor, but rows a unique constraint keeps
    apart. Views must have been folded first (views_fold)."""
    moves = Moves()
    for model, foreign_key in contact_relations():
        rows = model._base_manager.filter(**{foreign_key.name: absorbed})
        apart = _kept_apart(model, foreign_key, rows, survivor)
        ids = list(rows.exclude(pk__in=apart.values("pk")).order_by("pk").values_list("pk", flat=True))
        label = relation_label(model, foreign_key)
        if ids:
            model._base_manager.filter(pk__in=ids).update(**{foreign_key.name: survivor})
            moves.moved[label] = ids
        if count := apart.count():
            moves.kept_apart[label] = count
    return moves


def rows_move_back(*, moved: dict[str, list[int]], survivor: Contact, absorbed: Contact) -> None:
    """Undo rows_move: the listed rows that still point at the survivor point at the absorbed again."""
    relations = {relation_label(model, fk): (model, fk) for model, fk in contact_relations()}
    for label, ids in moved.items():
        model, foreign_key = relations[label]
        model._base_manager.filter(pk__in=ids, **{foreign_key.name: survivor}).update(
            **{foreign_key.name: absorbed}
        )


def rows_to_move(*, absorbed: Contact) -> dict[str, int]:
    """What rows_move would point at the survivor, counted by table: for a preview."""
    counts = {}
    for model, foreign_key in contact_relations():
        if count := model._base_manager.filter(**{foreign_key.name: absorbed}).count():
            counts[relation_label(model, foreign_key)] = count
    return counts


def rows_kept_apart(*, survivor: Contact, absorbed: Contact) -> dict[str, int]:
    """What rows_move would leave with the absorbed record, counted by table: for a preview."""
    counts = {}
    for model, foreign_key in contact_relations():
        rows = model._base_manager.filter(**{foreign_key.name: absorbed})
        if count := _kept_apart(model, foreign_key, rows, survivor).count():
            counts[relation_label(model, foreign_key)] = count
    return counts


def _kept_apart(
    model: type[models.Model], foreign_key: models.ForeignKey, rows: models.QuerySet, survivor: Contact
) -> models.QuerySet:
    """The rows that a unique constraint over the foreign key forbids the survivor to hold."""
    apart = model._base_manager.none()
    for constraint in model._meta.constraints:
        if not isinstance(constraint, models.UniqueConstraint) or foreign_key.name not in constraint.fields:
            continue
        others = [name for name in constraint.fields if name != foreign_key.name]
        condition = constraint.condition or models.Q()
        twin = model._base_manager.filter(
            condition, **{foreign_key.name: survivor}, **{name: OuterRef(name) for name in others}
        )
        apart = apart | rows.filter(condition).filter(Exists(twin))
    return apart


def views_fold(*, survivor: Contact, absorbed: Contact) -> list[dict]:
    """Fold the views of departments that knew both records into the survivor's, and delete the
    absorbed one's. Returns both views of each such department as they were, for views_unfold."""
    survivor_views = {view.department_id: view for view in DepartmentContact.objects.filter(contact=survivor)}
    folded = []
    for theirs in DepartmentContact.objects.filter(contact=absorbed, department_id__in=survivor_views):
        ours = survivor_views[theirs.department_id]
        folded.append({"kept": _row(ours), "removed": _row(theirs)})
        for name in VIEW_FIELDS:
            if not getattr(ours, name):
                setattr(ours, name, getattr(theirs, name))
        ours.attributes = {**theirs.attributes, **ours.attributes}
        ours.created_at = min(ours.created_at, theirs.created_at)
        ours.save()
        theirs.delete()
    return folded


def views_unfold(*, folded: list[dict]) -> None:
    """Undo views_fold: the kept views as they were, the removed ones back with their ids."""
    for pair in folded:
        kept = dict(pair["kept"])
        DepartmentContact.objects.filter(pk=kept.pop("id")).update(**kept)
        DepartmentContact.objects.create(**pair["removed"])


def own_fields_fill(*, survivor: Contact, absorbed: Contact) -> dict:
    """Fill the survivor's blank own fields from the absorbed record's; the person was known
    from the earlier of the two. Returns the survivor's fields as they were."""
    before = _exact(
        {name: getattr(survivor, name) for name in (*OWN_FIELDS, "attributes", "created_at", "updated_at")}
    )
    filled = {name: getattr(absorbed, name) for name in OWN_FIELDS if not getattr(survivor, name)}
    # update(), not save(): updated_at stays as it was, so an unmerge gives back exactly the row.
    Contact.objects.filter(pk=survivor.pk).update(
        **filled,
        attributes={**absorbed.attributes, **survivor.attributes},
        created_at=min(survivor.created_at, absorbed.created_at),
    )
    return before


def _row(view: DepartmentContact) -> dict:
    return _exact({f.attname: getattr(view, f.attname) for f in DepartmentContact._meta.concrete_fields})


def _exact(values: dict) -> dict:
    """Values a JSON field keeps exactly: times to the microsecond (Django's JSON encoder keeps
    milliseconds, and an unmerge must give back the very value)."""
    return {
        name: value.isoformat() if isinstance(value, dt.datetime) else value for name, value in values.items()
    }
