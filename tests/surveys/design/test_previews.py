"""Previews and the test send in a survey's admin (issue 17): the owner sees the invitation e-mail,
the SMS and the survey page as a customer would, in each of the survey's languages, and sends the
invitation to their own address through the real mail server. Nothing is stored; mallory, of
another department, gets 404 for all of it."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from departments.models import CompanySettings
from surveys.delivery.channels.sms import LocmemSmsBackend
from surveys.design.surveys import survey_create
from surveys.models import Answer, Invitation, Response, Survey
from tests import factories
from tests.smtp import loopback_smtp, send_through
from tests.surveys.design.test_surveys_admin import survey_form
from tests.surveys.design.test_translations import GERMAN, QUESTIONS


@pytest.fixture(autouse=True)
def company(db):
    CompanySettings.objects.update_or_create(pk=1, defaults={"company_name": "Acme"})


@pytest.fixture
def survey(support, alice) -> Survey:
    from departments.actors import actor_for_user

    questions = [
        *QUESTIONS,
        *[{"kind": "free_text", "text": f"Note {n}", "required": False} for n in range(4)],
    ]
    return survey_create(
        actor=actor_for_user(alice),
        department=support,
        name="After your order",
        questions=questions,
        intro="Thank you for ordering.",
        translations=[GERMAN],
    )


def preview_url(survey, name: str = "preview") -> str:
    return reverse(f"admin:surveys_survey_{name}", args=[survey.pk])


def test_the_preview_shows_the_email_and_sms_a_customer_gets(alice_client, survey):
    page = alice_client.get(preview_url(survey)).content.decode()

    assert "Support at Acme &lt;surveys@cxfeedback.localhost&gt;" in page
    assert "Support would like your feedback" in page
    # Six questions take about two minutes (burden_estimate): the e-mail and the SMS say so.
    assert "takes about 2 minutes" in page
    assert "Support: how did we do? 2 minutes:" in page
    assert "Hello Alex Sample," in page and "Thank you for ordering." in page
    assert "/t/preview" in page  # no personal link's token
    assert Invitation.objects.count() == 0


def test_the_preview_in_german_uses_the_translation(alice_client, survey):
    page = alice_client.get(preview_url(survey), {"language": "de"}).content.decode()

    assert "Wie war Ihre Bestellung?" in page
    assert "Support bei Acme" in page
    assert "dauert etwa 2 Minuten" in page or "2 Minuten:" in page


def test_the_survey_page_preview_is_marked_and_stores_no_answers(alice_client, survey):
    url = preview_url(survey, "preview_page") + "?language=de"

    page = alice_client.get(url).content.decode()
    assert "<strong>Preview</strong>" in page
    assert "Wie wahrscheinlich ist es, dass Sie uns empfehlen?" in page
    assert '<label for="q2-0">Wasserkocher</label>' in page

    checked = alice_client.post(url, {"language": "de", "q1": "9", "q2": "Kettle"}).content.decode()
    assert "These answers would be accepted. Nothing was stored." in checked
    refused = alice_client.post(url, {"language": "de", "q2": "Kettle"}).content.decode()
    assert "These answers would be accepted" not in refused and "error-summary" in refused
    assert Response.objects.count() == Answer.objects.count() == 0


def test_a_test_send_arrives_through_the_mail_server_and_is_no_invitation(
    alice_client, alice, survey, settings
):
    alice.email, alice.first_name = "alice@example.com", "Alice"
    alice.save()
    settings.SMS_BACKEND = "surveys.delivery.channels.sms.LocmemSmsBackend"
    LocmemSmsBackend.outbox.clear()

    with loopback_smtp() as server:
        send_through(settings, server)
        response = alice_client.post(
            preview_url(survey, "send_to_self"), {"language": "de", "phone": "+49 30 1234567"}, follow=True
        )

    assert "Test invitation (de) sent to alice@example.com and your phone." in response.content.decode()
    [message] = server.messages
    assert message["To"].addresses[0].addr_spec == "alice@example.com"
    assert message["Subject"] == "[Test] Wie war Ihre Bestellung?"
    assert message["From"].addresses[0].display_name == "Support bei Acme"
    body = message.get_body(("plain",)).get_content()
    assert "Hallo Alice," in body
    assert "/t/preview" in body
    [sms] = LocmemSmsBackend.outbox
    assert sms["to"] == "+49301234567" and sms["body"].startswith("Test: ")
    assert Invitation.objects.count() == 0
    assert LogEntry.objects.get(object_id=str(survey.pk)).change_message.startswith("Test send")


def test_test_sends_are_limited_per_hour(alice_client, alice, survey, settings, at_a_minutes_start):
    alice.email = "alice@example.com"
    alice.save()
    with loopback_smtp() as server:
        send_through(settings, server)
        for _ in range(6):
            response = alice_client.post(preview_url(survey, "send_to_self"), follow=True)

    assert len(server.messages) == 5
    assert "You sent 5 tests this hour" in response.content.decode()


def test_a_refused_test_send_says_why(alice_client, alice, survey, settings):
    alice.email = "alice@example.com"
    alice.save()
    with loopback_smtp() as server:
        send_through(settings, server)
        server.handler.refuse_all = "550 5.1.1 No such user here"
        response = alice_client.post(preview_url(survey, "send_to_self"), follow=True)

    assert "The test Email was not sent: 550 5.1.1 No such user here" in response.content.decode()


@pytest.mark.parametrize("name", ["preview", "preview_page", "send_to_self"])
def test_another_department_gets_404_and_nothing_is_sent(mallory_client, survey, name, settings):
    with loopback_smtp() as server:
        send_through(settings, server)
        get = mallory_client.get(preview_url(survey, name))
        post = mallory_client.post(preview_url(survey, name))

    assert get.status_code in (404, 405) and post.status_code in (404, 405)
    assert 404 in (get.status_code, post.status_code)
    assert server.messages == []


def test_a_translation_is_added_in_the_admin(alice_client, support):
    form = survey_form(
        support,
        {
            "position": "1",
            "kind": "single_choice",
            "text": "Which?",
            "choices": "Tea\nCoffee",
            "required": "on",
        },
        translations=(
            {"language": "de", "name": "Welche?", "questions": "Was möchten Sie? | | Tee; Kaffee"},
        ),
    )

    response = alice_client.post(reverse("admin:surveys_survey_add"), form)

    assert response.status_code == 302, response.context["errors"]
    translation = Survey.objects.get().translations.get()
    assert (translation.language, translation.name) == ("de", "Welche?")
    assert translation.questions == [
        {"text": "Was möchten Sie?", "help_text": "", "choices": ["Tee", "Kaffee"]}
    ]


def test_the_admin_refuses_a_translation_in_the_surveys_own_language(alice_client, support):
    form = survey_form(
        support,
        {"position": "1", "kind": "nps", "text": "Recommend?", "required": "on"},
        translations=({"language": "en", "name": "Again"},),
    )

    response = alice_client.post(reverse("admin:surveys_survey_add"), form)

    assert response.status_code == 200
    assert "This is the survey&#x27;s own language" in response.content.decode()
    assert not Survey.objects.exists()


def test_a_sent_surveys_preview_still_works(alice_client, survey):
    factories.SendRequestFactory(department=survey.department, survey=survey)
    Survey.objects.filter(pk=survey.pk).update(frozen_at="2026-01-01T00:00:00Z")
    assert alice_client.get(preview_url(survey), {"language": "de"}).status_code == 200


def test_the_owners_texts_are_shown_as_text_not_markup(alice_client, survey):
    Survey.objects.filter(pk=survey.pk).update(intro="<script>alert(1)</script>")

    page = alice_client.get(preview_url(survey)).content.decode()

    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page
