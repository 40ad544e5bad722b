"""Twilio's incoming-message webhook: a customer's STOP, signed by Twilio, opts them out of SMS; START
takes only that STOP back. Signatures are computed with twilio's own RequestValidator over the
parameters Twilio documents for an incoming message."""

import pytest
from twilio.request_validator import RequestValidator

from contacts.models import Consent
from surveys.public.webhooks import sms_keyword
from tests import factories
from tests.surveys.public.test_webhooks import PHONE, customer, reason  # noqa: F401 — the fixture

AUTH_TOKEN = "12345"
SITE_URL = "https://cx.example.com"
WEBHOOK_URL = f"{SITE_URL}/webhooks/sms/twilio"


@pytest.fixture(autouse=True)
def twilio_account(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.SITE_URL = SITE_URL


def incoming_message(body: str, **extra: str) -> dict[str, str]:
    """What Twilio posts for an incoming SMS (its messaging webhook's documented parameters)."""
    return {
        "ToCountry": "DE",
        "ToState": "",
        "SmsMessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "DE",
        "To": "+4915799990000",
        "MessagingServiceSid": "MG9752274e9e519418a7406176694466fa",
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "From": PHONE,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def twilio_posts(client, params: dict[str, str], *, url: str = WEBHOOK_URL, token: str = AUTH_TOKEN):
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post("/webhooks/sms/twilio", params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_the_validator_computes_twilios_documented_signature():
    # Twilio's security documentation: auth token 12345, this URL and these parameters.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    validator = RequestValidator("12345")

    assert validator.validate(
        "https://mycompany.com/myapp.php?foo=1&bar=2", params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    )


@pytest.mark.parametrize(
    "body", ["STOP", "stop", "Stop texting me", "UNSUBSCRIBE", "Cancel", "QUIT", "OPTOUT"]
)
def test_a_stop_signed_by_twilio_opts_the_phone_out_of_sms(client, customer, support, body):  # noqa: F811
    answer = twilio_posts(client, incoming_message(body))

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/xml")
    assert answer.content.decode().endswith("<Response></Response>")
    consent = Consent.objects.get()
    assert (consent.contact_id, consent.kind, consent.channel, consent.source, consent.recorded_by) == (
        customer.pk,
        "opt_out",
        "sms",
        "sms_stop",
        "sms provider (Twilio)",
    )
    assert reason(customer, support, "sms") == "opted_out"
    assert reason(customer, support, "email") == ""


@pytest.mark.parametrize(
    ("signed_url", "token", "header"),
    [
        (WEBHOOK_URL, "another-account's-token", True),  # not our account
        ("https://evil.example.com/webhooks/sms/twilio", AUTH_TOKEN, True),  # signed for another URL
        (WEBHOOK_URL, AUTH_TOKEN, False),  # no signature at all
    ],
)
def test_a_stop_without_twilios_signature_changes_nothing(client, customer, signed_url, token, header):  # noqa: F811
    params = incoming_message("STOP")
    signature = RequestValidator(token).compute_signature(signed_url, params)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if header else {}

    answer = client.post("/webhooks/sms/twilio", params, **headers)

    assert answer.status_code == 403
    assert not Consent.objects.exists()


def test_a_changed_parameter_breaks_the_signature(client, customer):  # noqa: F811
    params = incoming_message("Thanks")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(WEBHOOK_URL, params)

    answer = client.post(
        "/webhooks/sms/twilio", {**params, "Body": "STOP"}, HTTP_X_TWILIO_SIGNATURE=signature
    )

    assert answer.status_code == 403
    assert not Consent.objects.exists()


def test_without_the_auth_token_every_call_is_refused(client, customer, settings):  # noqa: F811
    settings.TWILIO_AUTH_TOKEN = ""

    answer = twilio_posts(client, incoming_message("STOP"), token="")

    assert answer.status_code == 403
    assert not Consent.objects.exists()


def test_start_takes_the_stop_back(client, customer, support):  # noqa: F811
    twilio_posts(client, incoming_message("STOP"))
    answer = twilio_posts(client, incoming_message("START"))

    assert answer.status_code == 200
    assert list(Consent.objects.order_by("pk").values_list("kind", "channel", "note")) == [
        ("opt_out", "sms", ""),
        ("opt_in", "sms", "START"),
    ]
    assert reason(customer, support, "sms") == ""


def test_start_never_lifts_an_opt_out_given_another_way(client, customer, support):  # noqa: F811
    # Unsubscribed from everything by their link, then STOP and START by text: SMS stays off.
    factories.ConsentFactory(contact=customer, source=Consent.Source.UNSUBSCRIBE_LINK)
    twilio_posts(client, incoming_message("STOP"))

    twilio_posts(client, incoming_message("START"))

    assert not Consent.objects.filter(kind="opt_in").exists()
    assert reason(customer, support, "sms") == "opted_out"


def test_start_never_lifts_a_departments_opt_out(client, customer, support):  # noqa: F811
    factories.ConsentFactory(contact=customer, department=support)  # support's own record of a no
    twilio_posts(client, incoming_message("STOP"))

    twilio_posts(client, incoming_message("START"))

    assert not Consent.objects.filter(kind="opt_in").exists()
    assert reason(customer, support, "sms") == "opted_out"


def test_start_without_a_stop_records_nothing(client, customer):  # noqa: F811
    twilio_posts(client, incoming_message("UNSTOP"))

    assert not Consent.objects.exists()


def test_twilios_advanced_opt_out_type_wins_over_the_words(client, customer, support):  # noqa: F811
    # An account keyword in another language ("BASTA"), matched by Twilio and named in OptOutType.
    twilio_posts(client, incoming_message("BASTA", OptOutType="STOP"))
    help_asked = twilio_posts(client, incoming_message("STOP?", OptOutType="HELP"))

    assert help_asked.status_code == 200
    assert Consent.objects.count() == 1
    assert reason(customer, support, "sms") == "opted_out"


def test_the_sender_is_required(client, customer):  # noqa: F811
    params = incoming_message("STOP")
    del params["From"]

    assert twilio_posts(client, params).status_code == 400


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", "stop"), ("stop all", "stop"), ("Revoke", "stop"), ("Stopp!", "stop"),
        ("START", "start"), ("unstop", "start"), ("Yes", "start"),
        ("Start over? No", ""), ("yes please stop", ""), ("Don't stop", ""), ("", ""), ("HELP", ""),
    ],
)  # fmt: skip
def test_what_an_sms_says(text, keyword):
    assert sms_keyword(text) == keyword
