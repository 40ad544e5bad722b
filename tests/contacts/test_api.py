"""REST API v1, contacts: for each endpoint — works, wrong method, another department's contact,
bad input, missing object, unauthenticated."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from contacts.models import Consent, Contact, DepartmentContact
from tests import factories
from tests.api import assert_error

CONTACTS = "/api/v1/contacts"


def detail(contact) -> str:
    return f"{CONTACTS}/{contact.public_id}"


def consents(contact) -> str:
    return f"{CONTACTS}/{contact.public_id}/consents"


def supply(department, contact, **identity):
    """Give `contact` another identity, supplied by `department`."""
    factories.DepartmentIdentityFactory(
        department=department, identity=factories.IdentityFactory(contact=contact, **identity)
    )


def shown(*contacts) -> list[str]:
    return [str(contact.public_id) for contact in contacts]


# POST /contacts: upsert by identity


def test_upsert_creates_then_matches_by_normalised_identity(support_api, support):
    created = support_api.post(
        CONTACTS,
        {
            "identities": [{"kind": "email", "value": "Ann.Lee@Example.com"}],
            "name": "Ann Lee",
            "attributes": {"tier": "gold"},
        },
        format="json",
    )
    matched = support_api.post(
        CONTACTS,
        {
            "identities": [
                {"kind": "email", "value": "ann.lee@example.com"},
                {"kind": "phone", "value": "030 1234567"},
            ]
        },
        format="json",
    )

    assert created.status_code == 201
    assert matched.status_code == 200
    body = matched.json()
    assert body["id"] == created.json()["id"]
    assert body["name"] == "Ann Lee"
    assert body["attributes"] == {"tier": "gold"}
    assert [(i["kind"], i["normalised"]) for i in body["identities"]] == [
        ("email", "ann.lee@example.com"),
        ("phone", "+49301234567"),
    ]
    assert DepartmentContact.objects.get(contact__public_id=body["id"]).department == support


def test_upsert_of_a_person_another_department_knows_answers_as_for_a_stranger(marketing_api, support):
    """Marketing upserts an email only support knows: the answer is the one a person nobody knows
    gets — 201, and only what marketing sent — and support's view is untouched."""
    ann = factories.known_contact(
        support, email="ann@example.com", name="Ann Secret", attributes={"tier": "gold"}, notes="VIP"
    )
    supply(support, ann, kind="phone", value="+49301234567", normalised="+49301234567")

    known = marketing_api.post(
        CONTACTS, {"identities": [{"kind": "email", "value": "Ann@Example.com"}], "name": "A."}, format="json"
    )
    stranger = marketing_api.post(
        CONTACTS, {"identities": [{"kind": "email", "value": "zoe@example.com"}], "name": "Z."}, format="json"
    )

    assert (known.status_code, stranger.status_code) == (201, 201)
    body = known.json()
    assert body.keys() == stranger.json().keys()
    assert (body["name"], body["attributes"], body["notes"]) == ("A.", {}, "")
    assert [i["value"] for i in body["identities"]] == ["Ann@Example.com"]
    assert [v["department"] for v in body["views"]] == ["marketing"]
    assert "Secret" not in known.content.decode() and "+4930" not in known.content.decode()
    theirs = DepartmentContact.objects.get(department=support, contact=ann)
    assert (theirs.name, theirs.attributes, theirs.notes) == ("Ann Secret", {"tier": "gold"}, "VIP")


def test_a_cx_lead_sees_the_whole_person(lead_api, support, marketing):
    ann = factories.known_contact(support, email="ann@example.com", name="Ann (support)")
    factories.DepartmentContactFactory(department=marketing, contact=ann, name="Ann (marketing)")
    supply(marketing, ann, kind="phone", value="+49301234567", normalised="+49301234567")

    body = lead_api.get(detail(ann)).json()

    assert {(v["department"], v["name"]) for v in body["views"]} == {
        ("support", "Ann (support)"),
        ("marketing", "Ann (marketing)"),
    }
    assert {i["kind"] for i in body["identities"]} == {"email", "phone"}


