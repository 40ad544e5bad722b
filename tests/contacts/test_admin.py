"""The contact book in the admin, as alice (support), mallory (marketing) and the CX lead see it."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.models import Consent, Contact, ContactImport, ContactImportIssue, DepartmentContact, Identity
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_contact_changelist")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The personas' passwords are hashed at creation; the real hasher would make this file slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def change_url(contact: Contact) -> str:
    return reverse("admin:contacts_contact_change", args=[contact.pk])


@pytest.fixture
def anna(support):
    return factories.known_contact(support, email="anna@example.com", name="Anna Support")


@pytest.fixture
def mark(marketing):
    return factories.known_contact(marketing, email="mark@example.com", name="Mark Marketing")


@pytest.fixture
def shared(support, marketing):
    """Known to support and to marketing."""
    contact = factories.known_contact(support, email="sam@example.com", name="Sam Shared")
    factories.DepartmentContactFactory(department=marketing, contact=contact)
    return contact


def logged_in(user) -> Client:
    """A client of its own (the conftest *_client fixtures share one client, so one per test)."""
    client = Client()
    client.force_login(user)
    return client


def form_data(response) -> dict:
    """The POST body the change page would send unchanged: main form and every inline formset."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
        forms.extend(formset.initial_forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            data[form.add_prefix(name)] = "" if value is None else value
    return data


def add_inline_row(data: dict, prefix: str, **fields) -> dict:
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    data.update({f"{prefix}-{index}-{name}": value for name, value in fields.items()})
    return data


# --- Who sees what ---------------------------------------------------------------------------------


def test_owner_changelist_lists_only_contacts_their_department_knows(alice_client, anna, mark, shared):
    response = alice_client.get(CHANGELIST)

    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == {anna, shared}
    assert b"Mark Marketing" not in response.content


def test_lead_changelist_lists_every_contact(lead_client, anna, mark, shared):
    response = lead_client.get(CHANGELIST)

    assert set(response.context["cl"].result_list) == {anna, mark, shared}


def test_owner_opens_their_contact(alice_client, anna):
    response = alice_client.get(change_url(anna))

    assert response.status_code == 200
    assert b"anna@example.com" in response.content


def test_another_departments_contact_is_not_found(mallory_client, anna):
    assert mallory_client.get(change_url(anna)).status_code == 404
    assert mallory_client.post(change_url(anna), {"name": "Hijacked"}).status_code == 404
    history = reverse("admin:contacts_contact_history", args=[anna.pk])
    assert mallory_client.get(history).status_code == 404
    anna.refresh_from_db()
    assert anna.name == "Anna Support"


def test_owner_sees_only_their_own_departments_link_and_consent(alice_client, shared, marketing, support):
    factories.ConsentFactory(contact=shared, department=marketing, note="marketing only")
    factories.ConsentFactory(contact=shared, department=support, note="support only")
    factories.ConsentFactory(contact=shared, department=None, note="everyone")

    response = alice_client.get(change_url(shared))

    content = response.content.decode()
    assert "support only" in content
    # The every-department record is listed, without its note (tests/contacts/test_admin_consent.py).
    assert "everyone" not in content and "marketing only" not in content
    links = response.context["inline_admin_formsets"][1].formset.queryset
    assert [link.department for link in links] == [support]
    assert b"Marketing" not in response.content


def test_changelist_shows_only_own_departments_in_known_to_and_filter(alice_client, alice, shared, marketing):
    factories.DepartmentFactory(slug="billing", name="Billing").members.add(alice)

    response = alice_client.get(CHANGELIST)

    assert b"Marketing" not in response.content
    department_filter = next(
        spec
        for spec in response.context["cl"].filter_specs
        if spec.field_path == "department_links__department"
    )
    assert [name for _, name in department_filter.lookup_choices] == ["Billing", "Support"]


def test_owner_cannot_delete_contacts(alice_client, anna):
    response = alice_client.post(reverse("admin:contacts_contact_delete", args=[anna.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Contact.objects.filter(pk=anna.pk).exists()


# --- Search ----------------------------------------------------------------------------------------


def test_search_by_name_and_identity(lead_client, anna, mark):
    by_name = lead_client.get(CHANGELIST, {"q": "anna sup"})
    by_email = lead_client.get(CHANGELIST, {"q": "mark@exa"})

    assert list(by_name.context["cl"].result_list) == [anna]
    assert list(by_email.context["cl"].result_list) == [mark]


def test_search_matches_the_normalised_form(alice_client, support):
    gmail = factories.known_contact(support, name="Gina")
    Identity.objects.filter(contact=gmail).update(
        value="Gina.Mueller@gmail.com", normalised="ginamueller@gmail.com"
    )
    phone = factories.known_contact(support, name="Paul")
    factories.DepartmentIdentityFactory(
        department=support,
        identity=factories.IdentityFactory(
            contact=phone, kind=Identity.Kind.PHONE, value="030 1234567", normalised="+49301234567"
        ),
    )

    by_variant = alice_client.get(CHANGELIST, {"q": "GINA.mueller+news@googlemail.com"})
    by_other_format = alice_client.get(CHANGELIST, {"q": "+49 30 1234567"})

    assert list(by_variant.context["cl"].result_list) == [gmail]
    assert list(by_other_format.context["cl"].result_list) == [phone]


def test_search_stays_inside_the_owners_contacts(mallory_client, anna):
    response = mallory_client.get(CHANGELIST, {"q": "anna@example.com"})

    assert list(response.context["cl"].result_list) == []


# --- Identities --------------------------------------------------------------------------------------


def test_owner_adds_an_identity_and_it_is_normalised(alice_client, anna):
    data = form_data(alice_client.get(change_url(anna)))
    add_inline_row(data, "identities", kind="email", source="", value="  Anna.Private+Promo@GMAIL.com ")

    response = alice_client.post(change_url(anna), data)

    assert response.status_code == 302, response.context["errors"]
    identity = anna.identities.get(kind="email", normalised="annaprivate@gmail.com")
    assert identity.value == "Anna.Private+Promo@GMAIL.com"


def test_an_invalid_identity_is_a_form_error(alice_client, anna):
    data = form_data(alice_client.get(change_url(anna)))
    add_inline_row(data, "identities", kind="phone", source="", value="12")

    response = alice_client.post(change_url(anna), data)

    assert response.status_code == 200
    assert "not a valid phone number" in str(response.context["inline_admin_formsets"][0].formset.errors)
    assert anna.identities.count() == 1


def test_an_identity_of_another_contact_is_refused_without_naming_it(alice_client, anna, mark):
    data = form_data(alice_client.get(change_url(anna)))
    add_inline_row(data, "identities", kind="email", source="", value="MARK@example.com")

    response = alice_client.post(change_url(anna), data)

    assert response.status_code == 200
    errors = str(response.context["inline_admin_formsets"][0].formset.errors)
    assert "belongs to another contact" in errors
    assert "Mark" not in errors.replace("MARK@", "")
    assert anna.identities.count() == 1


def test_the_same_identity_twice_in_one_save_is_refused(alice_client, anna):
    data = form_data(alice_client.get(change_url(anna)))
    add_inline_row(data, "identities", kind="email", source="", value="new@example.com")
    add_inline_row(data, "identities", kind="email", source="", value="NEW@example.com")

    response = alice_client.post(change_url(anna), data)

    assert response.status_code == 200
    assert "listed twice" in str(response.context["inline_admin_formsets"][0].formset.non_form_errors())


def test_normalised_form_cannot_be_edited(lead_client, anna):
    data = form_data(lead_client.get(change_url(anna)))
    data["identities-0-normalised"] = "someone-else@example.com"
    data["identities-0-value"] = "ANNA@example.com"

    response = lead_client.post(change_url(anna), data)

    assert response.status_code == 302
    identity = anna.identities.get()
    assert (identity.value, identity.normalised) == ("ANNA@example.com", "anna@example.com")


def test_owner_cannot_change_an_existing_identity(alice_client, anna):
    data = form_data(alice_client.get(change_url(anna)))
    data["identities-0-value"] = "changed@example.com"

    alice_client.post(change_url(anna), data)

    assert anna.identities.get().value == "anna@example.com"


# --- Adding a contact ------------------------------------------------------------------------------


def test_owner_adds_a_contact_into_their_department(alice_client, support, marketing):
    add_url = reverse("admin:contacts_contact_add")
    page = alice_client.get(add_url)
    assert list(page.context["form"].fields["department"].queryset) == [support]

    response = alice_client.post(
        add_url,
        {"department": support.pk, "phone": "0151 23456789", "name": "New Person", "locale": "de",
         "time_zone": "Europe/Berlin", "attributes": '{"tier": "gold"}', "notes": "met at the fair"},
    )  # fmt: skip

    view = DepartmentContact.objects.get(name="New Person")
    assert response.status_code == 302
    assert response["Location"] == change_url(view.contact)
    assert (view.department, view.source) == (support, DepartmentContact.Source.ADMIN)
    assert (view.locale, view.time_zone, view.attributes, view.notes) == (
        "de", "Europe/Berlin", {"tier": "gold"}, "met at the fair"
    )  # fmt: skip
    assert view.contact.name == ""  # the person's own fields are not the department's to write
    identity = view.contact.identities.get()
    assert identity.normalised == "+4915123456789"
    assert identity.department == support and not identity.suppliers.exists()  # its first supplier
    assert alice_client.get(change_url(view.contact)).status_code == 200


def test_owner_cannot_add_a_contact_into_another_department(alice_client, marketing):
    add_url = reverse("admin:contacts_contact_add")

    response = alice_client.post(add_url, {"department": marketing.pk, "email": "sneaky@example.com"})

    assert response.status_code == 200
    assert "department" in response.context["form"].errors
    assert not Identity.objects.filter(normalised="sneaky@example.com").exists()


def test_adding_needs_an_identity_and_shows_a_bad_one_next_to_its_field(alice_client, support):
    add_url = reverse("admin:contacts_contact_add")

    nothing = alice_client.post(add_url, {"department": support.pk, "name": "Nobody"})
    bad_phone = alice_client.post(add_url, {"department": support.pk, "phone": "12"})
    bad_locale = alice_client.post(
        add_url, {"department": support.pk, "email": "a@example.com", "locale": "x"}
    )

    assert "Give an email address" in str(nothing.context["form"].non_field_errors())
    assert "phone" in bad_phone.context["form"].errors
    assert "locale" in bad_locale.context["form"].errors
    assert not Contact.objects.exists()


# --- Consent: append-only ------------------------------------------------------------------------


def test_owner_records_an_opt_out_through_the_contact_page(alice_client, alice, anna, support):
    data = form_data(alice_client.get(change_url(anna)))
    add_inline_row(
        data, "consents", kind="opt_out", department=str(support.pk), channel="email", until="", note=""
    )

    response = alice_client.post(change_url(anna), data)

    assert response.status_code == 302, response.context["errors"]
    consent = Consent.objects.get(contact=anna)
    assert (consent.kind, consent.department, consent.channel) == ("opt_out", support, "email")
    assert consent.source == Consent.Source.ADMIN
    assert consent.recorded_by == f"user:{alice.pk}"


def test_owner_cannot_record_an_opt_in_for_every_department(alice_client, anna):
    data = form_data(alice_client.get(change_url(anna)))
    add_inline_row(data, "consents", kind="opt_in", department="", channel="", until="", note="")

    response = alice_client.post(change_url(anna), data)

    assert response.status_code == 200
    assert "Only a CX lead" in str(response.context["inline_admin_formsets"][2].formset.errors)
    assert not Consent.objects.exists()


def test_a_snooze_needs_a_future_end(alice_client, anna):
    data = form_data(alice_client.get(change_url(anna)))
    add_inline_row(data, "consents", kind="snooze", department="", channel="", until="", note="")

    response = alice_client.post(change_url(anna), data)

    assert response.status_code == 200
    assert "needs the time it ends" in str(response.context["inline_admin_formsets"][2].formset.errors)


def test_existing_consent_cannot_be_changed_or_deleted_on_the_contact_page(lead_client, anna):
    consent = factories.ConsentFactory(contact=anna, kind=Consent.Kind.OPT_OUT)
    data = form_data(lead_client.get(change_url(anna)))
    data["consents-0-kind"] = "opt_in"
    data["consents-0-DELETE"] = "on"

    response = lead_client.post(change_url(anna), data)

    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.kind == Consent.Kind.OPT_OUT


def test_consent_history_is_read_only_even_for_a_lead(lead_client, anna):
    consent = factories.ConsentFactory(contact=anna)
    url = reverse("admin:contacts_consent_change", args=[consent.pk])

    page = lead_client.get(url)
    changelist = lead_client.get(reverse("admin:contacts_consent_changelist"))

    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert reverse("admin:contacts_consent_add").encode() not in changelist.content
    assert lead_client.post(url, {"kind": "opt_in"}).status_code == 403
    assert lead_client.get(reverse("admin:contacts_consent_add")).status_code == 403
    assert (
        lead_client.post(
            reverse("admin:contacts_consent_delete", args=[consent.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    consent.refresh_from_db()
    assert consent.kind == Consent.Kind.OPT_OUT


def test_consent_history_is_scoped(alice, mallory, anna, shared, marketing):
    alice_client, mallory_client = logged_in(alice), logged_in(mallory)
    own = factories.ConsentFactory(contact=anna)
    theirs = factories.ConsentFactory(contact=shared, department=marketing)
    url = reverse("admin:contacts_consent_changelist")

    assert list(alice_client.get(url).context["cl"].result_list) == [own]
    assert list(mallory_client.get(url).context["cl"].result_list) == [theirs]
    assert mallory_client.get(reverse("admin:contacts_consent_change", args=[own.pk])).status_code == 404


# --- Imports ------------------------------------------------------------------------------------------


def test_imports_and_their_issues_are_scoped(alice, mallory, lead, support, anna, mark):
    alice_client, mallory_client, lead_client = logged_in(alice), logged_in(mallory), logged_in(lead)
    contact_import = ContactImport.objects.create(department=support, status="completed", filename="crm.csv")
    issue = ContactImportIssue.objects.create(
        contact_import=contact_import,
        row_number=3,
        kind="conflict",
        reason="two contacts",
        contact_ids=[anna.pk, mark.pk],
    )
    issue_url = reverse("admin:contacts_contactimportissue_change", args=[issue.pk])

    assert (
        alice_client.get(reverse("admin:contacts_contactimport_change", args=[contact_import.pk])).status_code
        == 200
    )
    assert (
        mallory_client.get(
            reverse("admin:contacts_contactimport_change", args=[contact_import.pk])
        ).status_code
        == 404
    )
    assert mallory_client.get(issue_url).status_code == 404
    # Only a CX lead learns which contacts a conflicting row names.
    assert change_url(mark).encode() not in alice_client.get(issue_url).content
    assert change_url(mark).encode() in lead_client.get(issue_url).content
    conflicts = lead_client.get(
        reverse("admin:contacts_contactimportissue_changelist"), {"kind__exact": "conflict"}
    )
    assert list(conflicts.context["cl"].result_list) == [issue]


def test_the_contact_list_has_an_import_csv_button_for_those_who_may_import(alice_client, anna):
    response = alice_client.get(CHANGELIST)

    assert f'<a href="{reverse("admin:contacts_contact_import")}" class="addlink">Import CSV</a>' in (
        response.content.decode()
    )


def test_no_import_button_without_the_import_permission(support, anna):
    viewer = factories.UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_contact"))

    response = logged_in(viewer).get(CHANGELIST)

    assert response.status_code == 200
    assert b"Import CSV" not in response.content


def test_an_import_links_to_its_result_page(alice_client, support):
    contact_import = ContactImport.objects.create(department=support, status="completed", filename="crm.csv")

    response = alice_client.get(reverse("admin:contacts_contactimport_change", args=[contact_import.pk]))

    assert (
        reverse("admin:contacts_contact_import_result", args=[contact_import.pk]).encode() in response.content
    )


def test_lead_marks_a_conflict_resolved(lead_client, support):
    contact_import = ContactImport.objects.create(department=support, status="completed")
    issue = ContactImportIssue.objects.create(
        contact_import=contact_import, row_number=2, kind="conflict", reason="x"
    )

    lead_client.post(
        reverse("admin:contacts_contactimportissue_changelist"),
        {"action": "mark_resolved", "_selected_action": [issue.pk]},
    )

    issue.refresh_from_db()
    assert issue.resolved


# --- Query counts ------------------------------------------------------------------------------------


def changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(CHANGELIST).status_code == 200
    return len(queries)


@pytest.mark.parametrize("persona", ["alice_client", "lead_client"])
def test_changelist_query_count_does_not_grow_with_contacts(request, persona, support, marketing):
    client = request.getfixturevalue(persona)
    for number in range(3):
        factories.known_contact(support, email=f"first{number}@example.com")
    few = changelist_queries(client)
    for number in range(27):
        contact = factories.known_contact(support, email=f"more{number}@example.com")
        factories.IdentityFactory(contact=contact, kind=Identity.Kind.PHONE, value=f"+4915123456{number:03d}")
        factories.DepartmentContactFactory(department=marketing, contact=contact)
        factories.ConsentFactory(
            contact=contact, until=None, created_at=timezone.now() - dt.timedelta(days=1)
        )

    assert changelist_queries(client) == few


def test_changelist_with_thirty_contacts_stays_within_a_query_budget(
    alice_client, support, django_assert_max_num_queries
):
    for number in range(30):
        factories.known_contact(support, email=f"person{number}@example.com")

    with django_assert_max_num_queries(16):
        response = alice_client.get(CHANGELIST)

    assert len(response.context["cl"].result_list) == 30
