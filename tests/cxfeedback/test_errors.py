"""Every API error leaves as {"code", "message", "extra"}, whatever raised it."""

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.test import APIClient

from cxfeedback.exceptions import ApplicationError, Conflict, exception_handler
from tests import factories

CONTACTS = "/api/v1/contacts"


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert isinstance(body["extra"], dict)
    return body


def test_400_names_the_nested_field(support_api):
    response = support_api.post(
        CONTACTS,
        {"identities": [{"kind": "email", "value": "a@example.com"}, {"kind": "email", "value": ""}]},
        format="json",
    )

    body = error_of(response, 400)
    assert body["code"] == "invalid"
    assert body["message"] == "identities[1].value: This field may not be blank."
    assert body["extra"]["fields"] == {"identities": {"1": {"value": ["This field may not be blank."]}}}


def test_400_for_malformed_json(support_api):
    response = support_api.post(CONTACTS, "{not json", content_type="application/json")

    assert error_of(response, 400)["code"] == "parse_error"


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer nonsense", "Malformed API key: expected 'Bearer cxf_…'."),
        ("Bearer cxf_unknown", "Unknown or revoked API key."),
    ],
)
def test_401_without_a_valid_key(db, authorization, message):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)

    body = error_of(client.get(CONTACTS), 401)

    assert body["message"] == message
    assert body["code"] in ("not_authenticated", "authentication_failed")


def test_404_for_a_missing_object(support_api):
    missing = "5d1f7a2c-8a4b-4c1e-9f3e-2b6d0c9a7e41"

    body = error_of(support_api.get(f"{CONTACTS}/{missing}"), 404)

    assert body == {"code": "not_found", "message": f"Contact {missing} not found.", "extra": {}}


def test_405_names_the_method(support_api):
    body = error_of(support_api.patch(CONTACTS, {}, format="json"), 405)

    assert body["code"] == "method_not_allowed"
    assert '"PATCH"' in body["message"]


def test_409_for_identities_of_two_contacts(support_api, support):
    factories.known_contact(support, email="ann@example.com")
    factories.known_contact(support, email="bob@example.com")

    body = error_of(
        support_api.post(
            CONTACTS,
            {
                "identities": [
                    {"kind": "email", "value": "ann@example.com"},
                    {"kind": "email", "value": "bob@example.com"},
                ]
            },
            format="json",
        ),
        409,
    )

    assert body["code"] == "identity_conflict"


def test_422_for_a_reused_idempotency_key(support_api):
    def upsert(email: str):
        return support_api.post(
            CONTACTS,
            {"identities": [{"kind": "email", "value": email}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="key-1",
        )

    upsert("ann@example.com")
    body = error_of(upsert("bob@example.com"), 422)

    assert body["code"] == "idempotency_key_reused"


# The handler itself, for errors no endpoint raises yet


def test_an_application_error_keeps_its_status_code_and_extra():
    response = exception_handler(Conflict("Taken.", code="slug_taken", extra={"slug": "x"}), {})

    assert response.status_code == 409
    assert response.data == {"code": "slug_taken", "message": "Taken.", "extra": {"slug": "x"}}


def test_a_plain_application_error_is_a_400():
    response = exception_handler(ApplicationError("Nope."), {})

    assert (response.status_code, response.data["code"]) == (400, "invalid")


def test_a_django_validation_error_names_its_field():
    response = exception_handler(DjangoValidationError({"time_zone": ["Not a time zone."]}), {})

    assert response.status_code == 400
    assert response.data["message"] == "time_zone: Not a time zone."


def test_a_drf_permission_error_has_the_shape():
    response = exception_handler(exceptions.PermissionDenied(), {})

    assert response.status_code == 403
    assert response.data == {
        "code": "permission_denied",
        "message": "You do not have permission to perform this action.",
        "extra": {},
    }


def test_an_unexpected_error_is_left_to_django():
    assert exception_handler(ZeroDivisionError(), {}) is None
