"""One-click unsubscribe and the preference centre: what the customer chooses is a consent record,
and the gatekeeper honours it at its very next decision."""

import base64
import datetime as dt
import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from contacts.models import Consent
from departments.actors import Actor
from surveys.delivery import links
from surveys.gatekeeper.eligibility import eligibility_check
from surveys.gatekeeper.preflight import send_request_preflight
from surveys.public.preferences import consent_from_email_event
from tests import factories
from tests.surveys.public.pages import invitation_with_link, survey_with_every_kind

PHONE = "+4915112345678"


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    settings.PUBLIC_RATE_LIMIT = "100000/minute"


@pytest.fixture
def customer(support, marketing):
    """Known to support and marketing, each of which supplied her email address and phone."""
    contact = factories.known_contact(support, email="carla@example.com", name="Carla")
    factories.IdentityFactory(contact=contact, kind="phone", value=PHONE, normalised=PHONE)
    factories.DepartmentContactFactory(department=marketing, contact=contact)
    phone = contact.identities.get(kind="phone")
    factories.DepartmentIdentityFactory(department=support, identity=phone)
    for identity in contact.identities.all():
        factories.DepartmentIdentityFactory(department=marketing, identity=identity)
    return contact


@pytest.fixture
def link(support, customer):
    """(invitation, token) of a support survey sent to the customer."""
    return invitation_with_link(survey_with_every_kind(support), customer)


@pytest.fixture
def csrf_client():
    """A client that gets 403 wherever Django's CSRF check applies (the test client skips it)."""
    return Client(enforce_csrf_checks=True)


def gatekeeper_says(contact, department, channel: str = "email") -> str:
    """The gatekeeper's reason for `department` surveying `contact` now ("" when allowed), asked about
    a survey the contact has no invitation for."""
    survey = factories.SurveyFactory(department=department)
    eligibility = eligibility_check(
        actor=Actor(department_ids=frozenset({department.pk})),
        department=department,
        survey=survey,
        channel=channel,
        contact_id=contact.pk,
    )
    return eligibility.reason


def test_the_unsubscribe_link_shows_a_button_and_changes_nothing(client, link, customer):
    _, token = link

    page = client.get(f"/u/{token}")

    html = page.content.decode()
    assert page.status_code == 200
    assert f'<form method="post" action="/u/{token}">' in html
    assert '<button type="submit" class="button">Unsubscribe</button>' in html
    assert f'href="/p/{token}"' in html
    assert not Consent.objects.exists()


