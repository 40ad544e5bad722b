"""The admin's CSV import as a department owner: upload → preview (nothing written) → confirm →
result, with CSRF checks on, and scoped so another department's import is a 404."""

import datetime as dt
import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts.admin import import_pages
from contacts.importing.housekeeping import import_files_purge
from contacts.importing.jobs import contact_import_job_run
from contacts.models import Contact, ContactImport, Identity
from tests import factories

CSV = "email,phone,name\nkim@example.com,,Kim\nnew@example.com,0151 23456789,New\nbroken,,Broken\n"


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path):
    settings.CONTACT_IMPORT_DIR = tmp_path / "imports"
    return settings.CONTACT_IMPORT_DIR


@pytest.fixture
def alice_csrf_client(alice) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


def csrf_token(client: Client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)


def upload(client: Client, department, text: str = CSV, token: str | None = None, phone_region: str = ""):
    data = {
        "department": department.pk,
        "file": SimpleUploadedFile("contacts.csv", text.encode()),
        "phone_region": phone_region,
    }
    if token:
        data["csrfmiddlewaretoken"] = token
    return job_run(client.post(reverse("admin:contacts_contact_import"), data))


def confirm(client: Client, contact_import: ContactImport, **data):
    """Confirm a preview, and run the import job it queued as a worker would."""
    url = reverse("admin:contacts_contact_import_confirm", args=[contact_import.pk])
    return job_run(client.post(url, data))


def job_run(response):
    """The admin's answer; if it leads to a job's progress page, the job has run when this returns."""
    if response.status_code == 302 and (
        match := re.search(r"/import/(\d+)/progress/$", response["Location"])
    ):
        contact_import_job_run(import_id=int(match[1]))
    return response


def previewed_import(client: Client, department) -> ContactImport:
    response = upload(client, department)
    assert response.status_code == 302, response.content.decode()[:2000]
    return ContactImport.objects.get()


def test_upload_preview_confirm_result_as_a_department_owner(support, alice_csrf_client):
    factories.known_contact(support, email="kim@example.com", name="Kim")
    client = alice_csrf_client
    upload_url = reverse("admin:contacts_contact_import")

    response = upload(client, support, token=csrf_token(client, upload_url))

    contact_import = ContactImport.objects.get()
    progress_url = reverse("admin:contacts_contact_import_progress", args=[contact_import.pk])
    preview_url = reverse("admin:contacts_contact_import_preview", args=[contact_import.pk])
    assert response.status_code == 302 and response["Location"] == progress_url
    assert client.get(progress_url)["Location"] == preview_url  # the job has ended
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.PREVIEWED
    assert Contact.objects.count() == 1  # the preview wrote nothing

    preview = html.unescape(client.get(preview_url).content.decode())
    assert "Nothing has been written yet" in preview
    assert re.search(r"New contacts</th><td>1<", preview)
    assert re.search(r"Matched to a known contact</th><td>1<", preview)
    assert "'broken' has no '@'." in preview
    # Support names no phone region: the national number is read in the company's, and flagged.
    assert re.search(
        r"Imported with a warning \(a cell left out, a number read by a guess\)</th><td>1<", preview
    )
    assert "Read as a DE number, +4915123456789: it has no country code" in preview

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', preview).group(1)
    response = confirm(client, contact_import, csrfmiddlewaretoken=token)

    result_url = reverse("admin:contacts_contact_import_result", args=[contact_import.pk])
    assert response.status_code == 302 and response["Location"] == progress_url
    assert client.get(progress_url)["Location"] == result_url
    assert Identity.objects.filter(normalised="new@example.com").exists()
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.COMPLETED and contact_import.stored_file == ""
    result = html.unescape(client.get(result_url).content.decode())
    assert re.search(r"Rows read</th><td>3<", result) and re.search(r"New contacts</th><td>1<", result)
    assert "Completed" in result and "'broken' has no '@'." in result
    completed_at = timezone.localtime(contact_import.completed_at).strftime("%-d %b %Y, %H:%M")
    assert f"Completed</strong> at {completed_at}.</p>" in result  # not "p.m.."

    report = client.get(reverse("admin:contacts_contact_import_report", args=[contact_import.pk]))
    lines = b"".join(report.streaming_content).decode().splitlines()
    assert lines[0].startswith("row,outcome,contact_id,matched_by")
    assert lines[1].startswith("2,matched,") and "email kim@example.com" in lines[1]
    assert lines[3].startswith("4,invalid,")


