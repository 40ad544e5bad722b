"""Personal-link tokens never reach the logs."""

import io
import logging

import pytest

from cxfeedback.logging_filters import RedactTokens, redact_tokens
from surveys.tokens import token_new

TOKEN = "wE1iZUySJUXziC8OtpmLQxkxqNDmJRNa"


@pytest.fixture
def console():
    """What the configured console handler (settings.LOGGING) writes, captured."""
    handler = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactTokens) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"Not Found: /t/{TOKEN}", "Not Found: /t/[redacted]"),
        (f'"GET /u/{TOKEN}?x=1 HTTP/1.1" 200 512', '"GET /u/[redacted]?x=1 HTTP/1.1" 200 512'),
        (f"POST /t/{TOKEN}/thanks", "POST /t/[redacted]/thanks"),
        (f"see https://cx.example.com/p/{TOKEN}#top", "see https://cx.example.com/p/[redacted]#top"),
        (f"sms link /s/{TOKEN} sent", "sms link /s/[redacted] sent"),
        ("GET /api/v1/triggers 201", "GET /api/v1/triggers 201"),
        ("GET /static/surveys/public.css", "GET /static/surveys/public.css"),
    ],
)
def test_tokens_in_links_are_redacted(line, expected):
    assert redact_tokens(line) == expected


def test_django_request_warnings_reach_the_log_without_the_token(db, client, console, settings):
    settings.PUBLIC_RATE_LIMIT = "100000/minute"
    token, _ = token_new()

    client.get(f"/t/{token}")  # unknown: a 404, which django.request logs as "Not Found: <path>"

    written = console.getvalue()
    assert "Not Found: /t/[redacted]" in written
    assert token not in written


def test_arguments_and_tracebacks_are_redacted_too(console):
    token, _ = token_new()
    logger = logging.getLogger("cxfeedback.tests")

    logger.warning("request %s failed", f"/p/{token}")
    try:
        raise ValueError(f"bad link /u/{token}")
    except ValueError:
        logger.exception("while handling %s", f"/t/{token}")

    written = console.getvalue()
    assert "request /p/[redacted] failed" in written
    assert "ValueError: bad link /u/[redacted]" in written
    assert "while handling /t/[redacted]" in written
    assert token not in written