def test_one_click_unsubscribe_needs_no_csrf_token_and_stops_every_survey_at_once(
    csrf_client, link, customer, support, marketing
):
    _, token = link

    # RFC 8058: the mail provider POSTs this body to the List-Unsubscribe address; no cookie, no token.
    answer = csrf_client.post(
        f"/u/{token}", "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert answer.status_code == 200
    consent = Consent.objects.get()
    assert (consent.kind, consent.source, consent.department_id, consent.channel) == (
        "opt_out",
        "unsubscribe_link",
        None,
        "",
    )
    request = factories.SendRequestFactory(
        department=support, survey=factories.SurveyFactory(department=support)
    )
    report = send_request_preflight(send_request=request)
    assert (report.outcome.allowed, report.outcome.blocked) == (0, {"opted_out": 1})
    assert gatekeeper_says(customer, marketing, "sms") == "opted_out"


def test_the_button_unsubscribes_once_however_often_it_is_pressed(client, link, customer, support):
    _, token = link

    first = client.post(f"/u/{token}")
    again = client.post(f"/u/{token}")
    later = client.get(f"/u/{token}")

    for page in (first, again, later):
        assert page.status_code == 200
        assert "You are unsubscribed" in page.content.decode()
    assert Consent.objects.count() == 1
    assert gatekeeper_says(customer, support) == "opted_out"


def test_unsubscribing_works_after_the_survey_link_expired(client, support, customer):
    _, token = invitation_with_link(
        survey_with_every_kind(support), customer, expires_in=dt.timedelta(days=-30)
    )

    assert client.post(f"/u/{token}").status_code == 200
    assert Consent.objects.filter(contact=customer, kind="opt_out").exists()


@pytest.mark.parametrize("address", ["/u/not-a-token", "/p/not-a-token"])
def test_an_unknown_token_unsubscribes_nobody(client, link, address):
    page = client.post(address) if address.startswith("/u/") else client.get(address)

    assert page.status_code == 404
    assert "This link is not valid" in page.content.decode()
    assert not Consent.objects.exists()


def test_the_preference_centre_offers_pausing_stopping_and_a_channel(client, link, support):
    _, token = link

    page = client.get(f"/p/{token}")

    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('<form method="post" class="preference">') == 3
    for days in (30, 90, 180):
        assert f'<label for="days-{days}">For {days} days</label>' in html
    assert "Only the surveys from Support" in html
    assert "All surveys, from everyone" in html
    assert "Only by text message (SMS)" in html
    assert "We may ask you for your opinion now and then." in html


def test_the_channel_choice_is_offered_only_to_contacts_with_both(client, support):
    email_only = factories.known_contact(support)
    _, token = invitation_with_link(survey_with_every_kind(support), email_only)

    html = client.get(f"/p/{token}").content.decode()

    assert html.count('<form method="post" class="preference">') == 2
    assert "Only by email" not in html


def test_pausing_blocks_every_department_until_the_pause_ends(
    csrf_client, link, customer, support, marketing
):
    _, token = link
    before = timezone.now()

    # As a browser posts the form: with the page's CSRF token, from the site's own origin.
    page = csrf_client.get(f"/p/{token}", secure=True).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    saved = csrf_client.post(
        f"/p/{token}", {"action": "snooze", "days": "90", "csrfmiddlewaretoken": csrf},
        secure=True, HTTP_ORIGIN="https://testserver",
    )  # fmt: skip

    assert saved.status_code == 303
    assert saved["Location"] == f"/p/{token}?saved=1"
    snooze = Consent.objects.get()
    assert (snooze.kind, snooze.source, snooze.department_id) == ("snooze", "preference_centre", None)
    assert before + dt.timedelta(days=90) <= snooze.until <= timezone.now() + dt.timedelta(days=90)
    assert gatekeeper_says(customer, support) == "snoozed"
    assert gatekeeper_says(customer, marketing, "sms") == "snoozed"
    page = csrf_client.get(saved["Location"]).content.decode()
    assert "Your choice has been saved." in page
    assert "Surveys are paused until" in page


def test_stopping_one_departments_surveys_leaves_the_others(client, link, customer, support, marketing):
    _, token = link

    client.post(f"/p/{token}", {"action": "opt_out", "scope": "department"})
    client.post(f"/p/{token}", {"action": "opt_out", "scope": "department"})

    consent = Consent.objects.get()
    assert (consent.kind, consent.department_id, consent.channel) == ("opt_out", support.pk, "")
    assert gatekeeper_says(customer, support) == "opted_out"
    assert gatekeeper_says(customer, marketing) == ""
    assert "You get no surveys from Support." in client.get(f"/p/{token}").content.decode()


def test_stopping_everyones_surveys(client, link, customer, support, marketing):
    _, token = link

    client.post(f"/p/{token}", {"action": "opt_out", "scope": "everyone"})

    assert gatekeeper_says(customer, support) == "opted_out"
    assert gatekeeper_says(customer, marketing, "sms") == "opted_out"


def test_a_channel_preference_blocks_the_other_channel_and_can_be_changed(client, link, customer, support):
    _, token = link

    client.post(f"/p/{token}", {"action": "channel", "channel": "email"})
    after_email = (gatekeeper_says(customer, support, "email"), gatekeeper_says(customer, support, "sms"))
    client.post(f"/p/{token}", {"action": "channel", "channel": "sms"})
    after_sms = (gatekeeper_says(customer, support, "email"), gatekeeper_says(customer, support, "sms"))

    assert after_email == ("", "opted_out")
    assert after_sms == ("opted_out", "")
    assert "We do not send you surveys by email." in client.get(f"/p/{token}").content.decode()


def test_preferring_email_does_not_lift_a_bounce(client, link, customer, support):
    _, token = link
    consent_from_email_event(email="carla@example.com", event_type="bounced", provider="Postmark")

    client.post(f"/p/{token}", {"action": "channel", "channel": "email"})

    assert gatekeeper_says(customer, support, "email") == "opted_out"
    assert gatekeeper_says(customer, support, "sms") == "opted_out"


def test_a_choice_left_empty_is_pointed_out_and_nothing_is_saved(client, link):
    _, token = link

    page = client.post(f"/p/{token}", {"action": "snooze"})

    assert page.status_code == 200
    assert 'id="days-error"' in page.content.decode()
    assert "Choose one of the options." in page.content.decode()
    assert not Consent.objects.exists()


def test_a_german_contact_gets_the_pages_in_german(client, support):
    german = factories.known_contact(support, locale="de")
    _, token = invitation_with_link(survey_with_every_kind(support), german)

    preferences = client.get(f"/p/{token}").content.decode()
    unsubscribe = client.get(f"/u/{token}").content.decode()
    done = client.post(f"/u/{token}").content.decode()

    assert "Ihre Einstellungen für Umfragen" in preferences
    assert "Für 30 Tage" in preferences
    assert "Nur die Umfragen von Support" in preferences
    assert ">Abmelden</button>" in unsubscribe
    assert "Sie sind abgemeldet" in done


def inbound_mail(client: Client, *, to: str, subject: str):
    """A mail arriving at the provider's inbound address, as Postmark's inbound webhook posts it."""
    message = {
        "FromFull": {"Email": "carla@example.com", "Name": "Carla"},
        "ToFull": [{"Email": to, "Name": ""}],
        "Subject": subject,
        "TextBody": "",
        "Headers": [],
    }
    return client.post(
        "/webhooks/anymail/postmark/inbound/",
        json.dumps(message),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"user:pass").decode(),
    )


def test_a_mail_to_the_unsubscribe_address_unsubscribes_like_the_button(
    client, link, customer, support, marketing, settings
):
    """List-Unsubscribe's mailto: the mail client sends `unsubscribe-<token>` to unsubscribe@."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    _, token = link
    address = links.unsubscribe_mailto(token).removeprefix("mailto:").split("?")[0]

    answers = [inbound_mail(client, to=address, subject=f"Re: unsubscribe-{token}") for _ in range(2)]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert Consent.objects.filter(contact=customer, kind=Consent.Kind.OPT_OUT).count() == 1
    assert gatekeeper_says(customer, support) == gatekeeper_says(customer, marketing) == "opted_out"


@pytest.mark.parametrize(
    "to, subject",
    [
        ("unsubscribe@cxfeedback.localhost", "unsubscribe-not-a-token-anyone-was-given"),
        ("unsubscribe@cxfeedback.localhost", "please stop"),
        ("someone-else@cxfeedback.localhost", "unsubscribe-{token}"),
    ],
)
def test_other_inbound_mail_unsubscribes_nobody(client, link, customer, support, settings, to, subject):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    settings.DEFAULT_FROM_EMAIL = "Surveys <surveys@cxfeedback.localhost>"
    _, token = link

    assert inbound_mail(client, to=to, subject=subject.format(token=token)).status_code == 200

    assert not Consent.objects.filter(contact=customer, kind=Consent.Kind.OPT_OUT).exists()
    assert gatekeeper_says(customer, support) == ""
