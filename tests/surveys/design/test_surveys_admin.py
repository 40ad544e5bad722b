"""The admin as department owners use it: building surveys, and alice's send request from creation
through pre-flight and submit to cancel. Mallory, of another department, gets 404 for all of it."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from departments.actors import actor_for_user
from surveys.gatekeeper.audience_uploads import audience_upload_run
from surveys.gatekeeper.frequency_rules import frequency_rule_create
from surveys.gatekeeper.send_requests import send_request_screen
from surveys.models import AudienceMember, AudienceUpload, Decision, Invitation, SendRequest, Survey
from tests import factories

DAY = dt.timedelta(days=1)


def questions_form(*questions: dict, initial: int = 0) -> dict:
    form = {
        "questions-TOTAL_FORMS": str(len(questions)),
        "questions-INITIAL_FORMS": str(initial),
        "questions-MIN_NUM_FORMS": "1",
        "questions-MAX_NUM_FORMS": "1000",
    }
    for index, question in enumerate(questions):
        for field, value in question.items():
            form[f"questions-{index}-{field}"] = value
    return form


def translations_form(*translations: dict) -> dict:
    form = {
        "translations-TOTAL_FORMS": str(len(translations)),
        "translations-INITIAL_FORMS": "0",
        "translations-MIN_NUM_FORMS": "0",
        "translations-MAX_NUM_FORMS": "1000",
    }
    for index, translation in enumerate(translations):
        for field, value in translation.items():
            form[f"translations-{index}-{field}"] = value
    return form


def survey_form(department, *questions: dict, translations: tuple[dict, ...] = (), **fields) -> dict:
    return {
        "department": str(department.pk),
        "name": "After your call",
        "kind": "transactional",
        "language": "en",
        "intro": "",
        "link_valid_days": "14",
        **fields,
        **questions_form(*questions),
        **translations_form(*translations),
    }


# Surveys


def test_alice_builds_a_survey_with_inline_questions(alice_client, support):
    form = survey_form(
        support,
        {"position": "2", "kind": "free_text", "text": "Anything else?", "required": ""},
        {
            "position": "1",
            "kind": "single_choice",
            "text": "Which channel?",
            "choices": "Phone\nChat\n",
            "required": "on",
        },
    )

    response = alice_client.post(reverse("admin:surveys_survey_add"), form)

    assert response.status_code == 302, response.context["errors"]
    survey = Survey.objects.get()
    assert (survey.department, survey.family_id, survey.version) == (support, survey.pk, 1)
    assert list(survey.questions.values_list("position", "kind", "choices", "required")) == [
        (1, "single_choice", ["Phone", "Chat"], True),
        (2, "free_text", [], False),
    ]


def test_a_bad_question_is_shown_on_its_row_and_nothing_is_saved(alice_client, support):
    form = survey_form(
        support, {"position": "1", "kind": "rating", "text": "Rate", "scale_min": "3", "scale_max": "3"}
    )

    response = alice_client.post(reverse("admin:surveys_survey_add"), form)

    assert response.status_code == 200
    assert "Question 1, scale_max: must be greater than scale_min." in response.content.decode()
    assert not Survey.objects.exists()


def test_alice_cannot_put_a_survey_in_another_department(alice_client, marketing):
    form = survey_form(marketing, {"position": "1", "kind": "nps", "text": "Recommend?", "required": "on"})

    response = alice_client.post(reverse("admin:surveys_survey_add"), form)

    assert response.status_code == 200
    assert "department" in response.context["adminform"].form.errors
    assert not Survey.objects.exists()


def test_a_sent_survey_is_read_only_and_edits_as_a_new_version(alice_client, support):
    survey = factories.SurveyFactory(department=support, frozen_at=timezone.now())
    page = alice_client.get(reverse("admin:surveys_survey_change", args=[survey.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="_save"' not in content
    assert "Edit as new version" in content

    response = alice_client.post(reverse("admin:surveys_survey_new_version", args=[survey.pk]))

    new = Survey.objects.get(family_id=survey.pk, version=2)
    assert response["Location"] == reverse("admin:surveys_survey_change", args=[new.pk])
    assert (new.is_current, new.frozen_at, new.questions.count()) == (True, None, 1)
    survey.refresh_from_db()
    assert not survey.is_current
    edit = alice_client.get(reverse("admin:surveys_survey_change", args=[new.pk]))
    assert 'name="_save"' in edit.content.decode()


def test_deleting_a_sent_survey_is_refused_with_a_message(alice_client, support):
    sent = factories.SurveyFactory(department=support, frozen_at=timezone.now(), name="Sent")
    draft = factories.SurveyFactory(department=support, name="Draft")
    changelist = reverse("admin:surveys_survey_changelist")
    assert (
        "deletelink"
        not in alice_client.get(reverse("admin:surveys_survey_change", args=[sent.pk])).content.decode()
    )

    refused = alice_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [sent.pk, draft.pk], "post": "yes"},
        follow=True,
    )

    content = refused.content.decode()
    assert refused.status_code == 200 and "Nothing was deleted" in content and "“Sent” (version 1)" in content
    assert Survey.objects.filter(pk__in=[sent.pk, draft.pk]).count() == 2

    deleted = alice_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [draft.pk], "post": "yes"}
    )

    assert deleted.status_code == 302
    assert list(Survey.objects.filter(pk__in=[sent.pk, draft.pk])) == [sent]


def test_a_survey_starts_from_a_template(alice_client, support):
    listing = alice_client.get(reverse("admin:surveys_survey_changelist"))
    assert "New NPS survey" in listing.content.decode()
    url = reverse("admin:surveys_survey_from_template", args=["nps"])
    assert alice_client.get(url).status_code == 200

    response = alice_client.post(url, {"department": support.pk, "name": "Quarterly NPS"})

    survey = Survey.objects.get()
    assert response["Location"] == reverse("admin:surveys_survey_change", args=[survey.pk])
    assert (survey.name, survey.kind, survey.questions.first().kind) == (
        "Quarterly NPS",
        "relationship",
        "nps",
    )
    assert alice_client.get(reverse("admin:surveys_survey_from_template", args=["sus"])).status_code == 404


def test_mallory_gets_404_for_alices_surveys(mallory_client, support):
    survey = factories.SurveyFactory(department=support, frozen_at=timezone.now())

    assert mallory_client.get(reverse("admin:surveys_survey_change", args=[survey.pk])).status_code == 404
    assert (
        mallory_client.post(reverse("admin:surveys_survey_new_version", args=[survey.pk])).status_code == 404
    )
    assert "Support" not in mallory_client.get(reverse("admin:surveys_survey_changelist")).content.decode()
    assert Survey.objects.count() == 1


# Send requests: alice's flow


@pytest.fixture
def world(support, marketing, lead):
    """Support's survey and contacts; one of them was surveyed by marketing 12 days ago."""
    frequency_rule_create(
        actor=actor_for_user(lead), name="One survey per 30 days per person", max_touches=1, window=30 * DAY
    )
    survey = factories.SurveyFactory(department=support, name="Support NPS")
    contacts = [factories.known_contact(support) for _ in range(3)]
    theirs = factories.SurveyFactory(department=marketing, name="Marketing secret study")
    history = factories.SendRequestFactory(department=marketing, survey=theirs, status="completed")
    Invitation.objects.create(
        send_request=history,
        survey=theirs,
        survey_family_id=theirs.family_id,
        department=marketing,
        survey_kind=theirs.kind,
        contact=contacts[0],
        channel="email",
        status="sent",
        touched_at=timezone.now() - 12 * DAY - dt.timedelta(hours=1),  # screening clocks at transaction start
    )
    return survey, contacts


