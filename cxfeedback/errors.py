"""Errors of the project's shared API pieces (idempotency): named ApplicationErrors, mapped to
HTTP by the one handler in cxfeedback/exceptions.py, where their bases live."""

from __future__ import annotations

from cxfeedback.exceptions import ApplicationError, Unprocessable


class InvalidIdempotencyKey(ApplicationError):
    code = "invalid_idempotency_key"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
