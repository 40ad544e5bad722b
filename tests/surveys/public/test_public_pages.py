"""The customer's survey pages: from the personal link to "thank you", and every way that can go
wrong — invalid answers, a second submit, two submits at once, an expired or made-up link."""

import datetime as dt
import re
import threading
import uuid

import pytest
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.models import Contact
from surveys.errors import AlreadyAnswered
from surveys.models import Answer, Invitation, Response, Survey
from surveys.public.responses import response_submit
from tests import factories
from tests.surveys.public.pages import EVERY_KIND_ANSWERS, invitation_with_link, survey_with_every_kind


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    # Counters may outlive a test (a shared Redis cache); only the rate-limit test sets a low limit.
    settings.PUBLIC_RATE_LIMIT = "100000/minute"


@pytest.fixture
def survey(support):
    return survey_with_every_kind(support)


@pytest.fixture
def customer(support):
    return factories.known_contact(support, email="carla@example.com", name="Carla", locale="en")


@pytest.fixture
def link(survey, customer):
    """(invitation, token) of a sent invitation."""
    return invitation_with_link(survey, customer)


def survey_url(token: str) -> str:
    return f"/t/{token}"


def test_the_survey_page_asks_every_question_kind(client, link):
    _, token = link

    page = client.get(survey_url(token))

    html = page.content.decode()
    assert page.status_code == 200
    assert page["Content-Language"] == "en"
    # Each scale is a fieldset whose legend is the question, with one labelled radio per point.
    assert html.count("<fieldset") == 6
    assert '<legend class="question-text">How likely are you to recommend us to a friend?</legend>' in html
    for value in range(11):
        assert f'id="q1-{value}" name="q1" value="{value}"' in html
        assert f'<label for="q1-{value}">{value}' in html
    assert 'name="q1" value="11"' not in html
    assert 'name="q2" value="5"' in html and 'name="q2" value="6"' not in html  # CSAT 1–5
    assert 'name="q3" value="7"' in html and 'name="q3" value="0"' not in html  # CES 1–7
    assert 'name="q4" value="4"' in html and 'name="q4" value="5"' not in html  # rating 1–4
    assert "0 = not at all likely" in html and "10 = extremely likely" in html
    assert 'type="radio" id="q5-1" name="q5" value="Toaster"' in html
    assert 'type="checkbox" id="q6-2" name="q6" value="Friendliness"' in html
    assert '<label class="question-text" for="q7">Anything else you want to tell us? ' in html
    assert "(optional)" in html
    assert 'aria-describedby="q3-hint"' in html  # the CES question's help text
    # No session: the token in the address is the only key; the CSRF cookie guards the form.
    assert set(page.cookies) == {"csrftoken"}


def without_csrf_token(html: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", html)


def test_a_sent_surveys_page_is_the_same_for_every_customer_in_their_language(client, survey, support):
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())
    survey.refresh_from_db()
    links = [
        invitation_with_link(survey, factories.known_contact(support, locale=locale))[1]
        for locale in ("en", "en", "de")
    ]

    first, second, german = (client.get(survey_url(token)) for token in links)
    submitted = client.post(survey_url(links[2]), EVERY_KIND_ANSWERS)

    # The same page but for each visitor's own CSRF token.
    assert without_csrf_token(first.content) == without_csrf_token(second.content)
    assert links[0] not in first.content.decode()
    assert "Antworten senden" in german.content.decode()
    assert german["Content-Language"] == "de"
    assert submitted.status_code == 303
    assert Answer.objects.filter(response__invitation__contact__locale="de").count() == 7


def test_a_wide_rating_is_asked_as_a_number(client, support, customer):
    survey = factories.SurveyFactory(department=support, questions=[])
    factories.QuestionFactory(
        survey=survey, position=1, kind="rating", text="Score?", scale_min=0, scale_max=100
    )
    _, token = invitation_with_link(survey, customer)

    html = client.get(survey_url(token)).content.decode()
    refused = client.post(survey_url(token), {"q1": "101"})

    assert 'type="number" inputmode="numeric" id="q1" name="q1" min="0" max="100"' in html
    assert "Choose a number from 0 to 100." in refused.content.decode()
    assert 'value="101"' in refused.content.decode()


