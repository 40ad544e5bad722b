"""CSRF on every form (issue 6, security): each public form POST needs the page's CSRF token, as
the admin's forms do; only RFC 8058's one-click unsubscribe, which a mail provider sends with no
cookie and no form, goes without. The client enforces the check, as a browser's request meets it."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from contacts.models import Consent
from surveys.models import Response, Survey
from tests import factories
from tests.surveys.public.pages import invitation_with_link, survey_with_every_kind

ORIGIN = "https://testserver"


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    settings.PUBLIC_RATE_LIMIT = "100000/minute"


@pytest.fixture
def token(support):
    survey = survey_with_every_kind(support)
    _, token = invitation_with_link(survey, factories.known_contact(support))
    return token


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def csrf_of(browser: Client, url: str) -> str:
    page = browser.get(url, secure=True).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


# Each public form, with a valid filling: (address, data).
def forms(token: str) -> dict[str, tuple[str, dict]]:
    from tests.surveys.public.test_public_pages import EVERY_KIND_ANSWERS

    return {
        "survey": (f"/t/{token}", EVERY_KIND_ANSWERS),
        "short survey link": (f"/s/{token}", EVERY_KIND_ANSWERS),
        "unsubscribe button": (f"/u/{token}", {}),
        "preference centre": (f"/p/{token}", {"action": "snooze", "days": "30"}),
    }


@pytest.mark.parametrize("form", ["survey", "short survey link", "unsubscribe button", "preference centre"])
def test_a_public_form_posted_without_its_csrf_token_is_refused(browser, token, form):
    url, data = forms(token)[form]

    refused = browser.post(url, data, secure=True, HTTP_ORIGIN=ORIGIN)

    assert refused.status_code == 403
    assert not Response.objects.exists() and not Consent.objects.exists()


@pytest.mark.parametrize("form", ["survey", "unsubscribe button", "preference centre"])
def test_a_public_form_posted_from_another_site_is_refused_even_with_a_token(browser, token, form):
    url, data = forms(token)[form]
    csrf = csrf_of(browser, url)

    refused = browser.post(
        url, {**data, "csrfmiddlewaretoken": csrf}, secure=True, HTTP_ORIGIN="https://evil.example"
    )

    assert refused.status_code == 403
    assert not Response.objects.exists() and not Consent.objects.exists()


@pytest.mark.parametrize("form", ["survey", "short survey link", "unsubscribe button", "preference centre"])
def test_a_public_form_posted_with_its_token_from_its_own_page_is_taken(browser, token, form):
    url, data = forms(token)[form]
    csrf = csrf_of(browser, url)

    taken = browser.post(url, {**data, "csrfmiddlewaretoken": csrf}, secure=True, HTTP_ORIGIN=ORIGIN)

    assert taken.status_code in (200, 303)
    assert Response.objects.exists() or Consent.objects.exists()


def test_the_cached_survey_page_gives_each_visitor_a_working_token(token, support):
    # A frozen survey's page is rendered once per process; each visitor still gets their own token.
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    Survey.objects.update(frozen_at=timezone.now())  # sent: its page comes from the cache
    first_csrf, second_csrf = csrf_of(first, f"/t/{token}"), csrf_of(second, f"/t/{token}")

    assert "PLACEHOLDER" not in first_csrf and first_csrf != second_csrf
    from tests.surveys.public.test_public_pages import EVERY_KIND_ANSWERS

    # One visitor's token is no good with another's cookie.
    crossed = second.post(
        f"/t/{token}",
        {**EVERY_KIND_ANSWERS, "csrfmiddlewaretoken": first_csrf},
        secure=True,
        HTTP_ORIGIN=ORIGIN,
    )
    assert crossed.status_code == 403
    assert (
        first.post(
            f"/t/{token}",
            {**EVERY_KIND_ANSWERS, "csrfmiddlewaretoken": first_csrf},
            secure=True,
            HTTP_ORIGIN=ORIGIN,
        ).status_code
        == 303
    )


def test_the_one_click_unsubscribe_needs_no_csrf_token(browser, token):
    # RFC 8058: the provider POSTs exactly this body, with no cookie, no form token, no Origin.
    answer = browser.post(
        f"/u/{token}", "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded",
        secure=True,
    )  # fmt: skip

    assert answer.status_code == 200
    assert Consent.objects.get().source == "unsubscribe_link"


def test_the_admin_forms_need_their_token_too(browser, alice):
    browser.force_login(alice)

    refused = browser.post("/admin/contacts/contact/add/", {"name": "x"}, secure=True, HTTP_ORIGIN=ORIGIN)

    assert refused.status_code == 403