def test_upsert_with_a_conflict_between_two_contacts_is_409(support_api, support):
    factories.known_contact(support, email="ann@example.com")
    factories.known_contact(support, email="bob@example.com")

    response = support_api.post(
        CONTACTS,
        {
            "identities": [
                {"kind": "email", "value": "ann@example.com"},
                {"kind": "email", "value": "bob@example.com"},
            ]
        },
        format="json",
    )

    body = assert_error(response, 409, "identity_conflict")
    assert [i["value"] for i in body["extra"]["identities"]] == ["ann@example.com", "bob@example.com"]


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        ({}, "invalid", "identities: This field is required."),
        ({"identities": []}, "invalid", "identities: This list may not be empty."),
        ({"identities": [{"kind": "email", "value": "ann.example.com"}]}, "invalid_identity", "email: "),
        ({"identities": [{"kind": "fax", "value": "1"}]}, "invalid", "identities[0].kind: "),
        (
            {"identities": [{"kind": "email", "value": "a@example.com"}], "time_zone": "Mars/Olympus"},
            "invalid",
            "time_zone: ",
        ),
        (
            {"identities": [{"kind": "phone", "value": "030 1234567"}], "phone_region": "Deutschland"},
            "invalid_phone_region",
            "phone_region: 'Deutschland' is not a country",
        ),
        # The API stays strict: a phone it cannot read is a 400, not a contact without it.
        (
            {"identities": [{"kind": "email", "value": "a@example.com"}, {"kind": "phone", "value": "12"}]},
            "invalid_identity",
            "phone: '12' is not a valid phone number",
        ),
        (
            {"identities": [{"kind": "phone", "value": "447400123457"}]},
            "invalid_identity",
            "phone: '447400123457' reads two ways",
        ),
    ],
)
def test_upsert_bad_input_is_400_naming_the_field(support_api, payload, code, message):
    response = support_api.post(CONTACTS, payload, format="json")

    body = assert_error(response, 400, code)
    assert body["message"].startswith(message)
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("department_region", "phone_region", "expected"),
    [
        ("", "", "+492015550123"),  # the company default (DE in the tests)
        ("US", "", "+12015550123"),  # the department's region
        ("US", "de", "+492015550123"),  # the call's own, first
        ("", "US", "+12015550123"),
    ],
)
def test_upsert_reads_a_national_number_in_the_calls_region_else_the_departments(
    support_api, support, department_region, phone_region, expected
):
    support.phone_region = department_region
    support.save(update_fields=["phone_region"])
    payload = {"identities": [{"kind": "phone", "value": "(201) 555-0123"}], "phone_region": phone_region}

    response = support_api.post(CONTACTS, payload, format="json")

    assert response.status_code == 201
    assert [i["normalised"] for i in response.json()["identities"]] == [expected]


def test_upsert_of_an_email_in_decomposed_unicode_finds_the_same_contact(support_api):
    first = support_api.post(
        CONTACTS, {"identities": [{"kind": "email", "value": "élise@firma.de"}]}, format="json"
    )
    second = support_api.post(
        CONTACTS, {"identities": [{"kind": "email", "value": "E\u0301lise@firma.de"}]}, format="json"
    )
    other = support_api.post(
        CONTACTS, {"identities": [{"kind": "email", "value": "weiß@firma.de"}]}, format="json"
    )
    weiss = support_api.post(
        CONTACTS, {"identities": [{"kind": "email", "value": "weiss@firma.de"}]}, format="json"
    )

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert (other.status_code, weiss.status_code) == (201, 201)  # weiß and weiss: two people
    assert other.json()["id"] != weiss.json()["id"]


def test_upsert_accepts_only_json(support_api):
    response = support_api.post(CONTACTS, {"identities": "x"})  # multipart

    assert_error(response, 415, "unsupported_media_type")


def test_a_signed_in_user_names_the_department_they_act_for(alice, marketing):
    client = APIClient()
    client.force_login(alice)
    payload = {"identities": [{"kind": "email", "value": "ann@example.com"}]}

    missing = client.post(CONTACTS, payload, format="json")
    other = client.post(CONTACTS, {**payload, "department": "marketing"}, format="json")
    own = client.post(CONTACTS, {**payload, "department": "support"}, format="json")

    assert assert_error(missing, 400, "invalid")["message"].startswith("department: ")
    assert_error(other, 404, "not_found")
    assert own.status_code == 201
    assert not DepartmentContact.objects.filter(department=marketing).exists()


