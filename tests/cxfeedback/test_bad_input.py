"""Bad input the reliability run found answered with a 500 or out of the error shape (issue 6):
each now gets a 400 or 404 in the error shape, and nothing is stored."""

import json

from django.test import Client, RequestFactory, override_settings

from contacts.models import Contact, DepartmentContact
from cxfeedback.exceptions import server_error
from tests import factories

CONTACTS = "/api/v1/contacts"


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"code", "message", "extra"}
    assert isinstance(body["code"], str) and isinstance(body["message"], str)
    assert isinstance(body["extra"], dict)
    return body


def contact_body(**fields) -> str:
    return json.dumps({"identities": [{"kind": "email", "value": "ada@example.com"}], **fields})


def test_deeply_nested_json_is_a_400_not_a_crash(support_api):
    # 100,000 brackets made Python's json module raise RecursionError, which DRF does not catch.
    response = support_api.post(CONTACTS, "[" * 100_000 + "]" * 100_000, content_type="application/json")

    body = error_of(response, 400)
    assert body["code"] == "parse_error"
    assert "nested more than" in body["message"]


def test_json_nested_past_the_limit_inside_a_free_form_field_is_refused(support_api):
    nested = '{"a":' * 40 + "1" + "}" * 40
    response = support_api.post(
        CONTACTS,
        '{"identities": [{"kind": "email", "value": "ada@example.com"}], "attributes": ' + nested + "}",
        content_type="application/json",
    )

    error_of(response, 400)
    assert not Contact.objects.exists()


def test_a_nul_character_in_an_attribute_is_a_400_naming_it_and_nothing_is_stored(support_api):
    # PostgreSQL's jsonb cannot hold U+0000: this was a DataError, so a 500.
    response = support_api.post(
        CONTACTS, contact_body(attributes={"note": "a\x00b"}), content_type="application/json"
    )

    body = error_of(response, 400)
    assert body["message"].startswith("attributes.note: contains U+0000")
    assert not Contact.objects.exists()


def test_a_nul_character_in_an_attribute_key_is_a_400(support_api):
    response = support_api.post(
        CONTACTS, contact_body(attributes={"k\x00": 1}), content_type="application/json"
    )

    assert "a key in attributes" in error_of(response, 400)["message"]
    assert not Contact.objects.exists()


def test_an_unpaired_surrogate_in_an_attribute_is_a_400(support_api):
    # json.loads turns "\ud800" into a lone surrogate, which cannot be encoded for PostgreSQL.
    response = support_api.post(
        CONTACTS,
        '{"identities": [{"kind": "email", "value": "ada@example.com"}], "attributes": {"k": "\\ud800"}}',
        content_type="application/json",
    )

    assert "U+D800" in error_of(response, 400)["message"]
    assert not Contact.objects.exists()


def test_an_audience_filter_with_a_nul_character_is_a_400(support, support_api):
    survey = factories.SurveyFactory(department=support)
    response = support_api.post(
        "/api/v1/send-requests",
        {
            "survey": survey.pk,
            "channel": "email",
            "audience_kind": "filter",
            "audience_filter": {"t": "\x00"},
        },
        format="json",
    )

    error_of(response, 400)


def test_text_with_emoji_and_accents_still_passes(support_api):
    response = support_api.post(
        CONTACTS,
        contact_body(name="Zoë 🎉", attributes={"note": "naïve ☕"}),
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    view = DepartmentContact.objects.get()
    assert (view.name, view.attributes) == ("Zoë 🎉", {"note": "naïve ☕"})


def test_an_attribute_filter_with_a_nul_character_is_a_400(support_api):
    # The filter is a jsonb containment query: with U+0000 PostgreSQL refused it (a 500).
    response = support_api.get(CONTACTS, {"attr.tier": "gold\x00"})

    assert error_of(response, 400)["extra"]["fields"] == {"attr.tier": ["Null characters are not allowed."]}


def test_a_limit_and_an_offset_beyond_bigint_are_an_empty_page_not_a_crash(support, support_api):
    factories.known_contact(support, email="ada@example.com")

    too_far = support_api.get(CONTACTS, {"offset": str(10**25)})
    too_many = support_api.get(CONTACTS, {"limit": str(10**25)})

    assert too_far.status_code == 200 and too_far.json()["results"] == []
    assert too_many.status_code == 200 and len(too_many.json()["results"]) == 1


def test_an_address_no_route_matches_under_the_api_is_a_404_in_the_error_shape(support_api):
    # <int:contact_id> does not match "abc": Django's own 404 page answered, in HTML.
    body = error_of(support_api.get(f"{CONTACTS}/abc"), 404)

    assert body["code"] == "not_found"
    error_of(support_api.post("/api/v1/no-such-thing", {}, format="json"), 404)


def test_outside_the_api_a_missing_page_is_still_a_page(db):
    response = Client().get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_body_over_the_upload_limit_is_a_400_in_the_error_shape(support_api):
    response = support_api.post(CONTACTS, contact_body(name="x" * 2000), content_type="application/json")

    error_of(response, 400)
    assert not Contact.objects.exists()


def test_a_crash_under_the_api_answers_in_the_error_shape():
    response = server_error(RequestFactory().get("/api/v1/contacts"))

    body = error_of(response, 500)
    assert body["code"] == "server_error"


def test_the_schema_documents_the_idempotency_key_length(db):
    schema = Client().get("/api/schema/", {"format": "json"}).json()

    (header,) = [p for p in schema["paths"]["/api/v1/contacts"]["post"]["parameters"] if p["in"] == "header"]
    assert header["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
