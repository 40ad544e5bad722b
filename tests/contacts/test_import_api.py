"""POST /api/v1/contacts/import: multipart CSV upload, dry run, and the error shapes."""

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from contacts.models import Contact, ContactImport, DepartmentContact, Identity
from tests import factories
from tests.import_jobs import job_finished

URL = "/api/v1/contacts/import"


def csv_file(text: str, name: str = "contacts.csv", encoding: str = "utf-8") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def test_imports_a_file_and_answers_with_the_summary_and_issues(support, support_api):
    response = job_finished(
        support_api,
        support_api.post(
            URL, {"file": csv_file("email;name\nada@example.com;Ada\nbad;B\n")}, format="multipart"
        ),
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "completed" and body["dry_run"] is False
    assert body["department"] == "support" and body["filename"] == "contacts.csv"
    assert body["counts"] == {
        "rows": 2,
        "created": 1,
        "matched": 0,
        "identities_added": 0,
        "updated": 0,
        "with_warnings": 0,
        "invalid": 1,
        "conflict": 0,
    }
    assert body["issues"] == [
        {
            "row_number": 3,
            "kind": "invalid",
            "column": "email",
            "reason": "'bad' has no '@'.",
            "data": {"email": "bad", "name": "B"},
        }
    ]
    assert body["issues_total"] == 1
    ada = Identity.objects.get(normalised="ada@example.com").contact
    assert DepartmentContact.objects.filter(department=support, contact=ada, source="import").exists()
    assert ContactImport.objects.get(pk=body["id"]).api_key_id is not None


def test_a_conflict_reads_the_same_whoever_the_other_contact_belongs_to(
    support, marketing, support_api, marketing_api
):
    """A conflict with one of support's own contacts and one with a contact only marketing knows
    give support the same answer, naming no contact."""
    factories.known_contact(support, email="ours@example.com")
    own = factories.known_contact(support, email="own2@example.com")
    supplied = factories.IdentityFactory(
        contact=own, kind="phone", value="+4930444444", normalised="+4930444444"
    )
    factories.DepartmentIdentityFactory(department=support, identity=supplied)
    theirs = factories.known_contact(marketing, email="theirs@example.com", name="Theirs")
    phone = factories.IdentityFactory(
        contact=theirs, kind="phone", value="+4930333333", normalised="+4930333333"
    )
    factories.DepartmentIdentityFactory(department=marketing, identity=phone)

    for dry_run in ("true", "false"):
        answers = [
            job_finished(
                support_api,
                support_api.post(
                    URL,
                    {"file": csv_file(f"email,phone\nours@example.com,{phone}\n"), "dry_run": dry_run},
                    format="multipart",
                ),
            )
            for phone in ("030 333333", "030 444444")
        ]

        theirs_issue, own_issue = (answer.json()["issues"][0] for answer in answers)
        assert theirs_issue["reason"].replace("030 333333", "…") == own_issue["reason"].replace(
            "030 444444", "…"
        )
        assert theirs_issue["reason"] == (
            "email ours@example.com belongs to one contact; phone 030 333333 to another. "
            "Nothing was merged: a CX lead decides whether these are one person."
        )
        assert str(theirs.public_id) not in answers[0].content.decode()
        assert "Theirs" not in answers[0].content.decode()


def test_a_dry_run_with_another_departments_customers_counts_them_as_new(support, marketing, support_api):
    factories.known_contact(marketing, email="theirs@example.com")

    response = job_finished(
        support_api,
        support_api.post(
            URL,
            {"file": csv_file("email\ntheirs@example.com\nnew@example.com\n"), "dry_run": "true"},
            format="multipart",
        ),
    )

    assert response.status_code == 200
    assert response.json()["counts"] == {
        "rows": 2,
        "created": 2,
        "matched": 0,
        "identities_added": 0,
        "updated": 0,
        "with_warnings": 0,
        "invalid": 0,
        "conflict": 0,
    }
    assert not DepartmentContact.objects.filter(department=support).exists()


def test_dry_run_answers_200_and_writes_no_contact(support, support_api):
    response = job_finished(
        support_api,
        support_api.post(
            URL, {"file": csv_file("email\nada@example.com\n"), "dry_run": "true"}, format="multipart"
        ),
    )

    assert response.status_code == 200
    assert response.json()["counts"]["created"] == 1
    assert response.json()["status"] == "previewed" and response.json()["dry_run"] is True
    assert not Contact.objects.exists()


def test_windows_1252_upload(support, support_api):
    response = job_finished(
        support_api,
        support_api.post(
            URL,
            {"file": csv_file("email,name\nj@example.com,Jörg Weiß\n", encoding="cp1252")},
            format="multipart",
        ),
    )

    assert response.status_code == 200
    assert DepartmentContact.objects.get(contact__identities__normalised="j@example.com").name == "Jörg Weiß"


def test_the_phone_region_reads_national_numbers_and_a_guess_is_a_warning(support, support_api):
    text = "email,phone\nsam@example.com,(201) 555-0123\n"

    named = job_finished(
        support_api, support_api.post(URL, {"file": csv_file(text), "phone_region": "US"}, format="multipart")
    )
    guessed = job_finished(  # no region here nor on support: the company default, flagged
        support_api,
        support_api.post(
            URL, {"file": csv_file(text.replace("sam", "kim")), "dry_run": "true"}, format="multipart"
        ),
    )

    assert named.status_code == 200 and named.json()["issues"] == []
    assert Identity.objects.filter(kind="phone", normalised="+12015550123").exists()
    assert guessed.json()["counts"]["with_warnings"] == 1
    (warning,) = guessed.json()["issues"]
    assert (warning["row_number"], warning["kind"], warning["column"]) == (2, "warning", "phone")
    assert warning["reason"].startswith("Read as a DE number, +492015550123: it has no country code")


def test_an_unknown_phone_region_is_a_400_naming_the_field(support, support_api):
    response = job_finished(
        support_api,
        support_api.post(
            URL, {"file": csv_file("email\na@example.com\n"), "phone_region": "Germany"}, format="multipart"
        ),
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_phone_region" and body["message"].startswith("phone_region: 'Germany'")
    assert list(body["extra"]["fields"]) == ["phone_region"]
    assert not ContactImport.objects.exists()


def test_a_file_with_unknown_columns_is_a_400_naming_them(support, support_api):
    response = job_finished(
        support_api,
        support_api.post(URL, {"file": csv_file("email,fax\na@example.com,1\n")}, format="multipart"),
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unknown_columns"
    assert body["message"].startswith("Unknown column: fax. Allowed columns: email, phone")
    assert body["extra"]["unknown"] == ["fax"]
    assert not ContactImport.objects.exists()


def test_an_empty_file_is_a_400_saying_so(support, support_api):
    response = job_finished(support_api, support_api.post(URL, {"file": csv_file("")}, format="multipart"))

    assert response.status_code == 400
    assert response.json()["code"] == "empty_file"


def test_a_missing_file_is_a_400_naming_the_field(support, support_api):
    response = job_finished(support_api, support_api.post(URL, {"dry_run": "true"}, format="multipart"))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and body["message"].startswith("file:")
    assert "file" in body["extra"]["fields"]


def test_another_departments_import_target_is_a_404(support, marketing_api):
    response = job_finished(
        marketing_api,
        marketing_api.post(
            URL, {"file": csv_file("email\na@example.com\n"), "department": "support"}, format="multipart"
        ),
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert not Contact.objects.exists()


def test_a_department_owner_signed_in_names_their_department_and_not_anothers(support, marketing, alice):
    client = APIClient()
    client.force_login(alice)

    missing = job_finished(
        client, client.post(URL, {"file": csv_file("email\na@example.com\n")}, format="multipart")
    )
    theirs = job_finished(
        client,
        client.post(
            URL, {"file": csv_file("email\na@example.com\n"), "department": "marketing"}, format="multipart"
        ),
    )
    own = job_finished(
        client,
        client.post(
            URL, {"file": csv_file("email\na@example.com\n"), "department": "support"}, format="multipart"
        ),
    )

    assert missing.status_code == 400 and "department" in missing.json()["extra"]["fields"]
    assert theirs.status_code == 404
    assert own.status_code == 200
    assert ContactImport.objects.get().created_by == alice


def test_a_cx_lead_imports_into_any_department(marketing, lead_api):
    response = job_finished(
        lead_api,
        lead_api.post(
            URL, {"file": csv_file("email\na@example.com\n"), "department": "marketing"}, format="multipart"
        ),
    )

    assert response.status_code == 200
    assert DepartmentContact.objects.get().department == marketing


def test_wrong_method_is_a_405(support_api):
    response = support_api.get(URL)

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_without_credentials_is_a_401(db):
    response = APIClient().post(URL, {"file": csv_file("email\na@example.com\n")}, format="multipart")

    assert response.status_code == 401
    assert not Contact.objects.exists()