def request_form(survey, **fields) -> dict:
    return {
        "department": str(survey.department_id),
        "survey": str(survey.pk),
        "channel": "email",
        "audience_kind": "all_known",
        "priority": "5",
        "purpose": "",
        **fields,
    }


def test_alices_send_request_from_creation_to_cancel(alice_client, world, django_capture_on_commit_callbacks):
    survey, _ = world
    add = alice_client.get(reverse("admin:surveys_sendrequest_add"))
    assert add.status_code == 200
    assert list(add.context["form"].fields["survey"].queryset) == [survey]

    created = alice_client.post(reverse("admin:surveys_sendrequest_add"), request_form(survey))

    request = SendRequest.objects.get(department=survey.department)
    preflight_url = reverse("admin:surveys_sendrequest_preflight", args=[request.pk])
    assert created["Location"] == preflight_url
    page = alice_client.get(preflight_url)
    assert page.status_code == 200
    content = page.content.decode()
    assert page.context["report"]["eligible_now"] == 2
    assert "Rule “One survey per 30 days per person”" in content
    assert "Best send time" in content and "Submit" in content
    assert "Marketing" not in content
    assert (Decision.objects.count(), Invitation.objects.count()) == (0, 1)  # the pre-flight wrote nothing

    assert alice_client.get(reverse("admin:surveys_sendrequest_submit", args=[request.pk])).status_code == 405
    with django_capture_on_commit_callbacks(execute=False) as queued:
        submitted = alice_client.post(reverse("admin:surveys_sendrequest_submit", args=[request.pk]))
    assert submitted["Location"] == preflight_url
    assert len(queued) == 1
    request.refresh_from_db()
    survey.refresh_from_db()
    assert (request.status, survey.is_frozen) == ("submitted", True)

    send_request_screen(send_request_id=request.pk)  # what the queued task does
    report = alice_client.get(preflight_url)
    assert ("Allowed", 2) in report.context["screened"]
    assert 'value="Submit' not in report.content.decode()

    cancelled = alice_client.post(reverse("admin:surveys_sendrequest_cancel", args=[request.pk]))
    assert cancelled["Location"] == preflight_url
    request.refresh_from_db()
    assert request.status == "cancelled"
    assert set(Invitation.objects.filter(send_request=request).values_list("status", flat=True)) == {
        "cancelled"
    }


