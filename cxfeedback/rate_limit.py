"""Requests per client in a fixed window, counted in the shared cache (settings.CACHES).

The public pages use it (surveys/views.py) with settings.PUBLIC_RATE_LIMIT. The cache is Redis or
the database, so every gunicorn worker and every machine counts together; with Redis the count is
exact (INCR), with the database cache two requests at the same moment may both read the same count,
which lets a burst through by a request or two — acceptable for a limit meant to stop floods.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds

    @classmethod
    def parse(cls, text: str) -> Rate:
        """'60/minute' → Rate(60, 60). Raises ImproperlyConfigured for anything else."""
        count, _, unit = text.partition("/")
        try:
            limit, period = int(count), PERIODS[unit.strip().lower()]
        except (ValueError, KeyError) as error:
            raise ImproperlyConfigured(
                f"A rate is written like 60/minute (second, minute, hour, day), not {text!r}"
            ) from error
        if limit < 1:
            raise ImproperlyConfigured(f"A rate allows at least one request, not {text!r}")
        return cls(limit=limit, period=period)


def client_address(request: HttpRequest) -> str:
    """The client's IP: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the X-Forwarded-For entry
    the outermost one appended (entries further left are whatever the client wrote)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def rate_limit_exceeded(request: HttpRequest, *, scope: str, rate: Rate, now: float | None = None) -> int:
    """Count this request against the client's window; the seconds until the window ends if it is
    over the limit, else 0. Writes one counter per client and window to the cache."""
    now = time.time() if now is None else now
    window = math.floor(now / rate.period)
    key = f"rate:{scope}:{client_address(request)}:{window}"
    retry_after = max(1, math.ceil((window + 1) * rate.period - now))
    return retry_after if _hit(key, timeout=rate.period + 1) > rate.limit else 0


def _hit(key: str, *, timeout: int) -> int:
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request
        if cache.add(key, 1, timeout=timeout):
            return 1
        return cache.incr(key)  # another worker added it first
