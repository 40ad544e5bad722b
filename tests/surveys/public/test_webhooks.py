"""Bounces and complaints from the email provider, and STOP by SMS, become consent records that the
gatekeeper honours."""

import base64
import json

import pytest
from anymail.exceptions import AnymailInsecureWebhookWarning
from anymail.signals import AnymailTrackingEvent, tracking

from contacts.models import Consent
from departments.actors import Actor
from surveys.gatekeeper.eligibility import eligibility_check
from tests import factories

PHONE = "+4915112345678"
SECRET = "sms-webhook-secret"


@pytest.fixture
def customer(support):
    contact = factories.known_contact(support, email="Carla.Customer@Example.com")
    phone = factories.IdentityFactory(contact=contact, kind="phone", value=PHONE, normalised=PHONE)
    factories.DepartmentIdentityFactory(department=support, identity=phone)  # support may text it
    return contact


def reason(contact, department, channel: str) -> str:
    survey = factories.SurveyFactory(department=department)
    return eligibility_check(
        actor=Actor(department_ids=frozenset({department.pk})),
        department=department,
        survey=survey,
        channel=channel,
        contact_id=contact.pk,
    ).reason


def provider_says(event_type: str, recipient: str) -> None:
    """What django-anymail does when a provider's webhook reports an event."""
    event = AnymailTrackingEvent(event_type=event_type, recipient=recipient, esp_event={})
    tracking.send(sender=object, event=event, esp_name="Postmark")


@pytest.mark.parametrize("event_type", ["bounced", "rejected"])
def test_a_bounce_opts_the_address_out_of_email_only(customer, support, event_type):
    provider_says(event_type, "carla.customer@example.com")

    consent = Consent.objects.get()
    assert (consent.contact_id, consent.kind, consent.channel, consent.source, consent.department_id) == (
        customer.pk,
        "opt_out",
        "email",
        "bounce",
        None,
    )
    assert consent.recorded_by == "email provider (Postmark)"
    assert reason(customer, support, "email") == "opted_out"
    assert reason(customer, support, "sms") == ""


def test_a_complaint_opts_the_contact_out_of_every_channel(customer, support):
    provider_says("complained", "CARLA.customer@example.com")

    consent = Consent.objects.get()
    assert (consent.kind, consent.channel, consent.source) == ("opt_out", "", "complaint")
    assert reason(customer, support, "sms") == "opted_out"


def test_repeated_bounces_are_recorded_once(customer):
    for _ in range(3):
        provider_says("bounced", "carla.customer@example.com")

    assert Consent.objects.count() == 1


@pytest.mark.parametrize(
    ("event_type", "recipient"),
    [("delivered", "carla.customer@example.com"), ("opened", "carla.customer@example.com"),
     ("bounced", "nobody@example.com"), ("bounced", "not an address"), ("bounced", None)],
)  # fmt: skip
def test_other_events_and_unknown_addresses_record_nothing(customer, event_type, recipient):
    provider_says(event_type, recipient)

    assert not Consent.objects.exists()


def test_the_providers_webhook_reaches_the_same_place(client, customer, support, settings):
    """The whole way in: Postmark's bounce webhook, authenticated with the webhook secret."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    bounce = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "ID": 42,
        "Email": "carla.customer@example.com",
        "BouncedAt": "2026-11-23T10:00:00Z",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The server was unable to deliver your message.",
    }
    auth = "Basic " + base64.b64encode(b"user:pass").decode()

    refused = client.post(
        "/webhooks/anymail/postmark/tracking/", json.dumps(bounce), content_type="application/json"
    )
    accepted = client.post(
        "/webhooks/anymail/postmark/tracking/",
        json.dumps(bounce),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )

    assert (refused.status_code, accepted.status_code) == (400, 200)
    assert reason(customer, support, "email") == "opted_out"


def test_without_the_webhook_secret_an_anonymous_complaint_opts_nobody_out(
    client, customer, support, settings
):
    """Outside DEBUG the app does not start like this (tests/cxfeedback/test_deploy_settings.py); were
    the secret gone all the same, django-anymail would take anyone's call, and it must change nothing."""
    settings.ANYMAIL = {}
    complaint = {
        "RecordType": "SpamComplaint",
        "ID": 43,
        "Email": "carla.customer@example.com",
        "BouncedAt": "2026-11-23T10:00:00Z",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79484",
    }

    with pytest.warns(AnymailInsecureWebhookWarning):
        answer = client.post(
            "/webhooks/anymail/postmark/tracking/", json.dumps(complaint), content_type="application/json"
        )

    assert answer.status_code == 200  # anymail took it and announced it
    assert not Consent.objects.exists()
    assert reason(customer, support, "email") == reason(customer, support, "sms") == ""


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop please", "UNSUBSCRIBE", "ARRET", "Stopp!", "arrêt"])
def test_an_sms_stop_opts_the_phone_out_of_sms(client, customer, support, settings, text):
    settings.SMS_INBOUND_SECRET = SECRET

    answer = client.post(
        "/webhooks/sms/inbound", {"from": "0151 1234 5678", "text": text}, HTTP_X_WEBHOOK_SECRET=SECRET
    )

    assert answer.status_code == 200
    consent = Consent.objects.get()
    assert (consent.contact_id, consent.kind, consent.channel, consent.source) == (
        customer.pk,
        "opt_out",
        "sms",
        "sms_stop",
    )
    assert reason(customer, support, "sms") == "opted_out"
    assert reason(customer, support, "email") == ""


@pytest.mark.parametrize("text", ["Thanks!", "", "Don't stop"])
def test_other_sms_replies_change_nothing(client, customer, settings, text):
    settings.SMS_INBOUND_SECRET = SECRET

    answer = client.post("/webhooks/sms/inbound", {"from": PHONE, "text": text}, HTTP_X_WEBHOOK_SECRET=SECRET)

    assert answer.status_code == 200
    assert not Consent.objects.exists()


def test_a_stop_from_an_unknown_phone_is_answered_like_any_other(client, customer, settings):
    settings.SMS_INBOUND_SECRET = SECRET

    answer = client.post(
        "/webhooks/sms/inbound", {"from": "+4917000000000", "text": "STOP"}, HTTP_X_WEBHOOK_SECRET=SECRET
    )

    assert answer.status_code == 200
    assert not Consent.objects.exists()


@pytest.mark.parametrize(("configured", "sent"), [(SECRET, "wrong"), (SECRET, None), ("", "")])
def test_the_sms_webhook_refuses_without_the_shared_secret(client, customer, settings, configured, sent):
    settings.SMS_INBOUND_SECRET = configured
    headers = {} if sent is None else {"HTTP_X_WEBHOOK_SECRET": sent}

    answer = client.post("/webhooks/sms/inbound", {"from": PHONE, "text": "STOP"}, **headers)

    assert answer.status_code == 403
    assert not Consent.objects.exists()


def test_the_sms_webhook_needs_the_sender_and_a_post(client, settings):
    settings.SMS_INBOUND_SECRET = SECRET

    missing = client.post("/webhooks/sms/inbound", {"text": "STOP"}, HTTP_X_WEBHOOK_SECRET=SECRET)
    fetched = client.get("/webhooks/sms/inbound", HTTP_X_WEBHOOK_SECRET=SECRET)

    assert missing.status_code == 400
    assert fetched.status_code == 405
