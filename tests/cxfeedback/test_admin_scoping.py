"""The admin mixins every app's admin builds on: department scoping, 404s, read-only history."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from contacts.models import Consent, Contact
from departments.admin_scoping import DepartmentScopedAdmin, ReadOnlyHistoryAdmin, admin_actor
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def admin_request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


class ConsentByDepartmentAdmin(DepartmentScopedAdmin, admin.ModelAdmin):
    """A throwaway admin the way a later app declares one: by the path to its department."""

    department_path = "department"


def test_department_path_scopes_the_queryset_for_an_owner_only(alice, lead, support, marketing):
    own = factories.ConsentFactory(department=support)
    other = factories.ConsentFactory(department=marketing)
    model_admin = ConsentByDepartmentAdmin(Consent, admin.site)

    assert list(model_admin.get_queryset(admin_request(alice))) == [own]
    assert set(model_admin.get_queryset(admin_request(lead))) == {own, other}


def test_an_owner_without_departments_sees_nothing(db):
    factories.ConsentFactory(department=factories.DepartmentFactory())
    loner = factories.UserFactory(role="Department owner")

    assert not ConsentByDepartmentAdmin(Consent, admin.site).get_queryset(admin_request(loner)).exists()


def test_foreign_key_choices_are_limited_to_what_the_user_sees(alice, lead, support, marketing):
    own_contact = factories.known_contact(support)
    factories.known_contact(marketing)
    model_admin = ConsentByDepartmentAdmin(Consent, admin.site)
    request = admin_request(alice)

    departments = model_admin.formfield_for_foreignkey(Consent._meta.get_field("department"), request)
    contacts = model_admin.formfield_for_foreignkey(Consent._meta.get_field("contact"), request)

    assert list(departments.queryset) == [support]
    # Contact's admin is department-scoped too, so its choices follow that admin's rule.
    assert list(contacts.queryset) == [own_contact]
    lead_departments = model_admin.formfield_for_foreignkey(
        Consent._meta.get_field("department"), admin_request(lead)
    )
    assert set(lead_departments.queryset) == {support, marketing}


def test_an_object_outside_the_scope_is_404_not_a_redirect(mallory_client, support):
    contact = factories.known_contact(support)

    for name in ("change", "history", "delete"):
        response = mallory_client.get(reverse(f"admin:contacts_contact_{name}", args=[contact.pk]))
        assert response.status_code in (404, 403), name
    assert mallory_client.get(reverse("admin:contacts_contact_change", args=[contact.pk])).status_code == 404


def test_a_missing_object_is_404_too(lead_client):
    # Django's admin would redirect to the index with "doesn't exist"; this pins the 404 hook.
    response = lead_client.get(reverse("admin:contacts_contact_change", args=[999999]))

    assert response.status_code == 404


def test_history_admin_allows_nothing_but_viewing_even_for_a_superuser(db):
    superuser = factories.UserFactory(username="root", is_superuser=True)

    class History(ReadOnlyHistoryAdmin, admin.ModelAdmin):
        pass

    model_admin, request = History(Consent, admin.site), admin_request(superuser)

    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_a_scoped_admin_without_a_department_rule_fails_the_system_check():
    class Forgetful(DepartmentScopedAdmin, admin.ModelAdmin):
        pass

    errors = Forgetful(Contact, admin.site).check()

    assert [error.id for error in errors] == ["cxfeedback.E001"]


def test_the_actor_is_computed_once_per_request(alice, django_assert_num_queries):
    request = admin_request(alice)
    admin_actor(request)

    with django_assert_num_queries(0):
        assert admin_actor(request).department_ids


SEND_REQUESTS = "/admin/surveys/sendrequest/"


@pytest.mark.parametrize(
    "query",
    [
        "department__id__exact={support}",
        "department={support}",
        "department__in={marketing},{support}",
        "department__gte=0",
        "survey__department={support}",
    ],
)
def test_a_lookup_naming_another_department_is_404_as_one_naming_none(
    mallory_client, support, marketing, query
):
    other = mallory_client.get(f"{SEND_REQUESTS}?{query.format(support=support.pk, marketing=marketing.pk)}")
    made_up = mallory_client.get(f"{SEND_REQUESTS}?{query.format(support=987654, marketing=marketing.pk)}")

    assert other.status_code == made_up.status_code == 404


def test_lookups_inside_the_users_departments_still_filter(mallory_client, lead_client, support, marketing):
    own = factories.SendRequestFactory(department=marketing)
    factories.SendRequestFactory(department=support)

    mine = mallory_client.get(SEND_REQUESTS, {"department__id__exact": marketing.pk})
    several = mallory_client.get(SEND_REQUESTS, {"department__in": str(marketing.pk)})
    by_lead = lead_client.get(SEND_REQUESTS, {"department__id__exact": support.pk})

    assert list(mine.context["cl"].result_list) == [own]
    assert list(several.context["cl"].result_list) == [own]
    assert [request.department for request in by_lead.context["cl"].result_list] == [support]
