"""Overrides: a CX lead lets one send request, or named contacts in it, past a frequency rule (one
rule, or every rule), with a reason and the approval of a second CX lead (issue 15).

An override is requested and approved while its request is a draft or waits for its screening, and
is applied by that screening: after screen() and priority arbitration (send_requests.py), in the same
transaction and under every stripe, `overrides_apply` turns the decisions refused by an overridden
rule into allowed ones and queues their invitations. Only blocks by a frequency rule are lifted:
opt-outs, snoozes and missing addresses never are. The decision keeps a marker: it names the
override (`Decision.override`) and reads as allowed. The invitations are ordinary ones, so the touches
count for every later send, of any department, under every rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import audit_record
from contacts.models import Contact, DepartmentContact
from cxfeedback.exceptions import NotFound
from departments.actors import Actor
from surveys.errors import InvalidOverride, OverrideForbidden
from surveys.gatekeeper import screening
from surveys.gatekeeper.displacement import TOUCH_FIELDS
from surveys.gatekeeper.rules import ALLOWED, Rule, Send, Touch, Verdict, rules_verdict
from surveys.models import (
    OVERRIDE_REASON_MAX_LENGTH,
    Decision,
    FrequencyRule,
    Invitation,
    Override,
    Reason,
    SendRequest,
)

# Once screened, the request's decisions are made: an override can only change what is still to decide.
OPEN_STATUSES = (SendRequest.Status.DRAFT, SendRequest.Status.SUBMITTED)


def override_actor_check(actor: Actor, doing: str) -> None:
    """Raises OverrideForbidden unless `actor` is a CX lead signed in as a person."""
    if not actor.is_cx_lead or actor.user_id is None:
        raise OverrideForbidden(f"Only a CX lead can {doing} an override of a frequency rule.")


def _request_lock(send_request: SendRequest) -> SendRequest:
    """The request's row, locked (lock order 3, as send_request_screen takes it), still open.

    Race: an override approved while the request is screened. Whoever locks the row first wins: the
    screening then either reads the committed approval or has already moved the request on, and the
    approval is refused rather than silently never applied.
    """
    locked = SendRequest.objects.select_for_update(of=("self",)).get(pk=send_request.pk)
    _open_check(locked)
    return locked


def _open_check(send_request: SendRequest) -> None:
    if send_request.status not in OPEN_STATUSES:
        raise InvalidOverride(
            f"A {send_request.get_status_display().lower()} send request is decided already: an override "
            "applies only before its screening.",
            extra={"status": send_request.status},
        )


def _reason_clean(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidOverride("reason: say why this request may go past the rule.", extra={"field": "reason"})
    if len(reason) > OVERRIDE_REASON_MAX_LENGTH:
        raise InvalidOverride(
            f"reason: at most {OVERRIDE_REASON_MAX_LENGTH} characters.", extra={"field": "reason"}
        )
    return reason


def _contacts_check(send_request: SendRequest, contacts: Sequence[Contact]) -> None:
    known = set(
        DepartmentContact.objects.filter(
            department_id=send_request.department_id, contact__in=contacts
        ).values_list("contact_id", flat=True)
    )
    if any(contact.pk not in known for contact in contacts):
        raise InvalidOverride(
            "contacts: every contact named must be one the request's department knows.",
            extra={"field": "contacts"},
        )


def override_request_check(
    *, actor: Actor, send_request: SendRequest, reason: str, contacts: Sequence[Contact] = ()
) -> str:
    """What override_request checks before writing (the admin's form asks too): returns the reason,
    trimmed. Raises OverrideForbidden, InvalidOverride."""
    override_actor_check(actor, "request")
    reason = _reason_clean(reason)
    _open_check(send_request)
    _contacts_check(send_request, contacts)
    return reason


@transaction.atomic
def override_request(
    *,
    actor: Actor,
    send_request: SendRequest,
    reason: str,
    rule: FrequencyRule | None = None,
    contacts: Sequence[Contact] = (),
    now: dt.datetime | None = None,
) -> Override:
    """Ask to let `send_request` (or only `contacts` in it) past `rule` (None: every rule); it
    applies once another CX lead approves it. Writes an audit entry.

    Raises OverrideForbidden (not a CX lead), InvalidOverride (request screened already, no reason,
    a contact the department does not know).
    """
    reason = override_request_check(actor=actor, send_request=send_request, reason=reason, contacts=contacts)
    locked = _request_lock(send_request)
    override = Override.objects.create(
        send_request=locked,
        rule=rule,
        reason=reason,
        requested_by_id=actor.user_id,
        created_at=now or timezone.now(),
    )
    override.contacts.set(contacts)
    audit_record(
        action=AuditEntry.Action.OVERRIDE_REQUESTED,
        obj=override,
        actor=actor,
        summary=f"override #{override.pk} of {_rule_label(rule)} for send request {locked.pk}",
        details={
            "send_request_id": locked.pk,
            "rule_id": rule.pk if rule else None,
            "contacts_named": len(contacts),
            "reason": reason,
        },
    )
    return override


@transaction.atomic
def override_approve(*, actor: Actor, override: Override, now: dt.datetime | None = None) -> Override:
    """Approve an override: the request's screening applies it. Writes an audit entry.

    Raises OverrideForbidden (not a CX lead, the requester, or the request's creator), InvalidOverride
    (approved already, or the request is screened already).
    """
    override_actor_check(actor, "approve")
    if actor.user_id == override.requested_by_id:
        raise OverrideForbidden("An override needs a second CX lead: its requester cannot approve it.")
    locked_request = _request_lock(override.send_request)
    if actor.user_id == locked_request.created_by_id:
        raise OverrideForbidden("The creator of the send request cannot approve an override of it.")
    locked = Override.objects.select_for_update().get(pk=override.pk)
    if locked.is_approved:
        raise InvalidOverride(
            "This override is approved already.", extra={"approved_by": locked.approved_by_id}
        )
    locked.approved_by_id = actor.user_id
    locked.approved_at = now or timezone.now()
    locked.save(update_fields=["approved_by", "approved_at"])
    audit_record(
        action=AuditEntry.Action.OVERRIDE_APPROVED,
        obj=locked,
        actor=actor,
        summary=f"override #{locked.pk} of {_rule_label(locked.rule)} for send request {locked_request.pk}",
        details={"send_request_id": locked_request.pk, "requested_by": locked.requested_by_id},
    )
    return locked


def _rule_label(rule: FrequencyRule | None) -> str:
    return f"rule {rule.pk}" if rule else "every frequency rule"


def overrides_apply(
    send_request: SendRequest, *, send: screening.Send, rules: Sequence[Rule], outcome: screening.Outcome
) -> int:
    """Let the contacts of `send_request` refused by an overridden rule through, and count them in
    `outcome`. Returns how many. The caller screens the request and holds every stripe.

    A contact refused by an overridden rule is decided again under the rules left; one still refused by
    another rule keeps a decision naming that rule.
    """
    overrides = list(Override.objects.filter(send_request=send_request, approved_by__isnull=False))
    if not overrides:
        return 0
    refused = dict(
        Decision.objects.of_request(send_request)
        .filter(allowed=False, reason=Reason.RULE)
        .values_list("contact_id", "rule_id")
    )
    named = _named_contacts(overrides)
    lifted: dict[int, Override] = {}  # contact → the override that lets it through
    still: dict[int, Verdict] = {}  # contact → the rule that still refuses it
    verdicts = _verdicts_without(send_request, send, rules, overrides, named, refused)
    for contact_id, (override, verdict) in verdicts.items():
        if verdict.allowed:
            lifted[contact_id] = override
        else:
            still[contact_id] = verdict
    _blocks_renamed(send_request, still, refused, outcome)
    if lifted:
        _record(send_request, send, lifted, refused, outcome)
    return len(lifted)


def _named_contacts(overrides: Iterable[Override]) -> dict[int, set[int]]:
    """Each override's named contacts (an empty set: every contact)."""
    named: dict[int, set[int]] = {override.pk: set() for override in overrides}
    through = Override.contacts.through.objects.filter(override_id__in=named)
    for override_id, contact_id in through.values_list("override_id", "contact_id"):
        named[override_id].add(contact_id)
    return named


def _verdicts_without(
    send_request: SendRequest,
    send: screening.Send,
    rules: Sequence[Rule],
    overrides: list[Override],
    named: dict[int, set[int]],
    refused: dict[int, int],
) -> dict[int, tuple[Override, Verdict]]:
    """For each refused contact an override covers: that override, and the verdict under the rules it
    leaves (the contact's counted touches read afresh, as displacement does)."""
    covered: dict[int, list[Override]] = {}
    for contact_id, rule_id in refused.items():
        for override in overrides:
            if named[override.pk] and contact_id not in named[override.pk]:
                continue
            if override.rule_id is None or override.rule_id == rule_id:
                covered.setdefault(contact_id, []).append(override)
    exempt = {
        contact_id: {o.rule_id for o in overrides if not named[o.pk] or contact_id in named[o.pk]}
        for contact_id in covered
    }
    # Past every rule: allowed without a look at the touches (an override of a whole large request).
    verdicts = {
        contact_id: (covered[contact_id][0], ALLOWED) for contact_id in covered if None in exempt[contact_id]
    }
    again = [contact_id for contact_id in covered if contact_id not in verdicts]
    if not again:
        return verdicts
    touches = _touches(again)
    known_since = _known_since(send_request.department_id, again)
    rule_send = Send(send.department_id, send.survey_kind, send.channel, at=send.at)
    for contact_id in again:
        verdict = rules_verdict(
            [rule for rule in rules if rule.id not in exempt[contact_id]],
            send=rule_send,
            touches=touches.get(contact_id, []),
            contact_known_since=known_since[contact_id],
        )
        verdicts[contact_id] = (covered[contact_id][0], verdict)
    return verdicts


def _touches(contact_ids: Iterable[int]) -> dict[int, list[Touch]]:
    counted = Invitation.objects.filter(contact_id__in=list(contact_ids)).exclude(
        status__in=Invitation.NOT_COUNTED
    )
    found: dict[int, list[Touch]] = {}
    for contact_id, *fields in counted.values_list(*TOUCH_FIELDS):
        found.setdefault(contact_id, []).append(Touch(*fields))
    return found


def _known_since(department_id: int, contact_ids: Iterable[int]) -> dict[int, dt.datetime]:
    """When the department came to know each contact (its view, else the person), as screening reads
    it for a new contact's grace."""
    ids = list(contact_ids)
    known = dict(Contact.objects.filter(pk__in=ids).values_list("pk", "created_at"))
    views = DepartmentContact.objects.filter(department_id=department_id, contact_id__in=ids)
    known.update(views.values_list("contact_id", "created_at"))
    return known


def _blocks_renamed(
    send_request: SendRequest, still: dict[int, Verdict], refused: dict[int, int], outcome: screening.Outcome
) -> None:
    """Contacts the override covered but another rule still refuses: their decision names that rule."""
    for contact_id, verdict in still.items():
        if verdict.rule_id == refused[contact_id]:
            continue
        Decision.objects.of_request(send_request).filter(contact_id=contact_id).update(
            rule_id=verdict.rule_id,
            rule_version=verdict.rule_version,
            next_eligible_at=verdict.next_eligible_at,
            last_touch_at=verdict.last_touch_at,
            last_touch_same_department=verdict.last_touch_same_department,
        )
        _count(outcome.blocked_by_rule, refused[contact_id], -1)
        _count(outcome.blocked_by_rule, verdict.rule_id, +1)


def _count(counts: dict, key, change: int) -> None:
    counts[key] = counts.get(key, 0) + change
    if not counts[key]:
        del counts[key]


def _record(
    send_request: SendRequest,
    send: screening.Send,
    lifted: dict[int, Override],
    refused: dict[int, int],
    outcome: screening.Outcome,
) -> None:
    """The lifted contacts' decisions (allowed, naming the override), their invitations (as
    displacement's _record writes them), the overrides' tallies and audit entries, and the outcome."""
    by_override: dict[Override, list[int]] = {}
    for contact_id, override in lifted.items():
        by_override.setdefault(override, []).append(contact_id)
        _count(outcome.blocked, Reason.RULE, -1)
        _count(outcome.blocked_by_rule, refused[contact_id], -1)
        outcome.allowed += 1
    now = timezone.now()
    for override, contact_ids in by_override.items():
        Decision.objects.of_request(send_request).filter(contact_id__in=contact_ids).update(
            allowed=True,
            reason="",
            rule=None,
            rule_version=None,
            next_eligible_at=None,
            last_touch_at=None,
            last_touch_same_department=None,
            override=override,
        )
        Override.objects.filter(pk=override.pk).update(applied_at=now, applied_contacts=len(contact_ids))
        audit_record(
            action=AuditEntry.Action.OVERRIDE_APPLIED,
            obj=override,
            actor_label="gatekeeper",
            summary=f"override #{override.pk} let {len(contact_ids)} contacts of send request "
            f"{send_request.pk} through",
            details={"send_request_id": send_request.pk, "contacts": len(contact_ids)},
        )
    Invitation.objects.bulk_create(
        Invitation(
            send_request=send_request,
            survey_id=send.survey_id,
            survey_family_id=send.survey_family_id,
            department_id=send.department_id,
            survey_kind=send.survey_kind,
            contact_id=contact_id,
            channel=send.channel,
            status=Invitation.Status.QUEUED,
            touched_at=send.at,
        )
        for contact_id in lifted
    )


def override_list(*, send_request: SendRequest) -> list[Override]:
    """The overrides of a request the caller may see (send_request_get scopes it), newest first."""
    overrides = Override.objects.filter(send_request=send_request).select_related(
        "requested_by", "approved_by", "rule"
    )
    return list(overrides.prefetch_related("contacts").order_by("-created_at", "-pk"))


def override_get(*, send_request: SendRequest, override_id: int) -> Override:
    """One override of the request; raises NotFound, as for one of another request."""
    override = Override.objects.select_related("send_request").filter(
        send_request=send_request, pk=override_id
    )
    found = override.first()
    if found is None:
        raise NotFound(f"Override {override_id} not found.")
    return found


def override_contacts_of(send_request: SendRequest, public_ids: Iterable) -> list[Contact]:
    """The contacts named by these public ids, each one the request's department knows. Raises
    InvalidOverride naming the field otherwise (a contact of another department is not found either)."""
    wanted = set(public_ids)
    contacts = list(
        Contact.objects.filter(
            public_id__in=wanted, department_links__department_id=send_request.department_id
        )
    )
    if len(contacts) != len(wanted):
        raise InvalidOverride(
            "contacts: every contact named must be one the request's department knows.",
            extra={"field": "contacts"},
        )
    return contacts
