"""REST API authentication by department API key: `Authorization: Bearer <key>`."""

import hashlib
import time

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from departments.models import ApiKey

KEY_PREFIX = "cxf_"

# A key found valid is trusted for this long without asking the database again, per process: the
# lookup was one of about ten queries on every trigger. So a revoked key stops working within this
# many seconds in every process (at once in the process that revoked it: api_key_cache_clear).
API_KEY_CACHE_SECONDS = 5.0
# Entries are dropped when they expire or, past this many, all at once: only valid keys are kept, so
# a flood of made-up keys cannot fill it.
API_KEY_CACHE_MAX = 1000
_cache: dict[str, tuple[float, "ApiKey"]] = {}  # key hash → (trusted until, monotonic; the key)


def api_key_cache_clear() -> None:
    """Forget every key this process trusts, so a revocation takes effect here at once."""
    _cache.clear()


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyUser:
    """The request.user of an API-key request: authenticated, in exactly one department."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.pk = None
        self.id = None

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2 or not header[1].startswith(KEY_PREFIX):
            raise exceptions.AuthenticationFailed("Malformed API key: expected 'Bearer cxf_…'.")
        key = self._valid_key(hash_api_key(header[1]))
        # Written at most once a minute per key, so busy integrations do not write on every call.
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return ApiKeyUser(key), key

    @staticmethod
    def _valid_key(key_hash: str) -> ApiKey:
        cached = _cache.get(key_hash)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            key = ApiKey.objects.select_related("department").get(key_hash=key_hash, revoked_at__isnull=True)
        except ApiKey.DoesNotExist:
            _cache.pop(key_hash, None)
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        if len(_cache) >= API_KEY_CACHE_MAX:
            _cache.clear()
        _cache[key_hash] = (time.monotonic() + API_KEY_CACHE_SECONDS, key)
        return key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes ApiKeyAuthentication in the OpenAPI schema (drf-spectacular finds it by class path)."""

    target_class = "departments.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A department's API key: `Bearer cxf_…`."}
