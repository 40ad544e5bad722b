"""Accounts and blackouts in the admin, as alice (support), mallory (marketing) and the CX lead see
them: an owner sees the accounts their department named and only their own people in them."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts.account_services import account_name, contact_account_assign
from contacts.models import Account
from surveys.gatekeeper.blackouts import blackout_close, blackout_open
from surveys.models import Blackout
from tests import factories

pytestmark = pytest.mark.django_db

ACCOUNTS = reverse("admin:contacts_account_changelist")
BLACKOUTS = reverse("admin:surveys_blackout_changelist")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def acme(support, marketing):
    """Account CRM-ACME: two of support's people and one of marketing's, which both named."""
    for department, email in (
        (support, "ann@example.com"),
        (support, "bob@example.com"),
        (marketing, "eve@example.com"),
    ):
        contact = factories.known_contact(department, email=email)
        contact_account_assign(department=department, contact=contact, external_id="CRM-ACME")
    return Account.objects.get(external_id="CRM-ACME")


@pytest.fixture
def hidden(support):
    """An account only support named."""
    contact = factories.known_contact(support, email="cat@example.com")
    contact_account_assign(department=support, contact=contact, external_id="CRM-HIDDEN")
    return Account.objects.get(external_id="CRM-HIDDEN")


def rows(response) -> dict[str, int]:
    return {account.external_id: account.members for account in response.context["cl"].result_list}


def test_each_owner_sees_the_accounts_their_department_named_with_only_their_people(
    alice, mallory, acme, hidden
):
    alice_sees = logged_in(alice).get(ACCOUNTS)
    mallory_sees = logged_in(mallory).get(ACCOUNTS)

    assert rows(alice_sees) == {"CRM-ACME": 2, "CRM-HIDDEN": 1}
    assert rows(mallory_sees) == {"CRM-ACME": 1}
    assert "CRM-HIDDEN" not in mallory_sees.content.decode()


def test_an_account_another_department_named_is_not_found_and_owners_change_nothing(
    alice, mallory, acme, hidden
):
    change = reverse("admin:contacts_account_change", args=[hidden.pk])

    assert logged_in(mallory).get(change).status_code == 404
    response = logged_in(alice).post(change, {"name": "Renamed", "kind": "household", "external_id": "X"})
    assert response.status_code == 403
    assert Account.objects.get(pk=hidden.pk).name == "CRM-HIDDEN"


def test_the_cx_lead_sees_every_account_and_everyone_in_it_and_renames_it(lead, acme, hidden):
    client = logged_in(lead)
    change = reverse("admin:contacts_account_change", args=[acme.pk])

    listed = client.get(ACCOUNTS)
    client.post(change, {"name": "Acme GmbH", "kind": "company", "external_id": "CRM-ACME"})

    assert rows(listed) == {"CRM-ACME": 3, "CRM-HIDDEN": 1}
    assert Account.objects.get(pk=acme.pk).name == "Acme GmbH"


def test_an_owners_contact_page_shows_only_an_account_their_department_named(
    alice, mallory, support, marketing
):
    contact = factories.known_contact(support, email="dan@example.com")
    factories.DepartmentContactFactory(department=marketing, contact=contact)
    contact_account_assign(department=support, contact=contact, external_id="CRM-SECRET")
    page = reverse("admin:contacts_contact_change", args=[contact.pk])

    assert "CRM-SECRET" in logged_in(alice).get(page).content.decode()
    assert "CRM-SECRET" not in logged_in(mallory).get(page).content.decode()


# Blackouts


@pytest.fixture
def blackouts(support, marketing):
    now = timezone.now()
    ann = factories.known_contact(support, email="ann@example.com")
    eve = factories.known_contact(marketing, email="eve@example.com")
    blackout_open(department=support, external_id="T-OPEN", kind="ticket", contact_id=ann.pk)
    blackout_open(department=support, external_id="T-TAIL", kind="complaint", contact_id=ann.pk)
    blackout_close(department=support, external_id="T-TAIL", tail=dt.timedelta(days=7))
    blackout_open(
        department=support,
        external_id="T-OLD",
        kind="outage",
        contact_id=ann.pk,
        now=now - dt.timedelta(days=30),
    )
    blackout_close(
        department=support, external_id="T-OLD", tail=dt.timedelta(days=1), now=now - dt.timedelta(days=20)
    )
    account = account_name(department=marketing, external_id="CRM-EVE")
    blackout_open(department=marketing, external_id="M-SECRET", kind="cancellation", account_id=account.pk)
    return ann, eve


def listed(client, **filters) -> set[str]:
    return {blackout.external_id for blackout in client.get(BLACKOUTS, filters).context["cl"].result_list}


def test_an_owner_lists_their_departments_blackouts_by_state(alice, blackouts):
    client = logged_in(alice)

    assert listed(client) == {"T-OPEN", "T-TAIL", "T-OLD"}
    assert listed(client, state="open") == {"T-OPEN"}
    assert listed(client, state="closed") == {"T-TAIL", "T-OLD"}
    assert listed(client, state="blocking") == {"T-TAIL"}
    assert listed(client, state="ended") == {"T-OLD"}


def test_another_departments_blackout_is_neither_listed_nor_found(mallory, alice, blackouts):
    secret = Blackout.objects.get(external_id="M-SECRET")
    theirs = Blackout.objects.get(external_id="T-OPEN")

    assert listed(logged_in(mallory)) == {"M-SECRET"}
    assert logged_in(alice).get(reverse("admin:surveys_blackout_change", args=[secret.pk])).status_code == 404
    assert (
        logged_in(mallory).get(reverse("admin:surveys_blackout_change", args=[theirs.pk])).status_code == 404
    )
    assert listed(logged_in(alice), q="M-SECRET") == set()


def test_the_close_action_closes_open_blackouts_and_the_lead_sees_all(alice, lead, blackouts):
    client = logged_in(alice)
    opened = Blackout.objects.get(external_id="T-OPEN")

    client.post(BLACKOUTS, {"action": "close_selected", "_selected_action": [opened.pk]})

    assert Blackout.objects.get(pk=opened.pk).closed_at is not None
    assert listed(logged_in(lead)) == {"T-OPEN", "T-TAIL", "T-OLD", "M-SECRET"}


# Touch imports


TOUCH_IMPORTS = reverse("admin:surveys_touchimport_changelist")


def test_an_owner_uploads_touches_queued_as_a_job_and_follows_it(alice, mallory, support, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from surveys.external.imports import touch_import_run
    from surveys.models import ExternalTouch, TouchImport

    settings.CONTACT_IMPORT_DIR = tmp_path
    factories.known_contact(support, email="ann@example.com")
    text = (
        "external_id,source_tool,survey_kind,channel,at,email\n"
        "Q-1,Qualtrics,transactional,email,2026-11-02T09:30:00Z,ann@example.com\n"
        "Q-2,Qualtrics,transactional,fax,2026-11-02T09:30:00Z,ann@example.com\n"
    )
    client = logged_in(alice)

    refused = client.post(
        reverse("admin:surveys_touchimport_add"),
        {"department": support.pk, "file": SimpleUploadedFile("t.csv", b"email\nann@example.com\n")},
    )
    client.post(
        reverse("admin:surveys_touchimport_add"),
        {"department": support.pk, "file": SimpleUploadedFile("t.csv", text.encode())},
    )
    job = TouchImport.objects.get()
    assert job.status == "queued" and not ExternalTouch.objects.exists()  # nothing ran in the request
    touch_import_run(job_id=job.pk)
    page = client.get(reverse("admin:surveys_touchimport_change", args=[job.pk])).content.decode()

    assert "source_tool" in refused.content.decode()
    assert "recorded 1, replayed 0, rejected 1" in page
    assert "row 3, column channel" in page
    assert (
        logged_in(mallory).get(reverse("admin:surveys_touchimport_change", args=[job.pk])).status_code == 404
    )
    assert "t.csv" not in logged_in(mallory).get(TOUCH_IMPORTS).content.decode()
