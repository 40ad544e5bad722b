"""The admin pages a department owner and a CX lead use most, in Chromium with axe-core
(tests/browser.py): no serious or critical accessibility violation on any of them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from surveys.models import SendRequest
from tests import factories
from tests.browser import browser_session, serious_violations

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # tests/factories.py UserFactory's
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def browser(monkeypatch):
    yield from browser_session(monkeypatch)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def logged_in_tab(browser, live_server, username: str):
    """A tab logged in through the admin's own login form."""
    page = browser.new_context(viewport=DESKTOP, locale="en-GB").new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    return page


@pytest.fixture
def sent_world(support, alice_client):
    """A survey of support's, two contacts, and a draft send request created in the admin."""
    survey = factories.SurveyFactory(department=support, name="After your call")
    for name in ("Ann", "Bo"):
        factories.known_contact(support, email=f"{name.lower()}@example.com", name=name)
    alice_client.post(
        reverse("admin:surveys_sendrequest_add"),
        {
            "department": str(support.pk),
            "survey": str(survey.pk),
            "channel": "email",
            "audience_kind": "all_known",
            "priority": "5",
            "purpose": "",
        },
    )
    return survey, SendRequest.objects.get(survey=survey)


def problems_on(page, live_server, paths: dict[str, str]) -> dict[str, list[str]]:
    found = {}
    for name, path in paths.items():
        response = page.goto(f"{live_server.url}{path}")
        found[name] = serious_violations(page) if response.status == 200 else [f"HTTP {response.status}"]
    return found


def test_an_owners_main_admin_pages_have_no_serious_accessibility_violation(
    browser, live_server, alice, sent_world
):
    survey, draft = sent_world
    page = logged_in_tab(browser, live_server, alice.username)
    paths = {
        "admin index": "/admin/",
        "survey list": reverse("admin:surveys_survey_changelist"),
        "survey change": reverse("admin:surveys_survey_change", args=[survey.pk]),
        "send request list": reverse("admin:surveys_sendrequest_changelist"),
        "send request add": reverse("admin:surveys_sendrequest_add"),
        "pre-flight": reverse("admin:surveys_sendrequest_preflight", args=[draft.pk]),
        "send request detail": reverse("admin:surveys_sendrequest_change", args=[draft.pk]),
        "contacts list": reverse("admin:contacts_contact_changelist"),
    }

    found = problems_on(page, live_server, paths)

    assert found == {name: [] for name in paths}


def test_the_cx_leads_dashboard_has_no_serious_accessibility_violation(browser, live_server, lead, support):
    page = logged_in_tab(browser, live_server, lead.username)

    found = problems_on(page, live_server, {"admin index": "/admin/", "dashboard": "/admin/results/"})

    assert found == {"admin index": [], "dashboard": []}


def test_the_login_page_has_no_serious_accessibility_violation(browser, live_server, db):
    page = browser.new_context(viewport=DESKTOP, locale="en-GB").new_page()

    assert problems_on(page, live_server, {"login": "/admin/login/"}) == {"login": []}
