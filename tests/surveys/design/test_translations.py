"""Survey translations (issue 17): a German contact gets the German e-mail and the German questions,
an English one the survey's own; the From names the department and the company."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from departments.actors import Actor, actor_for_user
from departments.models import CompanySettings
from surveys.delivery.sending import invitations_send_batch
from surveys.design.surveys import survey_create, survey_update
from surveys.design.translations import language_match
from surveys.errors import InvalidSurvey
from surveys.models import Answer, Survey
from tests import factories
from tests.api import assert_error
from tests.smtp import loopback_smtp, send_through

QUESTIONS = [
    {"kind": "nps", "text": "How likely are you to recommend us?"},
    {"kind": "single_choice", "text": "Which product did you buy?", "choices": ["Kettle", "Toaster"]},
]
GERMAN = {
    "language": "de",
    "name": "Nach Ihrer Bestellung",
    "intro": "Zwei kurze Fragen.",
    "email_subject": "Wie war Ihre Bestellung?",
    "questions": [
        {"text": "Wie wahrscheinlich ist es, dass Sie uns empfehlen?"},
        {"text": "Welches Produkt haben Sie gekauft?", "choices": ["Wasserkocher", "Toaster"]},
    ],
}


@pytest.fixture(autouse=True)
def anytime(settings):
    settings.QUIET_HOURS_START = settings.QUIET_HOURS_END = "00:00"
    settings.PUBLIC_RATE_LIMIT = "100000/minute"


@pytest.fixture
def owner(alice) -> Actor:
    return actor_for_user(alice)


@pytest.fixture
def survey(support, owner) -> Survey:
    return survey_create(
        actor=owner, department=support, name="After your order", questions=QUESTIONS, translations=[GERMAN]
    )


def sent_messages(support, survey, **contacts) -> dict[str, mail.EmailMessage]:
    """Send `survey` to each email → locale; the message each got, by address."""
    for email, locale in contacts.items():
        factories.known_contact(support, email=email, locale=locale, name=email.split("@")[0])
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())  # sent surveys are frozen
    send_request = factories.screened_request(support, survey=Survey.objects.get(pk=survey.pk))
    invitations_send_batch(invitation_ids=list(send_request.invitations.values_list("pk", flat=True)))
    return {message.to[0].split("<")[-1].rstrip(">"): message for message in mail.outbox}


def link_in(message: mail.EmailMessage) -> str:
    start = message.body.index("/t/")
    return message.body[start : start + 200].split()[0]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("de", "de"), ("de-AT", "de"), ("de_at", "de"), ("DE", "de"), ("fr", None), ("", None), ("en-GB", "en")],
)
def test_a_locale_picks_its_own_language_or_its_base(locale, expected):
    assert language_match(locale, ["en", "de"]) == expected


def test_a_regional_translation_wins_over_its_base():
    assert language_match("de-AT", ["de", "de-AT"]) == "de-AT"


def test_german_contacts_get_the_german_email_and_questions_others_the_surveys_own(support, survey, client):
    CompanySettings.objects.update_or_create(pk=1, defaults={"company_name": "Acme"})
    messages = sent_messages(support, survey, **{"grete@example.com": "de-AT", "ann@example.com": "en"})

    german, english = messages["grete@example.com"], messages["ann@example.com"]
    assert german.subject == "Wie war Ihre Bestellung?"
    assert german.from_email == "Support bei Acme <surveys@cxfeedback.localhost>"
    assert "Nach Ihrer Bestellung" in german.body and "Zwei kurze Fragen." in german.body
    assert english.subject == "Support would like your feedback"
    assert english.from_email == "Support at Acme <surveys@cxfeedback.localhost>"
    assert "After your order" in english.body

    page = client.get(link_in(german)).content.decode()
    assert "Wie wahrscheinlich ist es, dass Sie uns empfehlen?" in page
    assert '<label for="q2-0">Wasserkocher</label>' in page and ">Kettle<" not in page
    assert "How likely are you to recommend us?" not in page
    english_page = client.get(link_in(english)).content.decode()
    assert "How likely are you to recommend us?" in english_page
    assert '<label for="q2-0">Kettle</label>' in english_page


def test_a_translated_choice_is_stored_as_the_surveys_own(support, survey, client):
    messages = sent_messages(support, survey, **{"grete@example.com": "de"})
    link = link_in(messages["grete@example.com"])
    client.get(link)

    response = client.post(link, {"q1": "9", "q2": "Kettle"})

    assert response.status_code == 303
    assert Answer.objects.get(question__position=2).value_choices == ["Kettle"]


def test_without_a_company_name_the_sender_is_the_department(support, survey):
    CompanySettings.objects.update_or_create(pk=1, defaults={"company_name": ""})
    messages = sent_messages(support, survey, **{"ann@example.com": "en"})
    assert messages["ann@example.com"].from_email == "Support <surveys@cxfeedback.localhost>"


def test_a_non_ascii_sender_name_arrives_readable(support, survey, settings):
    CompanySettings.objects.update_or_create(pk=1, defaults={"company_name": "Bäckerei Müller, Söhne"})
    with loopback_smtp() as server:
        send_through(settings, server)
        sent_messages(support, survey, **{"grete@example.com": "de"})
    [message] = server.messages
    [sender] = message["From"].addresses
    assert sender.display_name == "Support bei Bäckerei Müller, Söhne"
    assert sender.addr_spec == "surveys@cxfeedback.localhost"
    assert message["Subject"] == "Wie war Ihre Bestellung?"


def test_the_next_version_keeps_the_translations(support, survey, owner):
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())

    new = survey_update(actor=owner, survey=Survey.objects.get(pk=survey.pk), name="After your purchase")

    assert new.pk != survey.pk
    assert list(new.translations.values_list("language", "name")) == [("de", "Nach Ihrer Bestellung")]


@pytest.mark.parametrize(
    ("translation", "message"),
    [
        ({"language": "en"}, "translations[1].language: “en” is the survey's own language"),
        ({"language": "x1"}, "translations[1].language: a language code"),
        (
            {"language": "de", "questions": [{}, {}, {}]},
            "translations[1].questions: 3 entries for 2 questions.",
        ),
    ],
)
def test_a_translation_that_cannot_be_used_is_refused(support, owner, translation, message):
    with pytest.raises(InvalidSurvey) as refused:
        survey_create(
            actor=owner, department=support, name="S", questions=QUESTIONS, translations=[translation]
        )
    assert refused.value.message.startswith(message)


def test_the_api_writes_and_reads_translations(support_api, support):
    response = support_api.post(
        "/api/v1/surveys",
        {"name": "After your order", "questions": QUESTIONS, "translations": [GERMAN]},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["language"] == "en"
    [german] = body["translations"]
    assert german["language"] == "de" and german["email_subject"] == "Wie war Ihre Bestellung?"
    assert german["questions"][1]["choices"] == ["Wasserkocher", "Toaster"]
    edited = support_api.patch(
        f"/api/v1/surveys/{body['id']}",
        {"translations": [{"language": "fr", "name": "Après"}]},
        format="json",
    )
    assert [t["language"] for t in edited.json()["translations"]] == ["fr"]


def test_the_api_refuses_a_translation_in_the_surveys_own_language(support_api):
    response = support_api.post(
        "/api/v1/surveys",
        {"name": "S", "questions": QUESTIONS, "translations": [{"language": "en"}]},
        format="json",
    )
    assert_error(response, 400, "invalid_survey")


def test_another_department_cannot_translate_the_survey(marketing_api, survey):
    response = marketing_api.patch(f"/api/v1/surveys/{survey.pk}", {"translations": [GERMAN]}, format="json")
    assert_error(response, 404, "not_found")
    assert survey.translations.get().name == "Nach Ihrer Bestellung"