def test_the_phone_region_chosen_on_upload_reads_the_preview_and_the_import(support, alice_client):
    text = "email,phone\nsam@example.com,(201) 555-0123\n"

    response = upload(alice_client, support, text=text, phone_region="us")

    contact_import = ContactImport.objects.get()
    assert response.status_code == 302 and contact_import.phone_region == "US"
    preview = html.unescape(alice_client.get(response["Location"], follow=True).content.decode())
    assert "No issues: every row can be imported." in preview
    confirm(alice_client, contact_import)
    assert Identity.objects.filter(kind="phone", normalised="+12015550123").exists()
    assert not contact_import.issues.exists()


def test_an_unknown_phone_region_is_a_form_error(support, alice_client, import_dir):
    response = upload(alice_client, support, phone_region="XX")

    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert "'XX' is not a country phone numbers can be read in" in page
    assert not ContactImport.objects.exists() and not import_dir.exists()  # nothing kept


def test_the_preview_shows_rows_left_out_before_rows_imported_with_a_warning(
    support, alice_client, monkeypatch
):
    monkeypatch.setattr(import_pages, "ISSUES_SHOWN", 2)
    rows = "".join(f"p{n}@example.com,030 12345{n}\n" for n in range(5))  # no region: 5 warnings
    response = upload(alice_client, support, text=f"email,phone\n{rows}broken,\n")

    preview = html.unescape(alice_client.get(response["Location"], follow=True).content.decode())
    assert "The first 2 of 6 issues" in preview
    assert "'broken' has no '@'." in preview and preview.count("Read as a DE number") == 1


def test_the_upload_needs_the_csrf_token(support, alice_csrf_client):
    response = upload(alice_csrf_client, support)

    assert response.status_code == 403
    assert not ContactImport.objects.exists()


def test_a_rejected_file_is_shown_on_the_upload_form(support, alice_client, import_dir):
    response = upload(alice_client, support, text="email,fax\na@example.com,1\n")

    assert response.status_code == 200
    assert "Unknown column: fax. Allowed columns:" in html.unescape(response.content.decode())
    assert not ContactImport.objects.exists()
    assert not any(import_dir.iterdir())  # the rejected upload is not kept


def test_an_owner_can_only_import_into_their_own_departments(support, marketing, alice_client):
    page = alice_client.get(reverse("admin:contacts_contact_import")).content.decode()
    assert "Support" in page and "Marketing" not in page

    response = upload(alice_client, marketing)

    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not ContactImport.objects.exists()


def test_another_departments_import_is_a_404_on_every_page(support, alice_client, mallory):
    contact_import = previewed_import(alice_client, support)
    client = Client()
    client.force_login(mallory)

    for name in ("preview", "result", "report"):
        url = reverse(f"admin:contacts_contact_import_{name}", args=[contact_import.pk])
        assert client.get(url).status_code == 404, name
    confirm = reverse("admin:contacts_contact_import_confirm", args=[contact_import.pk])
    assert client.post(confirm).status_code == 404
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.PREVIEWED
    assert not Contact.objects.exists()


def test_a_cx_lead_sees_and_confirms_any_departments_import(support, alice_client, lead_client):
    contact_import = previewed_import(alice_client, support)

    response = confirm(lead_client, contact_import)

    assert response.status_code == 302
    assert Contact.objects.count() == 2


def test_confirming_twice_imports_once(support, alice_client):
    contact_import = previewed_import(alice_client, support)
    confirm_url = reverse("admin:contacts_contact_import_confirm", args=[contact_import.pk])

    confirm(alice_client, contact_import)
    second = alice_client.post(confirm_url, follow=True)

    assert "already been confirmed" in second.content.decode()
    assert ContactImport.objects.get().counts["created"] == 2
    assert Contact.objects.count() == 2