def test_a_cx_lead_may_act_for_any_department(lead_api, marketing):
    response = lead_api.post(
        CONTACTS,
        {"department": "marketing", "identities": [{"kind": "email", "value": "ann@example.com"}]},
        format="json",
    )

    assert response.status_code == 201
    assert DepartmentContact.objects.get().department == marketing


def test_an_api_key_cannot_act_for_another_department(support_api, marketing):
    response = support_api.post(
        CONTACTS,
        {"department": "marketing", "identities": [{"kind": "email", "value": "ann@example.com"}]},
        format="json",
    )

    assert_error(response, 404, "not_found")
    assert not Contact.objects.exists()


def test_upsert_unauthenticated_is_401(db):
    response = APIClient().post(CONTACTS, {"identities": []}, format="json")

    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_contacts_wrong_method_is_405(support_api):
    assert_error(support_api.delete(CONTACTS), 405, "method_not_allowed")
    assert_error(support_api.put(CONTACTS, {}, format="json"), 405, "method_not_allowed")


# GET /contacts: list with filters


def test_list_shows_only_contacts_the_department_knows(support_api, support, marketing):
    own = factories.known_contact(support, email="ann@example.com")
    shared = factories.known_contact(support, email="bob@example.com")
    factories.DepartmentContactFactory(department=marketing, contact=shared)
    factories.known_contact(marketing, email="eve@example.com")

    response = support_api.get(CONTACTS)

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert [c["id"] for c in response.json()["results"]] == shown(own, shared)


def test_a_contact_known_by_two_of_my_departments_is_listed_once(support, marketing):
    both = factories.department_owner(support, username="bea")
    marketing.members.add(both)
    contact = factories.known_contact(support)
    factories.DepartmentContactFactory(department=marketing, contact=contact)
    client = APIClient()
    client.force_login(both)

    response = client.get(CONTACTS)

    assert [c["id"] for c in response.json()["results"]] == shown(contact)


def test_a_cx_lead_lists_every_contact(lead_api, support, marketing):
    factories.known_contact(support)
    factories.known_contact(marketing)

    assert lead_api.get(CONTACTS).json()["count"] == 2


@pytest.mark.parametrize(
    "query",
    [
        "email=ANN.LEE%40Example.com",
        "phone=030%201234567",
        "external_id=42&external_source=crm",
        "external_id=42",
        "attr.tier=gold",
        "attributes__tier=gold",
        "attr.seats=12",
        "attr.tier=gold&attr.seats=12",
    ],
)
def test_list_filters_by_identity_and_attribute(support_api, support, query):
    ann = factories.known_contact(
        support, email="ann.lee@example.com", attributes={"tier": "gold", "seats": 12}
    )
    supply(support, ann, kind="phone", value="+49301234567", normalised="+49301234567")
    supply(support, ann, kind="external", source="crm", value="42", normalised="42")
    other = factories.known_contact(
        support, email="bob@example.com", attributes={"tier": "silver", "seats": 3}
    )
    supply(support, other, kind="external", source="shop", value="43", normalised="43")

    response = support_api.get(f"{CONTACTS}?{query}")

    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == shown(ann)


def test_list_filter_on_an_external_id_of_another_source_finds_nothing(support_api, support):
    ann = factories.known_contact(support)
    supply(support, ann, kind="external", source="crm", value="42", normalised="42")

    assert support_api.get(f"{CONTACTS}?external_id=42&external_source=shop").json()["count"] == 0


def test_list_filters_by_the_time_the_department_came_to_know_them(support_api, support, marketing):
    """`created_after` is about the department's own book: a person another department has known
    for years counts from when this department met them."""
    older = factories.known_contact(marketing, created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    factories.DepartmentContactFactory(
        department=support, contact=older, created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    )
    early = factories.known_contact(support)
    DepartmentContact.objects.filter(contact=early).update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    response = support_api.get(f"{CONTACTS}?created_after=2026-02-01T00:00:00Z")

    assert [c["id"] for c in response.json()["results"]] == shown(older)
    assert response.json()["results"][0]["created_at"] == "2026-03-01T00:00:00Z"


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("created_after=yesterday", "invalid", "created_after: "),
        ("email=not-an-email", "invalid_identity", "email: "),
        ("attr.=gold", "invalid", "attr.: Name the attribute"),
    ],
)
def test_list_bad_filter_is_400_naming_it(support_api, query, code, message):
    body = assert_error(support_api.get(f"{CONTACTS}?{query}"), 400, code)

    assert body["message"].startswith(message)


