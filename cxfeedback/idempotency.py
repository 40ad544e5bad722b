"""`Idempotency-Key` on the API calls that create (PRODUCT.md §7, §4.3).

A client that is not sure its call went through sends it again with the same key. The first
successful answer is stored with a hash of the request; a repeat with the same body gets that answer
again (with `Idempotent-Replayed: true`) and changes nothing, a repeat with another body is a 422.
Keys are scoped to the caller (an API key or a user), so two integrations may use the same key.

Usage, on an APIView method that creates:

    @idempotent
    def post(self, request): ...
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from cxfeedback.errors import IdempotencyKeyReused, InvalidIdempotencyKey
from departments.actors import actor_for_request
from departments.models import IdempotencyRecord

HEADER = "Idempotency-Key"


# The header as every creating endpoint documents it in the OpenAPI schema.
HEADER_PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255},  # MAX_KEY_LENGTH, as _validated_key checks
    OpenApiParameter.HEADER,
    description="Optional, at most 255 characters. A repeat with the same key and body returns the first "
    "answer (header Idempotent-Replayed: true) and creates nothing; the same key with another body is a 422.",
)


REPLAYED_HEADER = "Idempotent-Replayed"


MAX_KEY_LENGTH = 255


# Clients retry within minutes; a day is ample and keeps the table small.
RETENTION = dt.timedelta(hours=24)


TABLE = IdempotencyRecord._meta.db_table


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Make an APIView method replay its first successful answer for a repeated `Idempotency-Key`.

    The operation and the stored answer share one transaction, so an answer is stored only if the
    operation's effect was committed. Raises IdempotencyKeyReused (422) for a key reused with another
    request and InvalidIdempotencyKey (400) for a malformed key.
    """

    @functools.wraps(handler)
    def wrapper(view, request: Request, *args, **kwargs) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        key = _validated_key(key)
        scope = actor_for_request(request).label()
        request_hash = request_fingerprint(request)
        with transaction.atomic():
            record_id = _claim(scope=scope, key=key, request_hash=request_hash)
            while record_id is None:
                record = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
                if record is not None:
                    return _replay(record, request_hash=request_hash)
                record_id = _claim(scope=scope, key=key, request_hash=request_hash)  # purged meanwhile
            response = handler(view, request, *args, **kwargs)
            with connection.cursor() as cursor:
                if 200 <= response.status_code < 300:
                    cursor.execute(
                        f"UPDATE {TABLE} SET response_status = %s, response_body = %s::jsonb WHERE id = %s",  # noqa: S608
                        [response.status_code, json.dumps(response.data, cls=JSONEncoder), record_id],
                    )
                else:  # only a success is replayed
                    cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [record_id])  # noqa: S608
            return response

    return wrapper


def idempotency_records_purge(*, older_than: dt.timedelta = RETENTION, now: dt.datetime | None = None) -> int:
    """Delete idempotency records older than `older_than`; return how many. A purged key acts anew."""
    cutoff = (now or timezone.now()) - older_than
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def request_fingerprint(request: Request) -> str:
    """SHA-256 of method, path and body. The body is compared as data, so key order does not matter."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(json.dumps(_canonical(request.data), sort_keys=True, cls=JSONEncoder).encode())
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    """Request data as plain JSON; an uploaded file stands for the hash of its content."""
    if isinstance(value, QueryDict):
        return {key: [_canonical(item) for item in items] for key, items in value.lists()}
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if hasattr(value, "chunks"):
        file_digest = hashlib.sha256()
        for chunk in value.chunks():
            file_digest.update(chunk)
        value.seek(0)  # the view reads the file after us
        return f"file:{file_digest.hexdigest()}"
    return value


def _validated_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(
            f"{HEADER}: must be 1 to {MAX_KEY_LENGTH} characters long.", extra={"header": HEADER}
        )
    return key


def _replay(record: IdempotencyRecord, *, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            f"{HEADER} {record.key!r} was already used for a different request.",
            extra={"header": HEADER, "key": record.key},
        )
    return Response(record.response_body, status=record.response_status, headers={REPLAYED_HEADER: "true"})


def _claim(*, scope: str, key: str, request_hash: str) -> int | None:
    """Write the key's record (its answer still blank) and return its id; None if the key has one.

    Prevents two concurrent calls with the same key from both creating: the second one's INSERT
    waits on the first one's uncommitted row (the unique key) until that transaction ends, then
    finds it committed (None: replay it) or rolled back (the key is free and it claims it). The
    claim shares the operation's transaction, so an operation that fails leaves no record behind.
    One statement instead of a lock and a lookup: this runs on every trigger.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {TABLE} (scope, "key", request_hash, response_status, response_body, created_at)
                VALUES (%s, %s, %s, 0, NULL, %s)
                ON CONFLICT (scope, "key") DO NOTHING RETURNING id""",  # noqa: S608 -- the model's table
            [scope, key, request_hash, timezone.now()],
        )
        row = cursor.fetchone()
    return row[0] if row else None