def test_opening_the_link_marks_a_sent_invitation_opened_and_nothing_more(client, link):
    invitation, token = link

    client.get(survey_url(token))
    client.get(survey_url(token))

    invitation.refresh_from_db()
    assert invitation.status == "opened"
    assert invitation.responded_at is None
    assert not Response.objects.exists()


@pytest.mark.parametrize("status", ["queued", "sending", "opened"])
def test_opening_never_moves_an_invitation_that_is_not_sent_or_delivered(client, survey, customer, status):
    invitation, token = invitation_with_link(survey, customer, status=status)

    assert client.get(survey_url(token)).status_code == 200

    invitation.refresh_from_db()
    assert invitation.status == status


def test_a_head_request_changes_nothing(client, link):
    invitation, token = link

    client.head(survey_url(token))

    invitation.refresh_from_db()
    assert invitation.status == "sent"


def test_answers_are_stored_before_the_customer_is_thanked(client, link, survey):
    invitation, token = link

    submitted = client.post(survey_url(token), EVERY_KIND_ANSWERS)

    # Post, redirect, get: by the time the browser asks for "thank you", the response is committed.
    assert submitted.status_code == 303
    assert submitted["Location"] == f"/t/{token}/thanks"
    response = Response.objects.get()
    assert (response.invitation_id, response.survey_id, response.contact_id) == (
        invitation.pk,
        survey.pk,
        invitation.contact_id,
    )
    assert (response.department_id, response.channel, response.locale) == (
        survey.department_id,
        "email",
        "en",
    )
    stored = {
        answer.question.position: (answer.value_number, answer.value_text, answer.value_choices)
        for answer in Answer.objects.filter(response=response).select_related("question")
    }
    assert stored == {
        1: (9, "", []),
        2: (4, "", []),
        3: (6, "", []),
        4: (3, "", []),
        5: (None, "", ["Toaster"]),
        6: (None, "", ["Price", "Friendliness"]),
        7: (None, "Quick and friendly.", []),
    }
    invitation.refresh_from_db()
    assert invitation.status == "answered"
    assert invitation.responded_at == response.submitted_at
    thanks = client.get(submitted["Location"])
    assert thanks.status_code == 200
    assert "Your answers have been saved." in thanks.content.decode()


def test_an_optional_question_may_be_left_empty(client, link):
    _, token = link

    client.post(survey_url(token), {**EVERY_KIND_ANSWERS, "q7": "   "})

    assert Answer.objects.count() == 6
    assert not Answer.objects.filter(question__position=7).exists()


def test_invalid_answers_show_what_to_fix_and_keep_what_was_typed(client, link):
    invitation, token = link
    typed = {"q2": "4", "q5": "Mixer", "q6": ["Speed"], "q7": "The courier was <late> & rude."}

    page = client.post(survey_url(token), typed)

    html = page.content.decode()
    assert page.status_code == 200
    assert "<title>Error: Your recent order</title>" in html
    assert '<div class="error-summary" role="alert" tabindex="-1" autofocus' in html
    assert html.count("Choose an answer.") == 2 * 3  # NPS, CES, rating: in the summary and at the question
    assert html.count("Choose at least one answer.") == 0
    assert '<a href="#q1-0">How likely are you to recommend us to a friend? — Choose an answer.</a>' in html
    assert 'aria-describedby="q1-error"' in html
    # What was typed and chosen is still there.
    assert 'name="q2" value="4" checked' in html
    assert 'name="q5" value="Mixer" checked' in html
    assert 'name="q6" value="Speed" checked' in html
    assert 'name="q6" value="Price" checked' not in html
    assert ">The courier was &lt;late&gt; &amp; rude.</textarea>" in html
    assert not Response.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == "sent"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("q1", "11", "Select a valid choice."),
        ("q5", "Blender", "Select a valid choice."),
        ("q6", ["Price", "Colour"], "Select a valid choice."),
        ("q7", "x" * 5001, "Shorten your answer to 5000 characters or fewer (it has 5001)."),
    ],
)
def test_answers_outside_the_question_are_refused(client, link, field, value, message):
    _, token = link

    page = client.post(survey_url(token), {**EVERY_KIND_ANSWERS, field: value})

    assert page.status_code == 200
    assert message in page.content.decode()
    assert not Response.objects.exists()


