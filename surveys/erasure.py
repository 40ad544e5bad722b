"""Erasing a person (issue 6, privacy): everything that names or describes them goes, every
anonymous figure stays.

Gone: identities (emails, phones, external ids) and which departments supplied them, name,
language, time zone, attributes and notes (the person's own and every department's view of them),
free-text answers and notes about them, delivery errors (a bounce quotes the address), the links'
tokens (an old link then opens nothing), rows of import reports that held their identities, the
API's stored answers a retry with the same Idempotency-Key would replay (they show the person as
they were), and the admin's change history of their rows and any entry quoting their identities.
Kept, under the contact's bare id: the responses and their scores and chosen options (a choice is
one of the survey's own options, not something the person wrote), invitations, decisions, the
departments' (now empty) views and consent history (kind, scope, time, source; no notes), so NPS,
response rates, frequency rules and every consolidated figure read the same before and after.

"Never asked again after saying no" outlives the erasure: when the person had opted out, a digest
of each identity is kept with the opt-outs then in force (contacts.models.ErasedIdentity), and the
same address imported again comes back opted out.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import audit_record
from contacts.consent import consent_decide
from contacts.locks import identities_lock, identity_lock_key
from contacts.models import (
    Channel,
    Consent,
    Contact,
    ContactImportIssue,
    DepartmentContact,
    DepartmentIdentity,
    ErasedIdentity,
    Identity,
)
from contacts.selectors import contact_get
from departments.actors import Actor
from departments.models import IdempotencyRecord
from surveys.errors import ErasureForbidden
from surveys.models import Answer, Invitation, InvitationToken

# The same digest as the trigger in contacts/migrations/0003_erased_identity.py.
IDENTITY_DIGEST_SQL = "encode(sha256(convert_to(kind || ':' || source || ':' || normalised, 'UTF8')), 'hex')"


# Free text about the person kept by apps that may or may not be installed: (model, path from the
# row to its contact, field). Looked up by name so surveys does not depend on them.
PERSONAL_TEXT_ELSEWHERE = [("results.FollowUp", "response__contact", "note")]


@dataclass(frozen=True)
class ErasureResult:
    contact_id: int
    identities: int
    free_text_answers: int
    suppressed_identities: int


def contact_erase(*, actor: Actor, contact_id: int, now: dt.datetime | None = None) -> ErasureResult:
    """Erase contact `contact_id` (see the module's note) and write an audit entry. Erasing twice
    changes nothing more.

    Raises NotFound if the actor cannot see the contact, ErasureForbidden (403) unless a CX lead.
    """
    contact_get(actor=actor, contact_id=contact_id)
    if not actor.is_cx_lead:
        raise ErasureForbidden("Only a CX lead may erase a contact.")
    now = now or timezone.now()
    with transaction.atomic():
        identities = list(Identity.objects.filter(contact_id=contact_id))
        # The race: an upsert adding an identity to this contact while it is erased. Its identity
        # lock comes first, then the contact row: the lock order of surveys/gatekeeper/locks.py.
        identities_lock(identity_lock_key(i.kind, i.source, i.normalised) for i in identities)
        contact = Contact.objects.select_for_update().get(pk=contact_id)
        # Read before the rows go: what quotes the person elsewhere is found by them.
        traces = _Traces.of(contact, identities)
        suppressed = _suppress(contact_id, _opt_outs_in_force(contact_id, now), now)
        # The departments' DepartmentIdentity rows go with the identities (on_delete=CASCADE).
        Identity.objects.filter(contact_id=contact_id).delete()
        Contact.objects.filter(pk=contact_id).update(
            name="", locale="", time_zone="", attributes={}, updated_at=now
        )
        # The views stay, empty: which departments knew the person counts in frequency rules.
        DepartmentContact.objects.filter(contact_id=contact_id).update(
            name="", locale="", time_zone="", attributes={}, notes="", updated_at=now
        )
        _idempotency_records_delete(traces)
        _admin_history_delete(traces)
        free_texts = _personal_text_blank(contact_id, identities)
        result = ErasureResult(
            contact_id=contact_id,
            identities=len(identities),
            free_text_answers=free_texts,
            suppressed_identities=suppressed,
        )
        audit_record(
            action=AuditEntry.Action.CONTACT_ERASED,
            obj=contact,
            actor=actor,
            summary=f"{len(identities)} identities and {free_texts} free-text answers erased",
            details=asdict(result),
        )
    return result


def _opt_outs_in_force(contact_id: int, now: dt.datetime) -> list[dict]:
    """The opt-out scopes that block this person now: what a re-imported identity must bring back."""
    records = list(Consent.objects.filter(contact_id=contact_id))
    scopes = {(r.department_id, r.channel) for r in records if r.kind == Consent.Kind.OPT_OUT}
    in_force = []
    for department_id, channel in sorted(scopes, key=lambda s: (s[0] or 0, s[1])):
        channels = [channel] if channel else list(Channel.values)
        verdicts = [consent_decide(records, department_id=department_id, channel=c, at=now) for c in channels]
        if all(v.reason == "opted_out" for v in verdicts):
            in_force.append({"department": department_id, "channel": channel})
    return in_force


def _suppress(contact_id: int, opt_outs: list[dict], now: dt.datetime) -> int:
    """Keep a digest of each identity with `opt_outs`, when there are any. Returns how many."""
    if not opt_outs:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ErasedIdentity._meta.db_table} (digest, opt_outs, erased_at) "  # noqa: S608
            f"SELECT {IDENTITY_DIGEST_SQL}, %s::jsonb, %s FROM {Identity._meta.db_table} "
            "WHERE contact_id = %s "
            "ON CONFLICT (digest) DO UPDATE SET opt_outs = EXCLUDED.opt_outs, erased_at = EXCLUDED.erased_at",
            [json.dumps(opt_outs), now, contact_id],
        )
        return cursor.rowcount


def _personal_text_blank(contact_id: int, identities: list[Identity]) -> int:
    """Blank every free text about the person; returns how many answers were blanked."""
    answers = Answer.objects.filter(response__contact_id=contact_id).exclude(value_text="")
    free_texts = answers.update(value_text="")
    Consent.objects.filter(contact_id=contact_id).exclude(note="").update(note="")
    Invitation.objects.filter(contact_id=contact_id).exclude(failure_reason="").update(failure_reason="")
    InvitationToken.objects.filter(invitation__contact_id=contact_id).delete()
    _import_rows_blank(contact_id, identities)
    for label, path, field in PERSONAL_TEXT_ELSEWHERE:
        if apps.is_installed(label.split(".")[0]):
            apps.get_model(label).objects.filter(**{f"{path}_id": contact_id}).update(**{field: ""})
    return free_texts


def _import_rows_blank(contact_id: int, identities: list[Identity]) -> None:
    """Import issues quote the row as read: those naming the contact, or holding one of its
    identities as written (an invalid row names no contact), lose their data."""
    held = Q(contact_ids__contains=[contact_id])
    for identity in identities:
        for text in {identity.value, identity.normalised}:
            held |= Q(data__icontains=text)
    ContactImportIssue.objects.filter(held).update(data={}, reason="(erased)")


@dataclass(frozen=True)
class _Traces:
    """What finds the person in rows that are not theirs: their public id, their rows' ids by model,
    their identities as written anywhere (as given, normalised, as each department spelled them) and
    as the admin's history names them, and their consent records' notes."""

    public_id: str
    rows: dict[type, list[int]]
    spellings: frozenset[str]
    admin_names: frozenset[str]
    consent_notes: dict[int, str]

    @classmethod
    def of(cls, contact: Contact, identities: list[Identity]) -> _Traces:
        supplied = DepartmentIdentity.objects.filter(identity__in=identities)
        spellings = {i.pk: {i.value, i.normalised} for i in identities}
        for identity_id, value in supplied.values_list("identity_id", "value"):
            spellings[identity_id].add(value)
        for texts in spellings.values():
            texts.discard("")  # a department that kept the identity's own spelling
        consents = dict(Consent.objects.filter(contact=contact).values_list("pk", "note"))
        return cls(
            public_id=str(contact.public_id),
            rows={
                Contact: [contact.pk],
                Identity: [i.pk for i in identities],
                DepartmentIdentity: list(supplied.values_list("pk", flat=True)),
                DepartmentContact: list(contact.department_links.values_list("pk", flat=True)),
                Consent: list(consents),
            },
            spellings=frozenset(text for texts in spellings.values() for text in texts),
            admin_names=frozenset(
                name for i in identities for name in _admin_names(i, spellings=spellings[i.pk])
            ),
            consent_notes={pk: note for pk, note in consents.items() if note},
        )


def _admin_names(identity: Identity, *, spellings: set[str]) -> set[str]:
    """How the admin's history may quote an identity: an email or phone number as itself; an
    external id (often a short number, "42") only as the admin names it ("External id crm:42", as
    Identity.__str__ does), or every entry with that number in it would go."""
    if identity.kind != Identity.Kind.EXTERNAL:
        return spellings
    prefix = f"{identity.get_kind_display()} {identity.source}:" if identity.source else "External id "
    return {prefix + text for text in spellings}


def _idempotency_records_delete(traces: _Traces) -> None:
    """The stored answers a retry with the same Idempotency-Key would replay (cxfeedback/idempotency.py)
    that show the person: those naming their id or one of their identities as a whole JSON string,
    and the answers to their consent records, which carry the notes. A small table read whole:
    records older than a day are purged."""
    quoted = {traces.public_id, *traces.spellings}
    # The text PostgreSQL gives jsonb: JSON strings, escaped as json.dumps escapes them.
    condition = Q()
    for text in quoted:
        condition |= Q(body_text__icontains=json.dumps(text, ensure_ascii=False))
    for consent_id, note in traces.consent_notes.items():
        condition |= Q(response_body__contains={"id": consent_id, "note": note})
    # Never an empty condition (which would match every record): the person's id is always in it.
    records = IdempotencyRecord.objects.annotate(body_text=Cast("response_body", TextField()))
    records.filter(condition).delete()


def _admin_history_delete(traces: _Traces) -> None:
    """Django's admin history (LogEntry) of the person's rows, and every entry that quotes one of
    their identities in its title or its change message (a JSON list, ASCII-escaped). The table is
    read whole; an erasure is rare."""
    content_types = ContentType.objects.get_for_models(*traces.rows)
    condition = Q()
    for model, ids in traces.rows.items():
        if ids:
            condition |= Q(content_type=content_types[model], object_id__in=[str(pk) for pk in ids])
    for name in traces.admin_names:
        condition |= Q(object_repr__icontains=name) | Q(change_message__icontains=json.dumps(name)[1:-1])
    LogEntry.objects.filter(condition).delete()
