"""Every public page on the smallest phone screen in use (320 CSS pixels, an iPhone SE's first
generation or a phone with its text set large): nothing scrolls sideways, every target is big enough
to tap, and axe-core finds no serious or critical violation. Chromium via Playwright (tests/browser.py)."""

from __future__ import annotations

import pytest

from tests import factories
from tests.browser import browser_session, horizontal_overflow, serious_violations
from tests.surveys.public.pages import invitation_with_link, survey_with_every_kind

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SMALL_PHONE = {"width": 320, "height": 568}
# WCAG 2.2's target size: 24 px at least (2.5.8, AA); 44 px is what this app's pages promise (2.5.5).
TARGET_PX = 44


@pytest.fixture
def browser(monkeypatch):
    yield from browser_session(monkeypatch)


@pytest.fixture
def small_phone(browser):
    context = browser.new_context(viewport=SMALL_PHONE, is_mobile=True, has_touch=True, locale="en-GB")
    yield context.new_page()
    context.close()


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    settings.PUBLIC_RATE_LIMIT = "100000/minute"


@pytest.fixture
def links(support):
    """Links of a survey with every question kind to two contacts with an email address and a phone
    each (so the preference centre offers a channel too)."""
    survey, tokens = survey_with_every_kind(support), []
    for name, phone in (("Carla", "+4915112345678"), ("Dev", "+4915112345679")):
        contact = factories.known_contact(
            support, email=f"{name.lower()}@example.com", name=name, locale="en"
        )
        factories.IdentityFactory(contact=contact, kind="phone", value=phone, normalised=phone)
        tokens.append(invitation_with_link(survey, contact)[1])
    return tokens


def page_problems(page) -> list[str]:
    """What is wrong with the page as it is now on the small screen: sideways scrolling, axe-core's
    serious and critical findings."""
    problems = serious_violations(page)
    overflow = horizontal_overflow(page)
    if overflow > 0:
        problems.append(f"scrolls sideways by {overflow} px")
    return problems


def small_targets(page, selector: str) -> list[str]:
    """The elements matching `selector` smaller than TARGET_PX either way, with their size."""
    sizes = page.eval_on_selector_all(
        selector,
        "nodes => nodes.map(n => { const r = n.getBoundingClientRect();"
        " return [n.textContent.trim(), Math.round(r.width), Math.round(r.height)]; })",
    )
    assert sizes, selector
    return [f"{text!r} {width}×{height}" for text, width, height in sizes if min(width, height) < TARGET_PX]


def test_every_public_page_fits_a_320_px_screen_and_is_accessible(live_server, small_phone, links, settings):
    answered, unanswered = links
    page, seen = small_phone, {}

    def visit(name: str, path: str | None = None) -> None:
        if path is not None:
            page.goto(f"{live_server.url}{path}")
        seen[name] = page_problems(page)

    visit("survey", f"/t/{unanswered}")
    scale_labels = small_targets(page, ".scale label")
    page.get_by_role("button", name="Send answers").click()
    visit("survey with errors")
    visit("invalid link", "/t/not-a-real-token")
    visit("unsubscribe", f"/u/{unanswered}")
    visit("preferences", f"/p/{unanswered}")
    page.get_by_role("button", name="Save").click()  # no channel chosen: an error
    visit("preferences with an error")
    page.get_by_label("For 180 days").check()
    page.get_by_role("button", name="Pause surveys").click()
    visit("preferences saved")
    page.get_by_label("For 30 days").check()
    page.get_by_role("button", name="Pause surveys").click()
    assert "that longer pause stays" in page.inner_text("main")
    visit("preferences, a longer pause kept")

    page.goto(f"{live_server.url}/t/{answered}")
    for scale in page.locator(".scale").all():  # NPS, CSAT, CES and the rating: their top point
        scale.locator("label").last.click()
    page.get_by_text("Toaster", exact=True).click()
    page.get_by_text("Price", exact=True).click()
    page.get_by_role("button", name="Send answers").click()
    page.wait_for_url(f"{live_server.url}/t/{answered}/thanks")
    visit("thanks")
    lone_links = small_targets(page, "a.target-link")
    visit("already answered", f"/t/{answered}")
    page.goto(f"{live_server.url}/u/{answered}")
    page.get_by_role("button", name="Unsubscribe").click()
    visit("unsubscribed")
    settings.PUBLIC_RATE_LIMIT = "1/minute"
    for _ in range(3):
        page.goto(f"{live_server.url}/t/not-a-real-token")
    assert page.get_by_role("heading", level=1).inner_text() == "Too many requests"
    visit("too many requests")

    assert seen == {name: [] for name in seen}
    assert scale_labels == []
    assert lone_links == []