def test_a_second_submit_shows_already_answered(client, link):
    _, token = link

    first = client.post(survey_url(token), EVERY_KIND_ANSWERS)
    second = client.post(survey_url(token), {**EVERY_KIND_ANSWERS, "q1": "0"})
    reopened = client.get(survey_url(token))

    assert first["Location"] == f"/t/{token}/thanks"
    for page in (second, reopened):
        assert page.status_code == 200
        assert "You have answered this survey" in page.content.decode()
    assert Response.objects.count() == 1
    assert Answer.objects.get(question__position=1).value_number == 9


def test_an_answered_survey_stays_answered_after_its_link_expires(client, link):
    invitation, token = link
    client.post(survey_url(token), EVERY_KIND_ANSWERS)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))

    assert "You have answered this survey" in client.get(survey_url(token)).content.decode()
    assert client.get(f"/t/{token}/thanks").status_code == 200


def test_the_thank_you_page_of_an_unanswered_survey_leads_back_to_it(client, link):
    _, token = link

    page = client.get(f"/t/{token}/thanks")

    assert page.status_code == 303
    assert page["Location"] == f"/t/{token}"


def test_the_short_sms_link_shows_and_takes_the_same_survey(client, survey, customer):
    _, token = invitation_with_link(survey, customer, channel="sms")

    page = client.get(f"/s/{token}")
    submitted = client.post(f"/s/{token}", EVERY_KIND_ANSWERS)

    assert page.status_code == 200
    assert "How likely are you to recommend us" in page.content.decode()
    assert submitted["Location"] == f"/t/{token}/thanks"
    assert Response.objects.get().channel == "sms"


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_store_exactly_one_response(support):
    """Eight submits of one invitation at the same moment (two tabs, a double click on a slow
    line): one is stored, the others are told it is answered. Repeated to catch an unlucky order."""
    survey = survey_with_every_kind(support)
    answers = {1: 9, 2: 4, 3: 6, 4: 3, 5: "Toaster", 6: ["Price"], 7: ""}
    for _round in range(5):
        contact = factories.known_contact(support)
        invitation, _ = invitation_with_link(survey, contact)
        barrier = threading.Barrier(8)
        outcomes: list[str] = []

        def submit(invitation=invitation, barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait()
                response_submit(invitation=invitation, answers=answers)
                outcomes.append("stored")
            except AlreadyAnswered:
                outcomes.append("already answered")
            finally:
                connections.close_all()

        threads = [threading.Thread(target=submit) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(outcomes) == ["already answered"] * 7 + ["stored"]
        assert Response.objects.filter(invitation=invitation).count() == 1
        assert Answer.objects.filter(response__invitation=invitation).count() == 6


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_expired_link_cannot_be_told_from_a_made_up_one(client, survey, support, method):
    german = factories.known_contact(support, locale="de")
    _, expired = invitation_with_link(survey, german, expires_in=dt.timedelta(seconds=-1))
    _, cancelled = invitation_with_link(survey, factories.known_contact(support), status="cancelled")
    made_up = "Xq3" + uuid.uuid4().hex[:29]
    pages, queries = {}, {}

    for name, token in (("expired", expired), ("cancelled", cancelled), ("made up", made_up)):
        with CaptureQueriesContext(connection) as captured:
            pages[name] = getattr(client, method)(
                survey_url(token), EVERY_KIND_ANSWERS if method == "post" else None
            )
        queries[name] = len(captured)

    assert {page.status_code for page in pages.values()} == {404}
    # The same bytes (in the visitor's language, not the contact's) …
    assert pages["expired"].content == pages["made up"].content == pages["cancelled"].content
    assert "This link is not valid" in pages["made up"].content.decode()
    assert {name: sorted(page.headers) for name, page in pages.items() if name != "made up"} == {
        "expired": sorted(pages["made up"].headers),
        "cancelled": sorted(pages["made up"].headers),
    }
    # … after the same work: the token lookup, and the rate limit's counting.
    assert queries["expired"] == queries["made up"] == queries["cancelled"]


def test_the_form_is_taken_with_its_csrf_token_from_its_own_origin(link):
    """As a browser posts it under `Referrer-Policy: strict-origin`: the page's CSRF token and
    cookie, and the site's own origin (tests/cxfeedback/test_csrf.py: refused without them)."""
    _, token = link
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(survey_url(token), secure=True).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    submitted = browser.post(
        survey_url(token), {**EVERY_KIND_ANSWERS, "csrfmiddlewaretoken": csrf},
        secure=True, HTTP_ORIGIN="https://testserver",
    )  # fmt: skip

    assert submitted.status_code == 303
    assert Response.objects.count() == 1


def test_every_public_page_keeps_its_address_to_itself(client, link):
    _, token = link
    addresses = [
        f"/t/{token}",
        f"/s/{token}",
        f"/t/{token}/thanks",
        f"/u/{token}",
        f"/p/{token}",
        "/t/unknown",
    ]

    for address in addresses:
        page = client.get(address)
        assert page["Referrer-Policy"] == "strict-origin", address
        assert "no-store" in page["Cache-Control"], address
        assert page["X-Robots-Tag"] == "noindex, nofollow", address


def test_links_on_the_pages_name_only_the_token(client, link):
    _, token = link
    client.post(survey_url(token), EVERY_KIND_ANSWERS)

    for address in (f"/t/{token}/thanks", f"/t/{token}", f"/u/{token}", f"/p/{token}"):
        html = client.get(address).content.decode()
        targets = re.findall(r'(?:href|action)="([^"]*)"', html)
        for target in targets:
            assert re.fullmatch(rf"(/[tup]/{token}(/thanks)?|/static/surveys/public\.css|#\w+)", target), (
                target
            )


def test_too_many_requests_from_one_client_are_refused(client, link, settings, at_a_minutes_start):
    _, token = link
    settings.PUBLIC_RATE_LIMIT = "3/minute"
    client_address = f"198.51.100.{uuid.uuid4().int % 250}"

    answers = [client.get(f"/t/{token}", REMOTE_ADDR=client_address) for _ in range(4)]
    elsewhere = client.get(f"/t/{token}", REMOTE_ADDR="192.0.2.200")

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1]["Retry-After"]) <= 60
    assert "Too many requests" in answers[-1].content.decode()
    assert answers[-1]["Referrer-Policy"] == "strict-origin"
    assert elsewhere.status_code == 200


