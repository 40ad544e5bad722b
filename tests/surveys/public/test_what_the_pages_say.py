"""What the customer's pages tell them: who is asking, what a choice in the preference centre
actually did, and what to do with a link that no longer works."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from contacts.models import Consent
from departments.models import CompanySettings
from surveys.models import Survey
from tests import factories
from tests.surveys.public.pages import EVERY_KIND_ANSWERS, invitation_with_link, survey_with_every_kind

PHONE = "+4915112345678"


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    settings.PUBLIC_RATE_LIMIT = "100000/minute"


@pytest.fixture
def acme(db):
    CompanySettings.objects.update_or_create(pk=1, defaults={"company_name": "Acme Appliances"})


@pytest.fixture
def customer(support):
    contact = factories.known_contact(support, email="carla@example.com", name="Carla", locale="en")
    factories.IdentityFactory(contact=contact, kind="phone", value=PHONE, normalised=PHONE)
    return contact


@pytest.fixture
def link(support, customer):
    return invitation_with_link(survey_with_every_kind(support), customer)


def text_of(response) -> str:
    """The page's words as a reader gets them, tags and repeated white space gone."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_every_page_of_a_link_says_which_department_of_which_company_asks(client, acme, link):
    _, token = link

    pages = {"survey": client.get(f"/t/{token}"), "preferences": client.get(f"/p/{token}")}
    pages["unsubscribe"] = client.get(f"/u/{token}")
    client.post(f"/t/{token}", EVERY_KIND_ANSWERS)
    pages["thanks"] = client.get(f"/t/{token}/thanks")
    pages["answered"] = client.get(f"/t/{token}")
    pages["unsubscribed"] = client.post(f"/u/{token}")

    assert {name: "Support at Acme Appliances" in text_of(page) for name, page in pages.items()} == {
        name: True for name in pages
    }


def test_a_sent_surveys_page_shows_a_new_company_name_at_once(client, acme, support, customer):
    survey = survey_with_every_kind(support)
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())
    survey.refresh_from_db()
    _, token = invitation_with_link(survey, customer)
    before = text_of(client.get(f"/t/{token}"))

    CompanySettings.objects.filter(pk=1).update(company_name="Acme Home")

    assert "Support at Acme Appliances" in before
    assert "Support at Acme Home" in text_of(client.get(f"/t/{token}"))


def test_without_a_company_name_the_department_alone_is_named(client, link):
    _, token = link

    page = text_of(client.get(f"/t/{token}"))

    assert "Support" in page
    assert " at " not in page.split("Your recent order")[0]


def test_an_invalid_link_names_the_company_and_says_what_can_be_done(client, acme, support, customer):
    _, expired = invitation_with_link(
        survey_with_every_kind(support), customer, expires_in=dt.timedelta(seconds=-1)
    )

    page = text_of(client.get(f"/t/{expired}"))

    assert "Acme Appliances" in page
    assert "Support" not in page  # the same page as for a made-up link, which names no department
    assert "What you can do" in page
    assert (
        "use the “Unsubscribe” or “Choose who may ask you and how often” link at the end of any email" in page
    )


def test_the_pause_says_it_holds_every_departments_surveys(client, link):
    _, token = link

    page = text_of(client.get(f"/p/{token}"))

    assert "A pause holds the surveys of every department, not only Support, on every channel." in page


def test_a_shorter_pause_than_one_in_force_is_not_called_saved(client, link, customer):
    _, token = link
    client.post(f"/p/{token}", {"action": "snooze", "days": "180"})
    long_pause = Consent.objects.get(contact=customer, kind="snooze")

    shorter = client.post(f"/p/{token}", {"action": "snooze", "days": "30"})
    page = text_of(client.get(shorter["Location"]))

    assert shorter["Location"] == f"/p/{token}?saved=pause_kept"
    assert list(Consent.objects.filter(contact=customer)) == [long_pause]
    until = long_pause.until.strftime("%B %-d, %Y").replace(" 0", " ")
    assert f"You already paused surveys until {until}; that longer pause stays." in page
    assert "has been saved" not in page


def test_a_longer_pause_than_one_in_force_is_saved(client, link, customer):
    _, token = link
    client.post(f"/p/{token}", {"action": "snooze", "days": "30"})

    longer = client.post(f"/p/{token}", {"action": "snooze", "days": "90"})

    assert "Your choice has been saved." in text_of(client.get(longer["Location"]))
    assert Consent.objects.filter(contact=customer, kind="snooze").count() == 2


def test_a_channel_chosen_after_unsubscribing_is_not_called_saved(client, acme, link):
    """An unsubscribe is only lifted by a person asked to: a channel choice keeps it, and says so."""
    _, token = link
    client.post(f"/u/{token}")

    chosen = client.post(f"/p/{token}", {"action": "channel", "channel": "email"})
    page = text_of(client.get(chosen["Location"]))

    assert "Your choice is kept, but it changes nothing for now: you unsubscribed from all surveys" in page
    assert "To receive surveys again, contact Acme Appliances and ask to be resubscribed." in page
    assert "has been saved" not in page
    assert "You are unsubscribed from all surveys." in page


def test_an_unknown_saved_word_in_the_address_shows_no_message(client, link):
    _, token = link

    page = text_of(client.get(f"/p/{token}?saved=anything"))

    assert "saved" not in page
    assert "pause stays" not in page


def test_a_german_contact_reads_all_of_it_in_german(client, acme, support):
    german = factories.known_contact(support, locale="de")
    _, token = invitation_with_link(survey_with_every_kind(support), german)
    client.post(f"/p/{token}", {"action": "snooze", "days": "180"})

    shorter = client.post(f"/p/{token}", {"action": "snooze", "days": "30"})
    page = text_of(client.get(shorter["Location"]))

    assert "Support bei Acme Appliances" in page
    assert "Eine Pause gilt für die Umfragen aller Abteilungen, nicht nur von Support" in page
    assert "diese längere Pause bleibt bestehen." in page
