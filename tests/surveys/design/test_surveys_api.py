"""REST API v1 for surveys and send requests: for each endpoint, it works, a wrong method is a 405,
another department's object is a 404, bad input is a 400 in the error shape, a missing object a 404."""

import datetime as dt
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from departments.actors import actor_for_user
from surveys.gatekeeper.audience_uploads import audience_upload_run
from surveys.gatekeeper.frequency_rules import frequency_rule_create
from surveys.gatekeeper.send_requests import send_request_screen, send_request_submit
from surveys.models import AudienceMember, AudienceUpload, Decision, Invitation, SendRequest, Survey
from tests import factories
from tests.api import assert_error

DAY = dt.timedelta(days=1)
MISSING = uuid.uuid4()  # a send request nobody has
NPS_QUESTION = {"kind": "nps", "text": "Would you recommend us?"}


@pytest.fixture
def survey(support):
    return factories.SurveyFactory(department=support, name="Support NPS")


@pytest.fixture
def their_survey(marketing):
    return factories.SurveyFactory(department=marketing, name="Marketing NPS")


@pytest.fixture
def send_request(support, survey):
    return factories.SendRequestFactory(department=support, survey=survey)


@pytest.fixture
def their_request(marketing, their_survey):
    return factories.SendRequestFactory(department=marketing, survey=their_survey)


# /surveys


def test_survey_list_shows_the_callers_current_surveys(support_api, survey, their_survey, support):
    old = factories.SurveyFactory(department=support, name="Old one", is_current=False)

    response = support_api.get("/api/v1/surveys")

    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == ["Support NPS"]
    assert response.json()["results"][0]["questions"][0]["kind"] == "nps"
    every = support_api.get("/api/v1/surveys", {"all_versions": "true"}).json()["results"]
    assert {item["id"] for item in every} == {survey.pk, old.pk}


def test_survey_list_errors(support_api, survey):
    assert_error(support_api.get("/api/v1/surveys", {"kind": "weekly"}), 400, "invalid")
    assert_error(support_api.get("/api/v1/surveys", {"department": "marketing"}), 404, "not_found")
    assert_error(support_api.delete("/api/v1/surveys"), 405, "method_not_allowed")


def test_survey_list_queries_do_not_grow_with_surveys(support_api, support, django_assert_max_num_queries):
    factories.SurveyFactory.create_batch(5, department=support)
    # The key, its last use, the key's rate-limit counter, count, surveys, questions, translations.
    with django_assert_max_num_queries(7):
        assert len(support_api.get("/api/v1/surveys").json()["results"]) == 5


def test_create_a_survey(support_api):
    response = support_api.post(
        "/api/v1/surveys",
        {
            "name": "After your call",
            "kind": "transactional",
            "questions": [
                NPS_QUESTION,
                {"kind": "single_choice", "text": "Which channel?", "choices": ["Phone", "Chat"]},
            ],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["department"], body["version"], body["family_id"], body["is_current"]) == (
        "support",
        1,
        body["id"],
        True,
    )
    assert [(q["position"], q["kind"]) for q in body["questions"]] == [(1, "nps"), (2, "single_choice")]


def test_create_a_survey_bad_input(support_api, lead_api):
    invalid = support_api.post(
        "/api/v1/surveys",
        {
            "name": "x",
            "questions": [NPS_QUESTION, {"kind": "rating", "text": "Rate", "scale_min": 5, "scale_max": 1}],
        },
        format="json",
    )
    body = assert_error(invalid, 400, "invalid_question")
    assert body["extra"] == {"question": 2, "field": "scale_max"}
    assert_error(
        support_api.post("/api/v1/surveys", {"name": "x", "questions": []}, format="json"), 400, "invalid"
    )
    # A signed-in CX lead names the department; a department that does not exist is a 404.
    assert_error(
        lead_api.post("/api/v1/surveys", {"name": "x", "questions": [NPS_QUESTION]}, format="json"), 400
    )
    missing = lead_api.post(
        "/api/v1/surveys", {"department": "nowhere", "name": "x", "questions": [NPS_QUESTION]}, format="json"
    )
    assert_error(missing, 404, "not_found")
    assert not Survey.objects.exists()


def test_an_api_key_cannot_create_for_another_department(support_api, marketing):
    response = support_api.post(
        "/api/v1/surveys",
        {"department": "marketing", "name": "x", "questions": [NPS_QUESTION]},
        format="json",
    )
    assert_error(response, 404, "not_found")


def test_survey_from_template(support_api):
    response = support_api.post("/api/v1/surveys/from-template", {"template": "csat"}, format="json")

    assert response.status_code == 201
    assert (response.json()["name"], response.json()["questions"][0]["kind"]) == (
        "Customer satisfaction",
        "csat",
    )
    assert_error(support_api.post("/api/v1/surveys/from-template", {"template": "sus"}, format="json"), 400)
    assert_error(support_api.get("/api/v1/surveys/from-template"), 405)


def test_survey_detail(support_api, survey, their_survey):
    assert support_api.get(f"/api/v1/surveys/{survey.pk}").json()["name"] == "Support NPS"
    assert_error(support_api.get(f"/api/v1/surveys/{their_survey.pk}"), 404, "not_found")
    assert_error(support_api.get("/api/v1/surveys/999999"), 404, "not_found")
    assert_error(support_api.delete(f"/api/v1/surveys/{survey.pk}"), 405)
    assert_error(support_api.put(f"/api/v1/surveys/{survey.pk}", {}, format="json"), 405)


def test_editing_an_unsent_survey_keeps_its_id(support_api, survey):
    response = support_api.patch(f"/api/v1/surveys/{survey.pk}", {"name": "Renamed"}, format="json")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["name"]) == (survey.pk, "Renamed")


