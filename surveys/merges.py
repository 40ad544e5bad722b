"""Merging two records of one person, and unmerging them (issue 13): a CX lead's decision, which a
department owner may propose.

A merge moves everything the absorbed record holds to the survivor (contacts/merging.py: its
identities, department views, consent, audience rows, decisions, invitations, answers), so the
frequency rules see one history from then on. Two open invitations to one survey cannot both stay
with one person: the one not yet sent is cancelled ("the person already had one"); two already sent
stay apart, each with its record. Nothing sent is ever cancelled, so a merge can leave the person
over a rule: the preview says so before the CX lead confirms, and the merge records it.

Race-free with every decider: a merge takes the identity locks of both records, then both contacts'
rows, then their stripes (the lock order of surveys/gatekeeper/locks.py), so a screening or trigger
that counts either record's touches decides wholly before or wholly after it.

An unmerge gives each side back exactly what it had: the rows that moved move back, the views and
the survivor's fields the merge filled in are as they were, and the invitations it cancelled are
queued again. What the survivor gained after the merge stays with the survivor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import audit_record
from contacts.locks import identities_lock, identity_lock_key
from contacts.merging import (
    Moves,
    own_fields_fill,
    rows_kept_apart,
    rows_move,
    rows_move_back,
    rows_to_move,
    views_fold,
    views_unfold,
)
from contacts.models import Contact, ContactMerge, DepartmentContact, DuplicateSuggestion, Identity
from contacts.selectors import contact_get
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from departments.models import Department
from surveys.delivery.invitation_status import invitations_cancel_for_merge, invitations_uncancel_for_merge
from surveys.errors import MergeForbidden, MergeRefused
from surveys.gatekeeper.active_rules import rule_from_model
from surveys.gatekeeper.locks import lock_contacts
from surveys.gatekeeper.rules import Touch, rule_peak
from surveys.models import FrequencyRule, Invitation


@dataclass(frozen=True)
class RuleExceeded:
    rule_id: int
    name: str
    touches: int
    limit: int
    window_days: float

    def describe(self) -> str:
        return (
            f"{self.name}: {self.touches} touches in one {self.window_days:g}-day window, "
            f"{self.limit} allowed"
        )


@dataclass(frozen=True)
class MergePreview:
    """What a merge would do, for the CX lead to read before confirming."""

    survivor: Contact
    absorbed: Contact
    moves: dict[str, int]  # "app.model.field" → rows that would move
    shared_departments: list[str]  # departments that knew both records: their views fold into one
    invitations_cancelled: int  # the person's second open invitation to a survey, not yet sent
    kept_apart: dict[str, int] = field(default_factory=dict)  # rows a unique constraint keeps apart
    over_rules: list[RuleExceeded] = field(default_factory=list)


def contact_merge_preview(*, actor: Actor, survivor_id: int, absorbed_id: int) -> MergePreview:
    """What merging `absorbed_id` into `survivor_id` would move, fold, cancel and exceed. Writes
    nothing. Raises MergeForbidden (403) unless a CX lead, NotFound, MergeRefused (400)."""
    survivor, absorbed = _pair_get(actor=actor, survivor_id=survivor_id, absorbed_id=absorbed_id)
    shared = Department.objects.filter(
        contact_links__contact=survivor,
        pk__in=DepartmentContact.objects.filter(contact=absorbed).values("department"),
    ).order_by("name")
    cancelled = len(_second_open_invitations(survivor=survivor, absorbed=absorbed))
    return MergePreview(
        survivor=survivor,
        absorbed=absorbed,
        moves=rows_to_move(absorbed=absorbed),
        shared_departments=[department.name for department in shared],
        invitations_cancelled=cancelled,
        kept_apart=rows_kept_apart(survivor=survivor, absorbed=absorbed),
        over_rules=_rules_exceeded(contact_ids=[survivor.pk, absorbed.pk]),
    )


def contact_merge(
    *,
    actor: Actor,
    survivor_id: int,
    absorbed_id: int,
    reason: str,
    suggestion_id: int | None = None,
    now: dt.datetime | None = None,
) -> ContactMerge:
    """Merge record `absorbed_id` into `survivor_id` (see the module's note), record who, when and
    why, mark the suggestion accepted, write an audit entry. Raises MergeForbidden (403) unless a
    CX lead, NotFound, MergeRefused (400) for a record merged already, the same record twice or no
    reason."""
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise MergeRefused("reason: say why these two records are one person.", extra={"field": "reason"})
    _pair_get(actor=actor, survivor_id=survivor_id, absorbed_id=absorbed_id)
    with transaction.atomic():
        survivor, absorbed = _pair_lock(survivor_id=survivor_id, absorbed_id=absorbed_id)
        moves, before = _records_join(survivor=survivor, absorbed=absorbed, now=now)
        merge = ContactMerge.objects.create(
            survivor=survivor,
            absorbed=absorbed,
            merged_by_id=actor.user_id,
            reason=reason,
            moved=moves.moved,
            before=before,
            over_rules=[vars(exceeded) for exceeded in _rules_exceeded(contact_ids=[survivor.pk])],
            suggestion_id=suggestion_id,
            created_at=now,
        )
        _suggestions_settle(survivor=survivor, absorbed=absorbed, merge=merge, actor=actor, now=now)
        audit_record(
            action=AuditEntry.Action.CONTACTS_MERGED,
            obj=merge,
            actor=actor,
            summary=f"contact {absorbed.pk} merged into contact {survivor.pk}",
            details={
                "moved": {label: len(ids) for label, ids in moves.moved.items()},
                "over_rules": merge.over_rules,
            },
        )
    return merge


def contact_unmerge(*, actor: Actor, merge_id: int, now: dt.datetime | None = None) -> ContactMerge:
    """Give each record back what it had before merge `merge_id` (see the module's note), write an
    audit entry. Raises NotFound unless a CX lead (a department learns nothing of merges) or when
    there is no such merge, MergeRefused (400) when it was undone already or the survivor has since
    been merged away itself."""
    if not actor.is_cx_lead:
        # Merges are not a department's to see: "not found", whether or not the merge exists.
        raise NotFound(f"Merge {merge_id} not found.")
    now = now or timezone.now()
    with transaction.atomic():
        merge = ContactMerge.objects.select_for_update().filter(pk=merge_id).first()
        if merge is None:
            raise NotFound(f"Merge {merge_id} not found.")
        if merge.unmerged_at is not None:
            raise MergeRefused(f"Merge {merge_id} was undone already.", extra={"merge": merge_id})
        survivor, absorbed = _pair_lock(
            survivor_id=merge.survivor_id, absorbed_id=merge.absorbed_id, unmerging=True
        )
        if survivor.merged_into_id is not None:
            raise MergeRefused(
                "The surviving record has been merged into another since: unmerge that merge first.",
                extra={"merge": merge_id},
            )
        rows_move_back(moved=merge.moved, survivor=survivor, absorbed=absorbed)
        views_unfold(folded=merge.before.get("views", []))
        Contact.objects.filter(pk=survivor.pk).update(**merge.before["survivor"])
        Contact.objects.filter(pk=absorbed.pk).update(merged_into=None)
        invitations_uncancel_for_merge(invitation_ids=merge.before.get("cancelled_invitations", []), now=now)
        merge.unmerged_at, merge.unmerged_by_id = now, actor.user_id
        merge.save(update_fields=["unmerged_at", "unmerged_by"])
        audit_record(
            action=AuditEntry.Action.CONTACTS_UNMERGED,
            obj=merge,
            actor=actor,
            summary=f"contact {absorbed.pk} split off contact {survivor.pk} again",
            details={"survivor": survivor.pk, "absorbed": absorbed.pk},
        )
    return merge


def _records_join(*, survivor: Contact, absorbed: Contact, now: dt.datetime) -> tuple[Moves, dict]:
    """Everything of the absorbed record moved to the survivor, under the caller's locks. Returns
    the moves and what the merge changed as it was, for the unmerge."""
    cancelled = invitations_cancel_for_merge(
        invitation_ids=_second_open_invitations(survivor=survivor, absorbed=absorbed), now=now
    )
    folded = views_fold(survivor=survivor, absorbed=absorbed)
    own_before = own_fields_fill(survivor=survivor, absorbed=absorbed)
    moves = rows_move(survivor=survivor, absorbed=absorbed)
    # update(), not save(): the record's own updated_at stays as it was, so an unmerge can give
    # back exactly what it had.
    Contact.objects.filter(pk=absorbed.pk).update(merged_into=survivor)
    before = {
        "survivor": own_before,
        "views": folded,
        "cancelled_invitations": cancelled,
        "kept_apart": moves.kept_apart,
    }
    return moves, before


def _pair_get(*, actor: Actor, survivor_id: int, absorbed_id: int) -> tuple[Contact, Contact]:
    if not actor.is_cx_lead:
        raise MergeForbidden("Only a CX lead may merge contacts; a department owner may propose a merge.")
    if survivor_id == absorbed_id:
        raise MergeRefused("Choose two different contacts to merge.", extra={"contacts": [survivor_id]})
    survivor = contact_get(actor=actor, contact_id=survivor_id)
    absorbed = contact_get(actor=actor, contact_id=absorbed_id)
    for contact in (survivor, absorbed):
        if contact.merged_into_id is not None:
            raise MergeRefused(
                f"{contact} was merged into another contact already; merge that one instead.",
                extra={"contact": str(contact.public_id)},
            )
    return survivor, absorbed


def _pair_lock(*, survivor_id: int, absorbed_id: int, unmerging: bool = False) -> tuple[Contact, Contact]:
    """Both records locked in the project's lock order, re-read under the locks.

    The races: an upsert or import adding an identity to either record while it moves (identity
    locks, then the rows); a screening or trigger counting either record's touches while they move
    (their stripes, after the rows).
    """
    ids = sorted({survivor_id, absorbed_id})
    identities = Identity.objects.filter(contact_id__in=ids).values_list("kind", "source", "normalised")
    identities_lock(identity_lock_key(*identity) for identity in identities)
    contacts = {
        contact.pk: contact
        for contact in Contact.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    lock_contacts(ids)
    survivor, absorbed = contacts[survivor_id], contacts[absorbed_id]
    if not unmerging and (survivor.merged_into_id or absorbed.merged_into_id):
        raise MergeRefused("One of these contacts was merged into another a moment ago.")
    return survivor, absorbed


def _second_open_invitations(*, survivor: Contact, absorbed: Contact) -> list[int]:
    """The person's second open invitation to one survey, for each survey both records have one
    open for: the absorbed record's unless only the survivor's is still unsent. Both sent: none."""
    open_invitations = Invitation.objects.filter(contact__in=[survivor, absorbed], status__in=Invitation.OPEN)
    by_survey: dict[int, dict[int, Invitation]] = {}
    for invitation in open_invitations.only("pk", "contact_id", "survey_family_id", "status"):
        by_survey.setdefault(invitation.survey_family_id, {})[invitation.contact_id] = invitation
    second = []
    for pair in by_survey.values():
        if len(pair) < 2:
            continue
        theirs, ours = pair[absorbed.pk], pair[survivor.pk]
        if theirs.status == Invitation.Status.QUEUED:
            second.append(theirs.pk)
        elif ours.status == Invitation.Status.QUEUED:
            second.append(ours.pk)
    return second


def _rules_exceeded(*, contact_ids: list[int]) -> list[RuleExceeded]:
    """The active rules that the counted touches of these records, taken as one person's, exceed."""
    counted = Invitation.objects.filter(contact_id__in=contact_ids).exclude(status__in=Invitation.NOT_COUNTED)
    touches = [
        Touch(**row)
        for row in counted.values("touched_at", "department_id", "survey_kind", "channel", "responded_at")
    ]
    if not touches:
        return []
    exceeded = []
    for model in FrequencyRule.objects.filter(is_active=True).order_by("pk"):
        rule = rule_from_model(model)
        if (peak := rule_peak(rule, touches)) > rule.max_touches:
            exceeded.append(
                RuleExceeded(
                    rule_id=rule.id,
                    name=model.name,
                    touches=peak,
                    limit=rule.max_touches,
                    window_days=rule.window / dt.timedelta(days=1),
                )
            )
    return exceeded


def _suggestions_settle(
    *, survivor: Contact, absorbed: Contact, merge: ContactMerge, actor: Actor, now: dt.datetime
) -> None:
    """The pair's suggestion is accepted, unless a CX lead had rejected it. Suggestions naming the
    absorbed record with someone else stay open: accepting one is refused (it names an empty
    record), and the next duplicate search finds the survivor instead."""
    first, second = sorted((survivor.pk, absorbed.pk))
    DuplicateSuggestion.objects.filter(first_id=first, second_id=second).exclude(
        status=DuplicateSuggestion.Status.REJECTED
    ).update(status=DuplicateSuggestion.Status.ACCEPTED, reviewed_by_id=actor.user_id, reviewed_at=now)
