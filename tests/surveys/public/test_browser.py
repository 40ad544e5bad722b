"""The public pages in a real browser on a phone-sized screen: Debian's Chromium, headless, driven by
Playwright against the live test server, with axe-core checking accessibility (tests/browser.py).
Without a Chromium binary the tests are skipped, saying why.
"""

from __future__ import annotations

import re

import pytest

from surveys.models import Answer, Response
from tests import factories
from tests.browser import assert_accessible, browser_session
from tests.surveys.public.pages import invitation_with_link, survey_with_every_kind

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def browser(monkeypatch):
    yield from browser_session(monkeypatch)


@pytest.fixture
def phone(browser):
    """A new tab on a phone-sized, touch screen."""
    contexts = []

    def open_tab():
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB")
        contexts.append(context)
        return context.new_page()

    yield open_tab
    for context in contexts:
        context.close()


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    settings.PUBLIC_RATE_LIMIT = "100000/minute"


@pytest.fixture
def link(support):
    contact = factories.known_contact(support, email="carla@example.com", name="Carla", locale="en")
    factories.IdentityFactory(
        contact=contact, kind="phone", value="+4915112345678", normalised="+4915112345678"
    )
    return invitation_with_link(survey_with_every_kind(support), contact)


def choose(page, question: str, point: int) -> None:
    """Tap a point of a scale question, as a finger would: on its label."""
    page.get_by_role("group", name=question).get_by_role("radio", name=re.compile(rf"^{point}\b")).check()


def test_a_customer_answers_every_kind_of_question_on_a_phone(live_server, phone, link):
    invitation, token = link
    page = phone()

    page.goto(f"{live_server.url}/t/{token}")
    assert page.title() == "Your recent order"
    assert_accessible(page)
    # Nothing sticks out sideways on a 390 px screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # A first try with the free text written and the NPS forgotten: told what to fix, text kept.
    page.get_by_label("Anything else you want to tell us?").fill("Quick and friendly.")
    page.get_by_role("button", name="Send answers").click()
    assert page.title() == "Error: Your recent order"
    assert page.evaluate("document.activeElement.className") == "error-summary"
    assert page.get_by_label("Anything else you want to tell us?").input_value() == "Quick and friendly."
    assert_accessible(page)

    nps = page.get_by_role("group", name="How likely are you to recommend us to a friend?")
    nps.get_by_text("9", exact=True).click()
    page.get_by_role("group", name="How satisfied are you with our help?").get_by_text(
        "4", exact=True
    ).click()
    # The CES scale by keyboard alone: focus its first point, then arrow keys move the choice.
    page.focus("#q3-0")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    choose(page, "How would you rate the delivery?", 3)
    page.get_by_text("Toaster", exact=True).click()
    page.get_by_text("Price", exact=True).click()
    page.get_by_text("Friendliness", exact=True).click()
    page.get_by_role("button", name="Send answers").click()

    page.wait_for_url(f"{live_server.url}/t/{token}/thanks")
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you"
    assert_accessible(page)
    response = Response.objects.get(invitation=invitation)
    stored = {
        answer.question.position: answer.value_number or answer.value_text or answer.value_choices
        for answer in Answer.objects.filter(response=response).select_related("question")
    }
    assert stored == {
        1: 9,
        2: 4,
        3: 6,
        4: 3,
        5: ["Toaster"],
        6: ["Price", "Friendliness"],
        7: "Quick and friendly.",
    }

    page.goto(f"{live_server.url}/t/{token}")
    assert page.get_by_role("heading", level=1).inner_text() == "You have answered this survey"


def test_a_second_tab_submitting_later_is_told_the_survey_is_answered(live_server, phone, link):
    invitation, token = link
    first, second = phone(), phone()
    for tab in (first, second):
        tab.goto(f"{live_server.url}/t/{token}")
    answers = {
        "How likely are you to recommend us to a friend?": 10,
        "How satisfied are you with our help?": 5,
        "The company made it easy to handle my issue.": 7,
        "How would you rate the delivery?": 4,
    }
    for tab in (first, second):
        for question, point in answers.items():
            choose(tab, question, point)
        tab.get_by_text("Mixer", exact=True).click()
        tab.get_by_text("Speed", exact=True).click()

    first.get_by_role("button", name="Send answers").click()
    first.wait_for_url(f"{live_server.url}/t/{token}/thanks")
    second.get_by_role("button", name="Send answers").click()

    assert second.get_by_role("heading", level=1).inner_text() == "You have answered this survey"
    assert_accessible(second)
    assert Response.objects.filter(invitation=invitation).count() == 1


def test_the_preference_centre_and_unsubscribe_work_by_keyboard_and_are_accessible(live_server, phone, link):
    invitation, token = link
    page = phone()

    page.goto(f"{live_server.url}/p/{token}")
    assert_accessible(page)
    page.get_by_label("For 90 days").check()
    page.get_by_role("button", name="Pause surveys").click()
    page.wait_for_url(f"{live_server.url}/p/{token}?saved=1")
    assert "Surveys are paused until" in page.inner_text("main")
    assert_accessible(page)

    page.goto(f"{live_server.url}/u/{token}")
    assert_accessible(page)
    page.get_by_role("button", name="Unsubscribe").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_role("heading", level=1).inner_text() == "You are unsubscribed"
    assert_accessible(page)
    assert invitation.contact.consents.filter(kind="opt_out", source="unsubscribe_link").exists()


def test_an_invalid_link_page_is_accessible(live_server, phone):
    page = phone()

    page.goto(f"{live_server.url}/t/not-a-real-token")

    assert page.get_by_role("heading", level=1).inner_text() == "This link is not valid"
    assert_accessible(page)


def test_the_browser_enforces_a_policy_with_no_script_and_the_page_needs_none(live_server, phone, link):
    """The customer's page loads with nothing refused, while a script slipped into it would not run
    (cxfeedback/csp.py)."""
    _, token = link
    page = phone()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security" in message.text else None,
    )

    page.goto(f"{live_server.url}/t/{token}")
    page.wait_for_load_state("load")
    loaded_cleanly = list(refused)
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
        " document.head.appendChild(s); }"
    )

    assert loaded_cleanly == []
    assert page.evaluate("() => window.injected") is None
    assert any("Content Security Policy" in text for text in refused)
