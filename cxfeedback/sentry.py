"""Error tracking with Sentry (sentry-sdk), on when SENTRY_DSN is set: settings.py calls
`sentry_init_from_environment` in every process that loads them — web, Celery worker, beat, commands.

Imported by settings.py: nothing here may read Django's settings at import time.

An error report would otherwise carry what the logs never do: the survey link's token in the URL,
an address or a phone number in an exception's message, the survey's free-text answers in the
request body. So: no request bodies, cookies, headers that identify a user or local variables
(sentry-sdk's default of no personal data, max_request_body_size "never",
include_local_variables off), and every
string left in the event passes through the logs' own `redact` (cxfeedback/logging_filters.py:
tokens, API keys, email addresses, phone numbers) before it leaves the machine.
"""

from __future__ import annotations

import os
from typing import Any

from cxfeedback.logging_filters import redact
from cxfeedback.request_id import REQUEST_ID


def redact_event(value: Any) -> Any:
    """`value` with every string in it (keys included) redacted, at any depth."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_event(key): redact_event(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_event(item) for item in value]
    return value


def before_send(event: dict, hint: dict) -> dict:
    if request_id := REQUEST_ID.get():
        event.setdefault("tags", {})["request_id"] = request_id
    request = event.get("request")
    if isinstance(request, dict):
        for private in ("data", "cookies"):
            request.pop(private, None)
    return redact_event(event)


def sentry_init(*, dsn: str, environment: str = "", release: str = "", transport: Any = None) -> None:
    """Report errors (and ERROR log lines) to Sentry at `dsn`, redacted."""
    import sentry_sdk  # here: settings.py imports this module in every process, Sentry on or off
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        max_request_body_size="never",
        include_local_variables=False,
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=lambda crumb, hint: redact_event(crumb),
        traces_sample_rate=0.0,
        transport=transport,
    )


def sentry_init_from_environment() -> None:
    """sentry_init with SENTRY_DSN, SENTRY_ENVIRONMENT and SENTRY_RELEASE; nothing without a DSN."""
    if dsn := os.environ.get("SENTRY_DSN", ""):
        sentry_init(
            dsn=dsn,
            environment=os.environ.get("SENTRY_ENVIRONMENT", ""),
            release=os.environ.get("SENTRY_RELEASE", ""),
        )