def test_list_is_paginated_by_limit_and_offset(support_api, support):
    contacts = [factories.known_contact(support) for _ in range(3)]

    body = support_api.get(f"{CONTACTS}?limit=2&offset=1").json()

    assert body["count"] == 3
    assert [c["id"] for c in body["results"]] == shown(contacts[1], contacts[2])
    assert body["previous"] is not None and body["next"] is None


def test_list_takes_the_same_number_of_queries_for_any_number_of_contacts(support_api, support):
    def queries_for_listing() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert support_api.get(CONTACTS).status_code == 200
        return len(queries)

    factories.known_contact(support)
    support_api.get(CONTACTS)  # the key's last_used_at is written at most once a minute
    few = queries_for_listing()
    for _ in range(10):
        contact = factories.known_contact(support)
        supply(support, contact, kind="phone", value=f"+4930{contact.pk:07d}")

    assert queries_for_listing() == few


def test_list_query_count(support_api, support, django_assert_num_queries):
    for _ in range(5):
        factories.known_contact(support)
    support_api.get(CONTACTS)  # writes the key's last_used_at; the key is trusted for a few seconds

    # the key's rate-limit counter, the count, the page, the page's views, the page's identities
    with django_assert_num_queries(5):
        support_api.get(CONTACTS)


def test_list_unauthenticated_is_401(db):
    assert_error(APIClient().get(CONTACTS), 401, "not_authenticated")


# GET /contacts/{id}


def test_read_a_contact(support_api, support):
    contact = factories.known_contact(support, email="ann@example.com", name="Ann Lee")

    response = support_api.get(detail(contact))

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"]) == (str(contact.public_id), "Ann Lee")
    assert [i["value"] for i in body["identities"]] == ["ann@example.com"]


def test_another_departments_contact_is_404(marketing_api, support):
    contact = factories.known_contact(support)

    for response in (
        marketing_api.get(detail(contact)),
        marketing_api.get(consents(contact)),
        marketing_api.post(consents(contact), {"kind": "opt_out"}, format="json"),
    ):
        assert_error(response, 404, "not_found")
    assert not Consent.objects.exists()


def test_a_missing_contact_is_404(support_api):
    missing = "7f0c1a9e-5b7e-4c39-9a55-0d2a4b1c3e8f"

    body = assert_error(support_api.get(f"{CONTACTS}/{missing}"), 404, "not_found")

    assert body["message"] == f"Contact {missing} not found."


def test_contact_detail_wrong_method_is_405(support_api, support):
    contact = factories.known_contact(support)

    assert_error(support_api.post(detail(contact), {}, format="json"), 405, "method_not_allowed")
    assert_error(support_api.delete(detail(contact)), 405, "method_not_allowed")


def test_contact_detail_unauthenticated_is_401(support):
    contact = factories.known_contact(support)

    assert_error(APIClient().get(detail(contact)), 401, "not_authenticated")


# POST and GET /contacts/{id}/consents


def test_record_and_list_consent(support_api, support):
    contact = factories.known_contact(support)

    opt_out = support_api.post(
        consents(contact), {"kind": "opt_out", "channel": "sms", "note": "asked by phone"}, format="json"
    )
    snooze = support_api.post(
        consents(contact),
        {"kind": "snooze", "department": "support", "until": "2099-01-01T00:00:00Z"},
        format="json",
    )

    assert (opt_out.status_code, snooze.status_code) == (201, 201)
    # No department named: the key's own, never every department.
    assert opt_out.json()["department"] == "support"
    assert opt_out.json()["source"] == "api"
    assert opt_out.json()["note"] == "asked by phone"
    listed = support_api.get(consents(contact)).json()
    assert [(c["kind"], c["department"], c["channel"], c["note"]) for c in listed["results"]] == [
        ("opt_out", "support", "sms", "asked by phone"),
        ("snooze", "support", "", ""),
    ]
    assert Consent.objects.get(kind="opt_out").recorded_by.startswith("api-key:")