def test_editing_a_sent_survey_makes_the_next_version(support_api, survey):
    Survey.objects.filter(pk=survey.pk).update(frozen_at=timezone.now())

    response = support_api.patch(
        f"/api/v1/surveys/{survey.pk}", {"questions": [{"kind": "ces", "text": "Easy?"}]}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["version"], body["family_id"], body["questions"][0]["kind"]) == (2, survey.pk, "ces")
    old = support_api.patch(f"/api/v1/surveys/{survey.pk}", {"name": "Again"}, format="json")
    assert assert_error(old, 409, "survey_not_current")["extra"] == {"current_id": body["id"]}


def test_editing_errors(support_api, survey, their_survey):
    assert_error(
        support_api.patch(f"/api/v1/surveys/{their_survey.pk}", {"name": "Mine"}, format="json"), 404
    )
    assert_error(support_api.patch("/api/v1/surveys/999999", {"name": "Mine"}, format="json"), 404)
    bad = support_api.patch(f"/api/v1/surveys/{survey.pk}", {"link_valid_days": 0}, format="json")
    assert assert_error(bad, 400, "invalid_survey")["extra"] == {"field": "link_valid_days"}


# /send-requests


def create_body(survey, **fields) -> dict:
    return {"survey": survey.pk, "channel": "email", "audience_kind": "all_known", **fields}


