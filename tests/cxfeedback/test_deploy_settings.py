"""Production settings pass Django's deployment checks, and outside DEBUG every response asks for
HTTPS (HSTS) and every cookie is secure. A provider's webhook without its secret keeps the app from
starting outside DEBUG, and fails `check --deploy` whatever DEBUG says."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.checks.registry import registry

from cxfeedback.webhook_secrets import webhook_secrets_check

ROOT = Path(__file__).resolve().parents[2]


# This process's settings that production sets its own way: none is passed on.
PRODUCTION_PREFIXES = ("DEBUG", "SECURE_", "ANYMAIL_", "SMS_INBOUND_SECRET", "PROVIDER_WEBHOOKS")
# What a deployment with the providers' webhooks on (PROVIDER_WEBHOOKS' default) must also set.
WEBHOOK_SECRETS = {
    "ANYMAIL_WEBHOOK_SECRET": f"postmark:{secrets.token_urlsafe(20)}",
    "SMS_INBOUND_SECRET": secrets.token_urlsafe(20),
}


def production_env(**overrides: str) -> dict[str, str]:
    """Production's environment with `overrides`; the webhook secrets only when given (WEBHOOK_SECRETS)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(PRODUCTION_PREFIXES)}
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="cx.example.com",
        CSRF_TRUSTED_ORIGINS="https://cx.example.com",
        SITE_URL="https://cx.example.com",
        # Never connected to by `check`; set so the embedded server is not started for it.
        DATABASE_URL="postgresql://cxfeedback@db.example.com:5432/cxfeedback",
        CELERY_BROKER_URL="redis://redis.example.com:6379/0",
    )
    env.update(overrides)
    return env


def manage(*args: str, **overrides: str) -> subprocess.CompletedProcess:
    env = production_env(**overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def check_deploy(**overrides: str) -> subprocess.CompletedProcess:
    return manage("check", "--deploy", "--fail-level", "WARNING", **overrides)


@pytest.mark.slow
@pytest.mark.parametrize("redirect", ["false", "true"])
def test_check_deploy_is_clean_with_production_settings(redirect):
    # false: behind a proxy that redirects HTTP itself (the README's setup); true: Django redirects.
    result = check_deploy(SECURE_SSL_REDIRECT=redirect, **WEBHOOK_SECRETS)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_warns_when_cookies_are_not_secure():
    # The check above can fail: turning secure cookies off is reported.
    result = check_deploy(SECURE_COOKIES="false", **WEBHOOK_SECRETS)

    assert result.returncode != 0
    assert "security.W012" in result.stderr + result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("missing", "webhook"), [("ANYMAIL_WEBHOOK_SECRET", "email"), ("SMS_INBOUND_SECRET", "sms")]
)
def test_without_a_webhook_secret_the_app_does_not_start(missing, webhook):
    # Any command loads the settings, as gunicorn and celery do: none gets further.
    result = check_deploy(**{name: value for name, value in WEBHOOK_SECRETS.items() if name != missing})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{missing} must be set" in result.stderr
    assert f"leave {webhook} out of PROVIDER_WEBHOOKS" in result.stderr


@pytest.mark.slow
def test_check_deploy_reports_a_missing_webhook_secret_even_with_debug_on():
    result = check_deploy(SMS_INBOUND_SECRET=WEBHOOK_SECRETS["SMS_INBOUND_SECRET"], DEBUG="true")

    assert result.returncode != 0
    assert "(cxfeedback.E002) ANYMAIL_WEBHOOK_SECRET must be set" in result.stderr
    assert "anyone may post a spam complaint" in result.stderr
    assert "SMS_INBOUND_SECRET must be set" not in result.stderr


@pytest.mark.slow
def test_webhooks_that_are_off_need_no_secret_and_are_not_there():
    routes = (
        "from django.urls import Resolver404, resolve\n"
        "for path in ('/webhooks/anymail/postmark/tracking/', '/webhooks/sms/inbound'):\n"
        "    try:\n"
        "        print(path, resolve(path).func.__name__)\n"
        "    except Resolver404:\n"
        "        print(path, 'absent')\n"
    )
    sms_secret = WEBHOOK_SECRETS["SMS_INBOUND_SECRET"]

    checked = check_deploy(PROVIDER_WEBHOOKS="")
    mounted = manage("shell", "-v", "0", "-c", routes, PROVIDER_WEBHOOKS="")
    only_sms = manage(
        "shell", "-v", "0", "-c", routes, PROVIDER_WEBHOOKS="sms", SMS_INBOUND_SECRET=sms_secret
    )

    assert checked.returncode == 0, checked.stderr
    assert mounted.stdout.split()[1::2] == ["absent", "absent"], mounted.stderr
    assert only_sms.stdout.split()[1::2] == ["absent", "sms_inbound"], only_sms.stderr


def test_the_deploy_check_reads_the_settings_as_they_are(settings):
    # The check itself, in this process: settings changed after start-up are reported too.
    settings.ANYMAIL = {}
    settings.SMS_INBOUND_SECRET = ""

    errors = webhook_secrets_check(None)

    assert [error.id for error in errors] == ["cxfeedback.E002", "cxfeedback.E002"]
    assert webhook_secrets_check in registry.get_checks(include_deployment_checks=True)
    assert webhook_secrets_check not in registry.get_checks()  # only with --deploy
    settings.PROVIDER_WEBHOOKS = []
    assert webhook_secrets_check(None) == []


def test_the_tests_run_with_debug_off():
    # The header tests below mean something only with production's security settings.
    assert not settings.DEBUG
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE


def test_https_responses_carry_hsts(client, db):
    response = client.get("/admin/login/", secure=True)

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_session_and_csrf_cookies_are_secure_and_http_only(client, alice):
    client.get("/admin/login/", secure=True)
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "alice", "password": "correct horse battery staple", "csrfmiddlewaretoken": token},
        secure=True,
    )

    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"]
    assert client.cookies["csrftoken"]["secure"]


def test_health_checks_are_not_redirected_to_https(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/admin/login/").status_code == 301
    assert client.get("/healthz").status_code in (200, 503)


@pytest.mark.slow
def test_with_twilio_sending_its_webhook_is_on_and_needs_the_auth_token():
    twilio = {"SMS_BACKEND": "surveys.delivery.channels.sms.TwilioSmsBackend", "TWILIO_ACCOUNT_SID": "AC1"}
    email = {"ANYMAIL_WEBHOOK_SECRET": WEBHOOK_SECRETS["ANYMAIL_WEBHOOK_SECRET"]}
    routes = "from django.urls import resolve\nprint(resolve('/webhooks/sms/twilio').func.__name__)\n"

    without_token = check_deploy(**twilio, **email, TWILIO_AUTH_TOKEN="")
    mounted = manage("shell", "-v", "0", "-c", routes, **twilio, **email, TWILIO_AUTH_TOKEN="secret")

    assert without_token.returncode != 0
    assert "TWILIO_AUTH_TOKEN must be set" in without_token.stderr
    assert "SMS_INBOUND_SECRET" not in without_token.stderr  # the generic webhook is off
    assert mounted.stdout.strip() == "sms_inbound_twilio", mounted.stderr
