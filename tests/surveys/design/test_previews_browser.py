"""An owner previews a survey and sends a test to themselves, in a real browser (Chromium, headless,
as tests/browser.py launches it): from the survey's admin page to the invitation preview, its German
version, the survey page as a German customer sees it, and a test send that arrives on the mail
server on loopback. axe-core finds nothing serious or critical on the preview pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from departments.actors import actor_for_user
from departments.models import CompanySettings
from surveys.design.surveys import survey_create
from surveys.models import Invitation
from tests.browser import assert_accessible, browser_session
from tests.smtp import loopback_smtp, send_through
from tests.surveys.design.test_translations import GERMAN, QUESTIONS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def browser(monkeypatch):
    yield from browser_session(monkeypatch)


@pytest.fixture
def owner_page(browser, live_server, alice):
    """A tab logged in as alice, the support department's owner."""
    alice.email, alice.first_name = "alice@example.com", "Alice"
    alice.save()
    staff = Client()
    staff.force_login(alice)
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.add_cookies(
        [{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}]
    )
    yield context.new_page()
    context.close()


def test_an_owner_previews_a_survey_and_sends_a_test_to_themselves(
    live_server, owner_page, support, alice, settings
):
    CompanySettings.objects.update_or_create(pk=1, defaults={"company_name": "Acme"})
    survey = survey_create(
        actor=actor_for_user(alice),
        department=support,
        name="After your order",
        questions=QUESTIONS,
        translations=[GERMAN],
    )
    page = owner_page
    with loopback_smtp() as server:
        send_through(settings, server)
        page.goto(live_server.url + reverse("admin:surveys_survey_change", args=[survey.pk]))
        page.get_by_role("link", name="Preview and test send").click()

        assert page.get_by_test_id("subject").inner_text() == "Support would like your feedback"
        assert page.get_by_test_id("sender").inner_text() == "Support at Acme <surveys@cxfeedback.localhost>"
        email = page.frame_locator("iframe[title='The invitation e-mail (HTML)']")
        email.get_by_text("Hello Alex Sample,").wait_for(timeout=5000)
        assert_accessible(page)

        page.get_by_role("link", name="de", exact=True).click()
        page.wait_for_url("**/preview/?language=de")
        assert page.get_by_test_id("subject").inner_text() == "Wie war Ihre Bestellung?"
        assert "Support bei Acme" in page.get_by_test_id("sender").inner_text()
        email.get_by_text("Hallo Alex Sample,").wait_for()  # the e-mail drawn: the page stops moving

        link = page.get_by_role("link", name="Open the survey page as the customer sees it")
        link.scroll_into_view_if_needed()
        link.click()
        page.get_by_role("note", name="Preview").wait_for()
        page.get_by_text("Wie wahrscheinlich ist es, dass Sie uns empfehlen?").wait_for()
        assert_accessible(page)
        page.get_by_role("link", name="Back to the invitation preview").click()

        page.get_by_role("button", name="Send to myself").click()
        page.get_by_text("Test invitation (de) sent to alice@example.com.").wait_for()

    [message] = server.messages
    assert message["To"].addresses[0].addr_spec == "alice@example.com"
    assert message["Subject"] == "[Test] Wie war Ihre Bestellung?"
    assert Invitation.objects.count() == 0