def test_confirm_only_accepts_post(support, alice_client):
    contact_import = previewed_import(alice_client, support)

    response = alice_client.get(reverse("admin:contacts_contact_import_confirm", args=[contact_import.pk]))

    assert response.status_code == 405
    assert not Contact.objects.exists()


def test_a_missing_import_is_a_404(alice_client):
    assert (
        alice_client.get(reverse("admin:contacts_contact_import_preview", args=[999999])).status_code == 404
    )


def test_staff_without_the_import_permission_get_403(support, client):
    client.force_login(factories.UserFactory(username="intern"))

    assert client.get(reverse("admin:contacts_contact_import")).status_code == 403


def test_import_files_are_deleted_after_the_retention_period(support, alice_client, import_dir, settings):
    settings.IMPORT_FILE_RETENTION_DAYS = 14
    contact_import = previewed_import(alice_client, support)
    assert len(list(import_dir.iterdir())) == 2  # the upload and its preview report

    assert import_files_purge(now=timezone.now() + dt.timedelta(days=13)) == 0
    assert len(list(import_dir.iterdir())) == 2

    assert import_files_purge(now=timezone.now() + dt.timedelta(days=15)) == 2
    assert not any(import_dir.iterdir())
    report = alice_client.get(reverse("admin:contacts_contact_import_report", args=[contact_import.pk]))
    assert report.status_code == 404
    contact_import.refresh_from_db()
    assert contact_import.stored_file == "" and contact_import.report_file == ""
    response = confirm(alice_client, contact_import)
    page = html.unescape(alice_client.get(response["Location"], follow=True).content.decode())
    assert "upload it again" in page
    assert Contact.objects.count() == 0


def test_an_owner_importing_another_departments_customers_is_shown_nothing_of_theirs(
    support, marketing, mallory
):
    kim = factories.known_contact(support, email="kim@example.com", name="Kimberly of Support")
    sam = factories.known_contact(support, email="sam@example.com", name="Samuel of Support")
    phone = factories.IdentityFactory(
        contact=sam, kind="phone", value="+4915111111111", normalised="+4915111111111"
    )
    factories.DepartmentIdentityFactory(department=support, identity=phone)
    factories.known_contact(marketing, email="mine@example.com")
    client = Client()
    client.force_login(mallory)
    # Names, public ids, and integer ids as the old reasons and the CX lead's links wrote them.
    secrets = [str(kim.public_id), str(sam.public_id), "of support", "contact #"]

    upload(
        client, marketing, text="email,phone,name\nkim@example.com,,Kim\nmine@example.com,0151 11111111,\n"
    )
    contact_import = ContactImport.objects.get()

    def page(name: str) -> str:
        response = client.get(reverse(f"admin:contacts_contact_import_{name}", args=[contact_import.pk]))
        return html.unescape(b"".join(response).decode())

    shown = {"preview": page("preview"), "preview report": page("report")}
    confirm(client, contact_import)
    shown |= {"result": page("result"), "report": page("report")}
    issue = contact_import.issues.get()
    response = client.get(reverse("admin:contacts_contactimportissue_change", args=[issue.pk]))
    shown["issue"] = html.unescape(response.content.decode())

    assert re.search(r"New contacts</th><td>1<", shown["preview"])
    assert re.search(r"Matched to a known contact</th><td>0<", shown["result"])
    assert "phone 0151 11111111 to another" in shown["issue"]
    # Kim is marketing's contact too once imported, under the person's one random id.
    assert shown["report"].splitlines()[1].startswith(f"2,created,{kim.public_id},")
    shown["report"] = shown["report"].replace(str(kim.public_id), "")
    for name, text in shown.items():
        assert not [secret for secret in secrets if secret in text.lower()], name
    kim.refresh_from_db()
    assert kim.department_links.get(department=support).name == "Kimberly of Support"
