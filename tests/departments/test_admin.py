"""Departments and API keys in the admin: CX leads configure, owners see their own, read-only."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from departments.authentication import ApiKeyAuthentication, hash_api_key
from departments.models import ApiKey, CompanySettings
from departments.services import api_key_create
from tests import factories

pytestmark = pytest.mark.django_db

DEPARTMENTS = reverse("admin:departments_department_changelist")
API_KEYS = reverse("admin:departments_apikey_changelist")
ADD_API_KEY = reverse("admin:departments_apikey_add")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def department_url(department) -> str:
    return reverse("admin:departments_department_change", args=[department.pk])


# --- Departments -----------------------------------------------------------------------------------


def test_owner_sees_only_their_departments(alice_client, support, marketing):
    response = alice_client.get(DEPARTMENTS)

    assert list(response.context["cl"].result_list) == [support]


def test_lead_sees_every_department(lead_client, support, marketing):
    response = lead_client.get(DEPARTMENTS)

    assert set(response.context["cl"].result_list) == {support, marketing}


def test_owner_cannot_edit_their_department(alice_client, support):
    page = alice_client.get(department_url(support))

    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert (
        alice_client.post(department_url(support), {"name": "Renamed", "slug": "support"}).status_code == 403
    )
    assert alice_client.get(reverse("admin:departments_department_add")).status_code == 403
    support.refresh_from_db()
    assert support.name == "Support"


def test_another_owners_department_is_not_found(mallory_client, support):
    assert mallory_client.get(department_url(support)).status_code == 404


def test_lead_adds_a_member(lead_client, support, alice):
    bob = factories.UserFactory(username="bob")

    response = lead_client.post(
        department_url(support), {"name": "Support", "slug": "support", "members": [alice.pk, bob.pk]}
    )

    assert response.status_code == 302
    assert set(support.members.all()) == {alice, bob}


def test_lead_sets_the_departments_phone_region(lead_client, support, alice):
    form = {"name": "Support", "slug": "support", "members": [alice.pk]}

    refused = lead_client.post(department_url(support), {**form, "phone_region": "XX"})
    saved = lead_client.post(department_url(support), {**form, "phone_region": "us"})

    assert refused.status_code == 200
    assert "&#x27;XX&#x27; is not a country phone numbers can be read in" in refused.content.decode()
    assert saved.status_code == 302
    support.refresh_from_db()
    assert support.phone_region == "US"  # what an import of support's then reads national numbers in


# --- API keys ------------------------------------------------------------------------------------------


def test_owner_creates_a_key_shown_once(alice_client, support):
    response = alice_client.post(ADD_API_KEY, {"department": support.pk, "name": "CRM sync"})

    assert response.status_code == 200
    plain = re.search(rb'value="(cxf_[^"]+)"', response.content).group(1).decode()
    api_key = ApiKey.objects.get(department=support, name="CRM sync")
    assert api_key.key_hash == hash_api_key(plain)
    # Nowhere else: the list shows only the prefix.
    assert plain.encode() not in alice_client.get(API_KEYS).content


def test_owner_can_create_keys_only_for_their_department(alice_client, marketing):
    page = alice_client.get(ADD_API_KEY)
    response = alice_client.post(ADD_API_KEY, {"department": marketing.pk, "name": "sneaky"})

    assert [choice.name for choice in page.context["form"].fields["department"].queryset] == ["Support"]
    assert "department" in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_owners_see_only_their_departments_keys(alice, mallory, support, marketing):
    support_key, _ = api_key_create(department=support, name="support")
    marketing_key, _ = api_key_create(department=marketing, name="marketing")

    assert list(logged_in(alice).get(API_KEYS).context["cl"].result_list) == [support_key]
    mallory_client = logged_in(mallory)
    assert list(mallory_client.get(API_KEYS).context["cl"].result_list) == [marketing_key]
    assert (
        mallory_client.get(reverse("admin:departments_apikey_change", args=[support_key.pk])).status_code
        == 404
    )


def test_owner_revokes_a_key_and_it_stops_working(alice_client, support):
    api_key, plain = api_key_create(department=support, name="old")

    alice_client.post(API_KEYS, {"action": "revoke", "_selected_action": [api_key.pk]})

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    request = APIRequestFactory().get("/api/v1/contacts/", HTTP_AUTHORIZATION=f"Bearer {plain}")
    with pytest.raises(AuthenticationFailed):
        ApiKeyAuthentication().authenticate(request)


def test_revoke_cannot_reach_another_departments_key(mallory_client, support):
    api_key, _ = api_key_create(department=support, name="support")

    mallory_client.post(API_KEYS, {"action": "revoke", "_selected_action": [api_key.pk]})

    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_keys_are_revoked_never_deleted(lead_client, support):
    api_key, _ = api_key_create(department=support)

    response = lead_client.post(
        reverse("admin:departments_apikey_delete", args=[api_key.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert ApiKey.objects.filter(pk=api_key.pk).exists()


# --- Company settings --------------------------------------------------------------------------------


def test_company_settings_are_one_row_a_lead_changes_and_nobody_adds_or_deletes(lead_client):
    settings_row = CompanySettings.current()
    change = reverse("admin:departments_companysettings_change", args=[settings_row.pk])

    posted = lead_client.post(change, {"share_contact_channels": "on"})

    assert posted.status_code == 302
    assert CompanySettings.current().share_contact_channels is True
    assert lead_client.get(reverse("admin:departments_companysettings_add")).status_code == 403
    delete = reverse("admin:departments_companysettings_delete", args=[settings_row.pk])
    assert lead_client.post(delete, {"post": "yes"}).status_code == 403
    assert CompanySettings.objects.count() == 1


def test_the_company_settings_list_opens_the_one_row(lead_client):
    """No row yet (a fresh database): the list makes it and opens it, rather than offering an add."""
    listed = lead_client.get(reverse("admin:departments_companysettings_changelist"))

    assert listed.status_code == 302
    assert listed["Location"] == reverse("admin:departments_companysettings_change", args=[1])
    assert list(CompanySettings.objects.values_list("pk", flat=True)) == [1]


def test_owners_never_see_the_company_settings(alice_client):
    settings_row = CompanySettings.current()

    assert b"Company settings" not in alice_client.get(reverse("admin:index")).content
    assert alice_client.get(reverse("admin:departments_companysettings_changelist")).status_code == 403
    change = reverse("admin:departments_companysettings_change", args=[settings_row.pk])
    assert alice_client.post(change, {"share_contact_channels": "on"}).status_code == 403
    assert CompanySettings.current().share_contact_channels is False


def test_a_department_cannot_make_follow_ups_wait_for_the_frequency_rules(alice_client, lead_client):
    change = reverse("admin:departments_companysettings_change", args=[CompanySettings.current().pk])

    assert alice_client.get(change).status_code == 403
    assert alice_client.post(change, {"follow_ups_wait_for_frequency_rules": "on"}).status_code == 403
    assert CompanySettings.current().follow_ups_wait_for_frequency_rules is False
    page = lead_client.get(change).content.decode()
    assert "Follow-ups wait for the survey frequency rules" in page
    assert "a personal reply, not a survey" in page  # the help text
    assert lead_client.post(change, {"follow_ups_wait_for_frequency_rules": "on"}).status_code == 302
    assert CompanySettings.current().follow_ups_wait_for_frequency_rules is True