@pytest.mark.parametrize("department", [None, "support"])
@pytest.mark.parametrize("source", ["unsubscribe_link", "preference_centre", "complaint"])
def test_an_api_key_cannot_record_the_customers_opt_out_for_everyone(
    support_api, support, marketing, department, source
):
    contact = factories.known_contact(support)
    factories.DepartmentContactFactory(department=marketing, contact=contact)

    response = support_api.post(
        consents(contact), {"kind": "opt_out", "department": department, "source": source}, format="json"
    )

    body = assert_error(response, 403, "consent_scope_forbidden")
    assert body["message"].startswith(f"source: '{source}' speaks for every department")
    assert "the customer's own links, the providers' webhooks and CX leads" in body["message"]
    assert list(body["extra"]["fields"]) == ["source"]
    assert not Consent.objects.exists()


def test_consent_list_shows_a_department_its_own_records_and_what_everyone_was_told(
    support_api, marketing_api, lead_api, support, marketing
):
    contact = factories.known_contact(support)
    factories.DepartmentContactFactory(department=marketing, contact=contact)
    at = dt.datetime(2026, 3, 2, 10, 37, 12, 345678, tzinfo=dt.UTC)
    factories.ConsentFactory(contact=contact, department=support, note="support's own", created_at=at)
    factories.ConsentFactory(
        contact=contact,
        department=None,
        kind="snooze",
        until=dt.datetime(2099, 1, 1, 10, 37, tzinfo=dt.UTC),
        source="preference_centre",
        note="said on the phone to support",
        created_at=at + dt.timedelta(minutes=1),
    )

    def listed(client) -> list[tuple]:
        results = client.get(consents(contact)).json()["results"]
        return [(c["department"], c["note"], c["created_at"], c["until"]) for c in results]

    every_department = (None, "", "2026-03-02T10:00:00Z", "2099-01-01T11:00:00Z")
    assert listed(marketing_api) == [every_department]
    assert listed(support_api) == [
        ("support", "support's own", "2026-03-02T10:37:12.345678Z", None),
        every_department,
    ]
    assert listed(lead_api) == [
        ("support", "support's own", "2026-03-02T10:37:12.345678Z", None),
        (None, "said on the phone to support", "2026-03-02T10:38:12.345678Z", "2099-01-01T10:37:00Z"),
    ]


@pytest.mark.parametrize(
    ("payload", "status", "code", "message"),
    [
        ({"kind": "snooze"}, 400, "invalid", "until: A snooze needs"),
        ({"kind": "snooze", "until": "2001-01-01T00:00:00Z"}, 400, "invalid", "until: A snooze must end"),
        ({"kind": "maybe"}, 400, "invalid", "kind: "),
        ({"kind": "opt_out", "until": "2099-01-01T00:00:00Z"}, 400, "invalid", "until: Only a snooze"),
        (
            {"kind": "opt_out", "department": "marketing"},
            404,
            "not_found",
            "Department 'marketing' not found.",
        ),
        ({"kind": "opt_out", "source": "bounce"}, 403, "consent_scope_forbidden", "source: 'bounce' speaks"),
    ],
)
def test_consent_bad_input(support_api, support, marketing, payload, status, code, message):
    contact = factories.known_contact(support)

    body = assert_error(support_api.post(consents(contact), payload, format="json"), status, code)

    assert body["message"].startswith(message)
    assert not Consent.objects.exists()


def test_consent_for_a_missing_contact_is_404(support_api):
    missing = f"{CONTACTS}/7f0c1a9e-5b7e-4c39-9a55-0d2a4b1c3e8f/consents"
    assert_error(support_api.post(missing, {"kind": "opt_out"}, format="json"), 404)
    assert_error(support_api.get(missing), 404)


def test_consents_wrong_method_is_405(support_api, support):
    contact = factories.known_contact(support)

    assert_error(support_api.delete(consents(contact)), 405, "method_not_allowed")


def test_consents_unauthenticated_is_401(support):
    contact = factories.known_contact(support)

    assert_error(APIClient().post(consents(contact), {"kind": "opt_out"}, format="json"), 401)


# The OpenAPI schema and docs


def test_schema_is_served_and_describes_the_contacts_api(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert {"contact_upsert", "contact_list", "contact_get", "consent_record", "consent_list"} <= operations
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_schema_is_valid_without_warnings(tmp_path, db):
    # What `manage.py spectacular --validate --fail-on-warn` checks: OpenAPI 3 validity, and no
    # view or serializer the generator could not describe.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    assert "/api/v1/contacts" in (tmp_path / "schema.yaml").read_text()


def test_docs_render(client, db):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
