"""Loaded by pytest before Django (`-p cxfeedback.pytest_plugin` in pyproject.toml).

Tests run with production settings (DEBUG off); they only need throwaway secrets.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
# The providers' webhooks are on in the tests, and outside DEBUG they need their secrets to start
# (cxfeedback/webhook_secrets.py); tests that call a webhook set the secret they send.
os.environ.setdefault("ANYMAIL_WEBHOOK_SECRET", "tests-only:not-a-secret")
os.environ.setdefault("SMS_INBOUND_SECRET", "tests-only-not-a-secret")
# Both SMS webhooks, the generic one and Twilio's (signed with the auth token), are mounted in the tests.
os.environ.setdefault("PROVIDER_WEBHOOKS", "email,sms,twilio")
os.environ.setdefault("TWILIO_AUTH_TOKEN", "tests-only-not-a-secret")
os.environ.setdefault("STATIC_MANIFEST", "false")
# The tests' embedded broker is their own, so a `make run` worker never takes their tasks; one per
# test database, so test runs side by side do not take each other's either.
_local = os.environ.get(
    "CXFEEDBACK_LOCAL_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".local")
)
os.environ.setdefault(
    "CXFEEDBACK_BROKER_DIR",
    os.path.join(_local, "broker-" + os.environ.get("TEST_DATABASE_NAME", "test_cxfeedback")),
)

# The skip reason of every browser test on a machine without Chromium (tests/browser.py); the run
# ends with a line counting those skips, so a missing browser is never silent.
NO_CHROMIUM = "no Chromium binary: `apt-get install chromium`, or set CHROMIUM_PATH"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line at the end of the run: how many browser tests were skipped for want of Chromium."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and NO_CHROMIUM in str(report.longrepr[2])
    ]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} browser test{'s' if len(skipped) != 1 else ''} skipped: no Chromium found. "
            "Install it with `apt-get install chromium` (or set CHROMIUM_PATH to a Chromium binary).",
            yellow=True,
            bold=True,
        )
