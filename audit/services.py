"""Writing the audit log. Called inside the caller's transaction, so an entry exists exactly when
the change it describes was committed."""

from __future__ import annotations

from typing import Any

from django.db.models import Model

from audit.models import AuditEntry
from departments.actors import Actor


def audit_record(
    *,
    action: str,
    obj: Model,
    summary: str,
    actor: Actor | None = None,
    actor_label: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry by `actor` (a person or API key), or by `actor_label` ("customer (invitation
    #5)", "sms provider"); an actor with neither user nor key is the operator at the console.
    `summary` and `details` must hold no personal data (ids, kinds, scopes, field names)."""
    return AuditEntry.objects.create(
        action=action,
        actor=actor_label or _label(actor),
        user_id=actor.user_id if actor is not None else None,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        summary=summary[:500],
        details=details or {},
    )


def _label(actor: Actor | None) -> str:
    if actor is None or (actor.user_id is None and actor.api_key_id is None):
        return "operator"  # a management command, run by whoever is at the console
    return actor.label()
