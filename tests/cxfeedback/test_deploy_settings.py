"""Production settings pass Django's deployment checks, and outside DEBUG every response asks for
HTTPS (HSTS) and every cookie is secure."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def production_env(**overrides: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DEBUG", "SECURE_"))}
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


def check_deploy(**overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(**overrides), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("redirect", ["false", "true"])
def test_check_deploy_is_clean_with_production_settings(redirect):
    # false: behind a proxy that redirects HTTP itself (the README's setup); true: Django redirects.
    result = check_deploy(SECURE_SSL_REDIRECT=redirect)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_warns_when_cookies_are_not_secure():
    # The check above can fail: turning secure cookies off is reported.
    result = check_deploy(SECURE_COOKIES="false")

    assert result.returncode != 0
    assert "security.W012" in result.stderr + result.stdout


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
