"""Creating departments and API keys."""

import secrets

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from cxfeedback.exceptions import Conflict
from departments.authentication import KEY_PREFIX, api_key_cache_clear, hash_api_key
from departments.models import ApiKey, Department


@transaction.atomic
def department_create(*, slug: str, name: str) -> Department:
    """Create a department. Raises Conflict if the slug is taken."""
    if Department.objects.filter(slug=slug).exists():
        raise Conflict(f"A department with slug {slug!r} already exists.", extra={"slug": slug})
    return Department.objects.create(slug=slug, name=name)


def api_key_create(*, department: Department, name: str = "") -> tuple[ApiKey, str]:
    """Create an API key for a department; return it with the plain key, which is shown only once."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        department=department,
        name=name,
        prefix=plain[: len(KEY_PREFIX) + 6],
        key_hash=hash_api_key(plain),
    )
    return api_key, plain


def api_keys_revoke(*, api_keys: QuerySet[ApiKey]) -> int:
    """Revoke those of `api_keys` still active; return how many. They stop authenticating at once in
    this process and within API_KEY_CACHE_SECONDS in others (departments/authentication.py)."""
    revoked = api_keys.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key_cache_clear()
    return revoked
