"""The API's rate limit per key, on the public pages' PostgreSQL counter (cxfeedback/rate_limit.py).

Apart from rate_limit.py because that one is imported by settings.py, and DRF must not be imported
before the settings are.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from cxfeedback.rate_limit import Rate, rate_limit_exceeded


class ApiKeyRateThrottle(BaseThrottle):
    """DRF throttle: API_RATE_LIMIT requests per API key (per user for a logged-in session), on the
    same PostgreSQL counter as the public pages, so every process and machine counts together. One
    integration in a loop then slows only itself. A refusal is a 429 with Retry-After and the
    error shape (cxfeedback/exceptions.py). Runs after authentication: unknown keys and anonymous
    calls never count. Empty API_RATE_LIMIT: no limit."""

    def allow_request(self, request, view) -> bool:
        if not settings.API_RATE_LIMIT:
            return True
        user = request.user
        api_key = getattr(user, "api_key", None)
        if api_key is not None:
            client = f"key:{api_key.pk}"
        elif getattr(user, "is_authenticated", False):
            client = f"user:{user.pk}"
        else:
            # Nobody to slow down: an anonymous call is answered 401 before any work, and the
            # schema and docs are static. Not counting them keeps them off the database.
            return True
        self.retry_after = rate_limit_exceeded(
            request, scope="api", rate=Rate.parse(settings.API_RATE_LIMIT), client=client
        )
        return self.retry_after == 0

    def wait(self) -> float | None:
        return self.retry_after
