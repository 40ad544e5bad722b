"""Personal-link tokens never reach the logs."""

import io
import logging
import re

import pytest

from cxfeedback.logging_filters import RedactTokens, redact_tokens
from surveys.delivery.sending import invitations_send_batch
from surveys.delivery.tokens import token_new

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


# A realistic day, end to end, with everything written at INFO and above captured as it reaches the
# log: no token, email address or phone number in any line.

EMAIL_PATTERN = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# A phone number: international (+49 151 23456789, +4915123456789) or national (0151 999…); not
# the timestamps every line starts with.
PHONE_PATTERN = re.compile(r"\+\d[\d ]{7,}\d|\b0\d{2,4}[ /-]\d{3,}|23456789")
GRACE = "grace.hopper@example.com"
TOKEN_SHAPE = re.compile(r"/[tsup]/(?!\[redacted\])[A-Za-z0-9_-]{16,}")


@pytest.fixture
def everything_at_info(console):
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "django", "django.request")}
    root.setLevel(logging.INFO)
    yield console
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)


def test_a_day_of_imports_triggers_sends_and_answers_logs_no_personal_data(
    everything_at_info, support, support_api, settings, mailoutbox
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from surveys.models import Invitation
    from tests import factories
    from tests.import_jobs import job_finished
    from tests.surveys.public.pages import survey_with_every_kind
    from tests.surveys.public.test_public_pages import EVERY_KIND_ANSWERS

    settings.PUBLIC_RATE_LIMIT = "100000/minute"
    settings.SMS_INBOUND_SECRET = "s3cret"
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"  # send now, whatever the hour
    survey = survey_with_every_kind(support)
    csv = "email;phone;name\nada.lovelace@example.com;+49 151 23456789;Ada\nbad@;0151 999;B\n"
    imported = job_finished(  # the import job runs here, so its logs are this test's too
        support_api,
        support_api.post(
            "/api/v1/contacts/import",
            {"file": SimpleUploadedFile("contacts.csv", csv.encode(), content_type="text/csv")},
            format="multipart",
        ),
    )
    refused = support_api.post(
        "/api/v1/contacts", {"identities": [{"kind": "email", "value": "x@"}]}, format="json"
    )
    triggered = support_api.post(
        "/api/v1/triggers",
        {
            "survey": survey.pk,
            "channel": "email",
            "contact": {"identities": [{"kind": "email", "value": GRACE}]},
        },
        format="json",
    )
    for status in (imported.status_code, refused.status_code, triggered.status_code):
        assert status in (200, 201, 400), status
    factories.screened_request(support, survey=survey)
    invitations_send_batch(invitation_ids=list(Invitation.objects.values_list("pk", flat=True)))
    tokens = re.findall(r"/t/([A-Za-z0-9_-]+)", "\n".join(m.body for m in mailoutbox))
    assert tokens, "the invitations carry their links"

    customer = Client()
    token = tokens[0]
    customer.get(f"/t/{token}")
    customer.post(f"/t/{token}", EVERY_KIND_ANSWERS)
    customer.get(f"/t/{token}/thanks")
    customer.post(
        f"/u/{tokens[-1]}", "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    customer.get(f"/p/{token}x")  # a mistyped link: 404, logged by django.request
    customer.post(
        "/webhooks/sms/inbound", {"from": "+49 151 23456789", "text": "STOP"}, HTTP_X_WEBHOOK_SECRET="s3cret"
    )
    customer.post("/admin/login/", {"username": "ada.lovelace@example.com", "password": "guess"})

    written = everything_at_info.getvalue()
    assert "invitation batch" in written and "Not Found: /p/[redacted]" in written  # it was all logged
    assert EMAIL_PATTERN.findall(written) == [], written
    assert PHONE_PATTERN.findall(written) == [], written
    assert TOKEN_SHAPE.findall(written) == [], written
    assert not any(t in written for t in tokens)