def test_behind_a_proxy_the_limit_counts_the_forwarded_client(client, link, settings, at_a_minutes_start):
    _, token = link
    settings.PUBLIC_RATE_LIMIT = "1/minute"
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    first_client = f"203.0.113.{uuid.uuid4().int % 250}"

    first = client.get(f"/t/{token}", HTTP_X_FORWARDED_FOR=f"1.2.3.4, {first_client}", **proxy)
    again = client.get(f"/t/{token}", HTTP_X_FORWARDED_FOR=f"5.6.7.8, {first_client}", **proxy)
    other = client.get(f"/t/{token}", HTTP_X_FORWARDED_FOR="192.0.2.77", **proxy)

    assert [first.status_code, again.status_code, other.status_code] == [200, 429, 200]


def test_a_german_contact_gets_german_pages(client, survey, support):
    german: Contact = factories.known_contact(support, locale="de-AT")
    _, token = invitation_with_link(survey, german)

    form = client.get(survey_url(token), HTTP_ACCEPT_LANGUAGE="en")
    refused = client.post(survey_url(token), {"q2": "4"})
    client.post(survey_url(token), EVERY_KIND_ANSWERS)
    thanks = client.get(f"/t/{token}/thanks")

    assert form["Content-Language"] == "de"
    assert '<html lang="de">' in form.content.decode()
    assert "Antworten senden" in form.content.decode()
    assert "(optional)" in form.content.decode()
    assert "0 = überhaupt nicht wahrscheinlich" in form.content.decode()
    assert "Bitte wählen Sie eine Antwort." in refused.content.decode()
    assert "Bitte prüfen Sie Ihre Antworten" in refused.content.decode()
    assert "Vielen Dank" in thanks.content.decode()
    assert Response.objects.get().locale == "de"


def test_the_page_speaks_the_language_the_inviting_department_knows(client, survey, support, marketing):
    """Support knows her as German-speaking; marketing's view and her own record say English."""
    person = factories.known_contact(support, locale="de")
    factories.DepartmentContactFactory(department=marketing, contact=person, locale="en")
    Contact.objects.filter(pk=person.pk).update(locale="en")
    _, token = invitation_with_link(survey, person)

    page = client.get(survey_url(token), HTTP_ACCEPT_LANGUAGE="en")

    assert page["Content-Language"] == "de"