def test_create_a_send_request_once_per_idempotency_key(support_api, survey):
    headers = {"HTTP_IDEMPOTENCY_KEY": "crm-42"}
    body = create_body(survey, purpose="After the outage", priority=7)

    first = support_api.post("/api/v1/send-requests", body, format="json", **headers)
    again = support_api.post("/api/v1/send-requests", body, format="json", **headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert SendRequest.objects.count() == 1
    assert (first.json()["status"], first.json()["survey_name"], first.json()["priority"]) == (
        "draft",
        "Support NPS",
        7,
    )


def test_create_a_send_request_bad_input(support_api, survey, their_survey):
    assert_error(support_api.post("/api/v1/send-requests", create_body(their_survey), format="json"), 404)
    bad_window = create_body(
        survey,
        earliest_send_at=(timezone.now() + 2 * DAY).isoformat(),
        latest_send_at=(timezone.now() + DAY).isoformat(),
    )
    body = assert_error(support_api.post("/api/v1/send-requests", bad_window, format="json"), 400)
    assert (body["code"], body["extra"]) == ("invalid_send_request", {"field": "latest_send_at"})
    nested = create_body(survey, audience_kind="filter", audience_filter={"a": {"b": 1}})
    assert_error(
        support_api.post("/api/v1/send-requests", nested, format="json"), 400, "invalid_send_request"
    )
    typo = assert_error(
        support_api.post("/api/v1/send-requests", create_body(survey, channel="fax"), format="json"), 400
    )
    assert "channel" in typo["extra"]["fields"]
    assert not SendRequest.objects.exists()


def test_send_request_list_and_detail(support_api, send_request, their_request):
    listed = support_api.get("/api/v1/send-requests")
    assert [item["id"] for item in listed.json()["results"]] == [str(send_request.public_id)]
    assert support_api.get("/api/v1/send-requests", {"status": "screened"}).json()["results"] == []
    assert_error(support_api.get("/api/v1/send-requests", {"status": "lost"}), 400)
    assert_error(support_api.put("/api/v1/send-requests", {}, format="json"), 405)

    assert support_api.get(f"/api/v1/send-requests/{send_request.public_id}").json()["status"] == "draft"
    theirs = assert_error(support_api.get(f"/api/v1/send-requests/{their_request.public_id}"), 404)
    missing = assert_error(support_api.get(f"/api/v1/send-requests/{MISSING}"), 404)
    assert theirs == {
        **missing,
        "message": missing["message"].replace(str(MISSING), str(their_request.public_id)),
    }
    assert_error(support_api.get(f"/api/v1/send-requests/{send_request.pk}"), 404)  # not an id any more
    assert_error(support_api.delete(f"/api/v1/send-requests/{send_request.public_id}"), 405)


def test_send_request_list_queries_do_not_grow(support_api, support, survey, django_assert_max_num_queries):
    factories.SendRequestFactory.create_batch(5, department=support, survey=survey)
    with django_assert_max_num_queries(5):
        assert support_api.get("/api/v1/send-requests").json()["count"] == 5


def test_preflight(support_api, send_request, their_request, support, lead):
    frequency_rule_create(
        actor=actor_for_user(lead), name="One survey per 30 days", max_touches=1, window=30 * DAY
    )
    factories.known_contact(support)
    opted_out = factories.known_contact(support)
    factories.ConsentFactory(contact=opted_out, created_at=timezone.now() - DAY)

    response = support_api.get(f"/api/v1/send-requests/{send_request.public_id}/preflight")

    assert response.status_code == 200
    body = response.json()
    assert (body["contacts"], body["eligible_now"], body["blocked_total"]) == (2, 1, 1)
    assert {block["reason"]: block["count"] for block in body["blocks"]}["opted_out"] == 1
    assert not Decision.objects.exists() and not Invitation.objects.exists()
    assert_error(support_api.post(f"/api/v1/send-requests/{send_request.public_id}/preflight"), 405)
    assert_error(support_api.get(f"/api/v1/send-requests/{their_request.public_id}/preflight"), 404)
    assert_error(support_api.get(f"/api/v1/send-requests/{MISSING}/preflight"), 404)


def test_submit(support_api, send_request, their_request, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = support_api.post(f"/api/v1/send-requests/{send_request.public_id}/submit")

    assert response.status_code == 200
    assert response.json()["status"] == "submitted"
    assert len(queued) == 1  # the screening task
    assert_error(
        support_api.post(f"/api/v1/send-requests/{send_request.public_id}/submit"),
        409,
        "invalid_status_transition",
    )
    assert_error(support_api.get(f"/api/v1/send-requests/{send_request.public_id}/submit"), 405)
    assert_error(support_api.post(f"/api/v1/send-requests/{their_request.public_id}/submit"), 404)
    assert_error(support_api.post(f"/api/v1/send-requests/{MISSING}/submit"), 404)
    their_request.refresh_from_db()
    assert their_request.status == "draft"


def test_cancel(support_api, send_request, their_request):
    response = support_api.post(f"/api/v1/send-requests/{send_request.public_id}/cancel")

    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    assert_error(
        support_api.post(f"/api/v1/send-requests/{send_request.public_id}/cancel"),
        409,
        "invalid_status_transition",
    )
    assert_error(support_api.get(f"/api/v1/send-requests/{send_request.public_id}/cancel"), 405)
    assert_error(support_api.post(f"/api/v1/send-requests/{their_request.public_id}/cancel"), 404)
    assert_error(support_api.post(f"/api/v1/send-requests/{MISSING}/cancel"), 404)


def test_audience_upload(support_api, support, survey, their_request):
    request = factories.SendRequestFactory(department=support, survey=survey, audience_kind="upload")
    file = SimpleUploadedFile(
        "list.csv", b"email\nann@example.com\nbob@example.com\nnope\n", content_type="text/csv"
    )

    response = support_api.post(
        f"/api/v1/send-requests/{request.public_id}/audience", {"file": file}, format="multipart"
    )

    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued" and response["Location"] == response.json()["url"]
    audience_upload_run(upload_id=AudienceUpload.objects.get(send_request=request).pk)  # the worker
    body = support_api.get(response["Location"]).json()
    assert body["status"] == "completed", body
    assert (body["members"], body["contact_import"]["counts"]["invalid"]) == (2, 1)
    assert body["contact_import"]["issues"][0]["row_number"] == 4
    assert body["progress"] == {"stage": "audience", "rows_done": 3, "rows_total": 3, "percent": 100}
    assert AudienceMember.objects.filter(send_request=request).count() == 2

    assert_error(
        support_api.post(f"/api/v1/send-requests/{request.public_id}/audience", {}, format="multipart"), 400
    )
    everyone = factories.SendRequestFactory(department=support, survey=survey)
    wrong_kind = support_api.post(
        f"/api/v1/send-requests/{everyone.public_id}/audience",
        {"file": SimpleUploadedFile("l.csv", b"email\na@example.com\n")},
        format="multipart",
    )
    assert_error(wrong_kind, 400, "invalid_send_request")
    theirs = support_api.post(
        f"/api/v1/send-requests/{their_request.public_id}/audience",
        {"file": SimpleUploadedFile("l.csv", b"email\na@example.com\n")},
        format="multipart",
    )
    assert_error(theirs, 404)
    assert_error(support_api.get(f"/api/v1/send-requests/{request.public_id}/audience"), 405)
    assert_error(
        support_api.post(
            f"/api/v1/send-requests/{MISSING}/audience", {"file": SimpleUploadedFile("l.csv", b"email\n")}
        ),
        404,
    )


def test_rejected_file_is_a_400_and_writes_no_audience(support_api, support, survey):
    request = factories.SendRequestFactory(department=support, survey=survey, audience_kind="upload")

    response = support_api.post(
        f"/api/v1/send-requests/{request.public_id}/audience",
        {"file": SimpleUploadedFile("l.csv", b"colour\nblue\n")},
        format="multipart",
    )

    assert_error(response, 400, "unknown_columns")
    assert not AudienceMember.objects.exists()


@pytest.fixture
def screened(alice, support, survey, lead):
    frequency_rule_create(
        actor=actor_for_user(lead), name="One survey per 30 days", max_touches=1, window=30 * DAY
    )
    request = factories.SendRequestFactory(department=support, survey=survey)
    for _ in range(3):
        factories.known_contact(support)
    opted_out = factories.known_contact(support)
    factories.ConsentFactory(contact=opted_out, created_at=timezone.now() - DAY)
    send_request_submit(send_request=request, actor=actor_for_user(alice))
    send_request_screen(send_request_id=request.pk)
    return request


def test_decisions(support_api, screened, their_request, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        response = support_api.get(f"/api/v1/send-requests/{screened.public_id}/decisions", {"limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], len(body["results"])) == (4, 2)
    every = support_api.get(f"/api/v1/send-requests/{screened.public_id}/decisions").json()["results"]
    contacts = Decision.objects.filter(send_request=screened).values_list("contact__public_id", flat=True)
    assert sorted(d["contact"] for d in every) == sorted(str(public_id) for public_id in contacts)
    blocked = support_api.get(
        f"/api/v1/send-requests/{screened.public_id}/decisions", {"allowed": "false"}
    ).json()
    assert [(d["reason"], d["explanation"]) for d in blocked["results"]] == [("opted_out", "Opted out.")]
    by_reason = support_api.get(
        f"/api/v1/send-requests/{screened.public_id}/decisions", {"reason": "opted_out"}
    ).json()
    assert by_reason["count"] == 1
    allowed = support_api.get(
        f"/api/v1/send-requests/{screened.public_id}/decisions", {"allowed": "true"}
    ).json()
    assert {d["explanation"] for d in allowed["results"]} == {"Allowed."}

    assert_error(
        support_api.get(f"/api/v1/send-requests/{screened.public_id}/decisions", {"reason": "bored"}), 400
    )
    assert_error(support_api.post(f"/api/v1/send-requests/{screened.public_id}/decisions"), 405)
    assert_error(support_api.get(f"/api/v1/send-requests/{their_request.public_id}/decisions"), 404)
    assert_error(support_api.get(f"/api/v1/send-requests/{MISSING}/decisions"), 404)


def test_a_department_owner_signed_in_uses_the_same_api(alice, survey):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(alice)

    created = client.post(
        "/api/v1/send-requests", {**create_body(survey), "department": "support"}, format="json"
    )

    assert created.status_code == 201
    assert created.json()["department"] == "support"


def test_the_schema_stays_valid(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/send-requests/{send_request_id}/preflight" in response.content


def test_the_schema_says_send_request_contact_and_invitation_ids_are_uuids(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    uuid_schema = {"type": "string", "format": "uuid"}
    path_ids = {
        (path, parameter["name"]): {key: parameter["schema"][key] for key in uuid_schema}
        for path, operations in schema["paths"].items()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path" and parameter["name"] in ("send_request_id", "contact_id")
    }
    assert len(path_ids) >= 7  # six send-request routes and the erasure (and the contacts API's)
    assert all(found == uuid_schema for found in path_ids.values()), path_ids
    components = schema["components"]["schemas"]
    for component, field in [
        ("SendRequestOutput", "id"),
        ("DecisionOutput", "contact"),
        ("InvitationAnswer", "id"),
        ("ContactAnswer", "id"),
        ("ContactReferenceRequest", "id"),
        ("ErasureOutput", "contact_id"),
        ("ResponseOutput", "contact"),
    ]:
        assert components[component]["properties"][field]["format"] == "uuid", component