def test_the_create_form_starts_with_an_empty_audience_filter(alice_client, world):
    page = alice_client.get(reverse("admin:surveys_sendrequest_add")).content.decode()

    textarea = re.search(r'<textarea name="audience_filter"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea and textarea.group(1).strip() == ""  # not "null"
    assert 'placeholder="{&quot;tier&quot;: &quot;gold&quot;}"' in textarea.group(0)


def test_the_request_list_shows_survey_audience_status_and_report_first(alice_client, world):
    survey, _ = world
    alice_client.post(reverse("admin:surveys_sendrequest_add"), request_form(survey))

    page = alice_client.get(reverse("admin:surveys_sendrequest_changelist")).content.decode()

    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert headers[:4] == ["survey", "audience", "status", "preflight_link"]
    assert "All contacts the department knows" in page and ">Pre-flight</a>" in page


def test_the_create_form_shows_service_errors_on_their_field(alice_client, world):
    survey, _ = world
    form = request_form(survey, audience_kind="filter", audience_filter='{"address": {"city": "Bonn"}}')

    response = alice_client.post(reverse("admin:surveys_sendrequest_add"), form)

    assert response.status_code == 200
    assert "audience_filter" in response.context["form"].errors
    assert not SendRequest.objects.filter(department=survey.department).exists()


def test_alice_uploads_the_audience_on_the_create_form(alice_client, world):
    survey, _ = world
    file = SimpleUploadedFile(
        "list.csv", b"email\nann@example.com\nann@example.com\n", content_type="text/csv"
    )

    alice_client.post(
        reverse("admin:surveys_sendrequest_add"),
        request_form(survey, audience_kind="upload", audience_file=file),
    )

    request = SendRequest.objects.get(department=survey.department)
    waiting = alice_client.get(reverse("admin:surveys_sendrequest_preflight", args=[request.pk]))
    assert "Waiting for a worker to start the upload." in waiting.text
    assert "Submit once the audience upload has completed." in waiting.text
    assert 'http-equiv="refresh"' in waiting.text
    audience_upload_run(upload_id=AudienceUpload.objects.get(send_request=request).pk)  # the worker

    assert AudienceMember.objects.filter(send_request=request).count() == 2
    page = alice_client.get(reverse("admin:surveys_sendrequest_preflight", args=[request.pk]))
    assert page.context["report"]["duplicates"] == 1
    assert page.context["upload_form"] is not None
    assert "Uploaded: 2 rows in the audience." in page.text
    assert "Submit: reserve and send" in page.text and 'http-equiv="refresh"' not in page.text


def test_the_create_form_offers_only_alices_departments_and_surveys(alice_client, world, marketing):
    survey, _ = world
    their_survey = factories.SurveyFactory(department=marketing, name="Theirs")
    page = alice_client.get(reverse("admin:surveys_sendrequest_add"))
    assert [d.slug for d in page.context["form"].fields["department"].queryset] == ["support"]

    response = alice_client.post(
        reverse("admin:surveys_sendrequest_add"),
        request_form(their_survey, department=str(survey.department_id)),
    )

    assert "survey" in response.context["form"].errors
    assert not SendRequest.objects.filter(department=survey.department).exists()


def test_mallory_gets_404_for_alices_send_request(mallory_client, world):
    survey, _ = world
    request = factories.SendRequestFactory(department=survey.department, survey=survey)

    for name in ("preflight", "change"):
        assert (
            mallory_client.get(reverse(f"admin:surveys_sendrequest_{name}", args=[request.pk])).status_code
            == 404
        )
    for name in ("submit", "cancel", "audience", "audience-cancel", "audience-resume"):
        assert (
            mallory_client.post(reverse(f"admin:surveys_sendrequest_{name}", args=[request.pk])).status_code
            == 404
        )
    request.refresh_from_db()
    assert request.status == "draft"


# History


def test_decisions_are_read_only_explained_and_scoped(alice_client, mallory, world):
    survey, contacts = world
    request = factories.SendRequestFactory(department=survey.department, survey=survey, status="submitted")
    send_request_screen(send_request_id=request.pk)
    blocked = Decision.objects.get(send_request=request, contact=contacts[0])
    mallory_client = Client()
    mallory_client.force_login(mallory)

    listing = alice_client.get(
        reverse("admin:surveys_decision_changelist"), {"send_request__id__exact": request.pk}
    )
    content = listing.content.decode()
    assert "Contacted by another department 12 days ago" in content
    assert "Marketing" not in content
    page = alice_client.get(reverse("admin:surveys_decision_change", args=[blocked.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert mallory_client.get(reverse("admin:surveys_decision_change", args=[blocked.pk])).status_code == 404
    invitation = Invitation.objects.filter(send_request=request).first()
    assert (
        alice_client.get(reverse("admin:surveys_invitation_change", args=[invitation.pk])).status_code == 200
    )
    assert (
        mallory_client.get(reverse("admin:surveys_invitation_change", args=[invitation.pk])).status_code
        == 404
    )


@pytest.mark.parametrize("who", ["alice_client", "lead_client"])
@pytest.mark.parametrize(
    "page",
    [
        "admin:surveys_survey_changelist",
        "admin:surveys_survey_add",
        "admin:surveys_frequencyrule_changelist",
        "admin:surveys_sendrequest_changelist",
        "admin:surveys_sendrequest_add",
        "admin:surveys_decision_changelist",
        "admin:surveys_invitation_changelist",
    ],
)
def test_every_page_renders(request, who, page, world):
    client = request.getfixturevalue(who)
    assert client.get(reverse(page)).status_code == 200
