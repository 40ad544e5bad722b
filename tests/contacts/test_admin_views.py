"""The contact admin as each department's private contact book (issue 12): marketing's owner (mallory)
looks at a person support knows too, and finds only marketing's view of them, however she asks:
the list, its filters and search, autocomplete, the contact page and its history. The CX lead sees
the whole person."""

import re

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from contacts.models import Contact, DepartmentContact, DepartmentIdentity, Identity
from tests import factories
from tests.contacts.test_admin import form_data

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_contact_changelist")
AUTOCOMPLETE = reverse("admin:autocomplete")

# Support's alone: none of it may reach marketing's owner.
SUPPORT_SECRETS = ("Sam Support", "sam@support.example", "support notes", "platinum", "Sam Ownname")


def change_url(contact: Contact) -> str:
    return reverse("admin:contacts_contact_change", args=[contact.pk])


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def supply(department, contact, value: str, **fields) -> Identity:
    identity = factories.IdentityFactory(contact=contact, value=value, normalised=value.lower(), **fields)
    factories.DepartmentIdentityFactory(department=department, identity=identity)
    return identity


@pytest.fixture
def sam(support, marketing) -> Contact:
    """One person, known to support and to marketing, each with a view and an email of its own.
    The person's own name is what a CX lead sees."""
    contact = factories.ContactFactory(name="Sam Ownname")
    factories.DepartmentContactFactory(
        department=support,
        contact=contact,
        name="Sam Support",
        attributes={"tier": "platinum"},
        notes="support notes",
    )
    factories.DepartmentContactFactory(
        department=marketing,
        contact=contact,
        name="Samuel M",
        attributes={"tier": "basic"},
        notes="newsletter",
    )
    supply(support, contact, "sam@support.example")
    supply(marketing, contact, "samuel@marketing.example")
    return contact


@pytest.fixture
def anna(support) -> Contact:
    return factories.known_contact(support, email="anna@support.example", name="Anna Support")


def leaked(response) -> list[str]:
    content = response.content.decode()
    return [secret for secret in SUPPORT_SECRETS if secret.lower() in content.lower()]


# --- The list ---------------------------------------------------------------------------------------


def test_the_list_shows_an_owner_their_own_view_only(mallory_client, sam, anna):
    response = mallory_client.get(CHANGELIST)

    assert list(response.context["cl"].result_list) == [sam]
    assert "Samuel M" in response.content.decode()
    assert "samuel@marketing.example" in response.content.decode()
    assert leaked(response) == []


def test_the_list_shows_a_lead_the_whole_person(lead_client, sam):
    content = lead_client.get(CHANGELIST).content.decode()

    assert "Sam Ownname" in content
    assert "sam@support.example" in content and "samuel@marketing.example" in content


def test_filtering_by_another_departments_id_is_refused_like_a_made_up_id(
    mallory_client, sam, support, marketing
):
    other = mallory_client.get(CHANGELIST, {"department_links__department__id__exact": support.pk})
    made_up = mallory_client.get(CHANGELIST, {"department_links__department__id__exact": 987654})
    own = mallory_client.get(CHANGELIST, {"department_links__department__id__exact": marketing.pk})

    assert other.status_code == made_up.status_code == 404
    assert leaked(other) == []
    assert list(own.context["cl"].result_list) == [sam]


@pytest.mark.parametrize(
    "lookup",
    [
        "department_links__department={support}",
        "department_links__department__in={marketing},{support}",
        "department_links__department__gt=0",
        "department_links__name=Sam Support",
        "department_links__name__icontains=sam",
        "department_links__attributes__tier=platinum",
        "identities__normalised=sam@support.example",
        "identities__suppliers__department={support}",
        "name__icontains=Ownname",
        "attributes__tier=platinum",
        "created_at__year=2020",
        "locale=en",
    ],
)
def test_lookups_that_cross_the_owners_scope_are_refused(mallory_client, sam, support, marketing, lookup):
    response = mallory_client.get(f"{CHANGELIST}?{lookup.format(support=support.pk, marketing=marketing.pk)}")

    assert response.status_code == 404
    assert leaked(response) == []


def test_a_lead_still_filters_by_any_department_and_locale(lead_client, sam, anna, support, marketing):
    by_marketing = lead_client.get(CHANGELIST, {"department_links__department__id__exact": marketing.pk})
    by_locale = lead_client.get(CHANGELIST, {"locale": "en"})

    assert list(by_marketing.context["cl"].result_list) == [sam]
    assert set(by_locale.context["cl"].result_list) == {sam, anna}


def test_the_owners_department_filter_offers_only_their_departments(mallory, sam):
    factories.DepartmentFactory(slug="billing", name="Billing").members.add(mallory)

    response = logged_in(mallory).get(CHANGELIST)

    filters = {spec.title: spec for spec in response.context["cl"].filter_specs}
    assert [name for _, name in filters["department"].lookup_choices] == ["Billing", "Marketing"]
    assert "locale" not in filters  # the person's own locale is the CX lead's


# --- Search -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "term", ["Sam Support", "sam@support.example", "SAM@Support.Example", "Ownname", "platinum"]
)
def test_an_owner_finds_nobody_by_what_another_department_knows(mallory_client, sam, term):
    response = mallory_client.get(CHANGELIST, {"q": term})

    assert list(response.context["cl"].result_list) == []


@pytest.mark.parametrize("term", ["Samuel", "samuel m", "samuel@marketing", "Samuel@Marketing.Example"])
def test_an_owner_finds_a_person_by_their_own_view_and_identities(mallory_client, sam, term):
    response = mallory_client.get(CHANGELIST, {"q": term})

    assert list(response.context["cl"].result_list) == [sam]


def test_an_owner_finds_an_identity_as_their_department_wrote_it(
    alice_client, mallory_client, sam, support, marketing
):
    identity = supply(support, sam, "sam.priv@gmail.example")
    DepartmentIdentity.objects.create(
        department=marketing, identity=identity, value="Sam.Priv+news@gmail.example"
    )

    assert list(mallory_client.get(CHANGELIST, {"q": "+news"}).context["cl"].result_list) == [sam]
    # Marketing's spelling is marketing's: support does not find the person by it.
    assert list(alice_client.get(CHANGELIST, {"q": "+news"}).context["cl"].result_list) == []


@pytest.mark.parametrize("term", ["Sam Support", "Ownname", "Samuel", "sam@support.example"])
def test_a_lead_finds_the_person_by_anything_known_of_them(lead_client, sam, term):
    assert list(lead_client.get(CHANGELIST, {"q": term}).context["cl"].result_list) == [sam]


@pytest.mark.parametrize("term", ["Sam Support", "sam@support.example", "Ownname"])
def test_consent_history_is_not_searched_by_what_another_department_knows(
    mallory_client, sam, marketing, term
):
    factories.ConsentFactory(contact=sam, department=marketing)
    consents = reverse("admin:contacts_consent_changelist")

    assert list(mallory_client.get(consents, {"q": term}).context["cl"].result_list) == []
    assert len(mallory_client.get(consents, {"q": "samuel"}).context["cl"].result_list) == 1


# --- Autocomplete -----------------------------------------------------------------------------------


def autocomplete(client, term: str) -> list[dict]:
    query = {"app_label": "surveys", "model_name": "decision", "field_name": "contact", "term": term}
    response = client.get(AUTOCOMPLETE, query)
    assert response.status_code == 200
    return response.json()["results"]


def test_autocomplete_offers_an_owner_their_views_by_their_name(mallory_client, sam, anna):
    assert autocomplete(mallory_client, "samuel") == [{"id": str(sam.pk), "text": "Samuel M"}]
    assert autocomplete(mallory_client, "Sam Support") == []
    assert autocomplete(mallory_client, "anna") == []
    assert [result["text"] for result in autocomplete(mallory_client, "")] == ["Samuel M"]


def test_autocomplete_names_the_person_to_a_lead(lead_client, sam):
    assert autocomplete(lead_client, "Sam Support") == [{"id": str(sam.pk), "text": "Sam Ownname"}]


# --- The contact page -------------------------------------------------------------------------------


def test_the_page_of_a_shared_contact_shows_an_owner_only_their_view(mallory_client, sam, marketing):
    response = mallory_client.get(change_url(sam))

    identities, views, _consents = response.context["inline_admin_formsets"]
    assert [view.department for view in views.formset.queryset] == [marketing]
    assert [identity.value for identity in identities.formset.queryset] == ["samuel@marketing.example"]
    assert "newsletter" in response.content.decode()
    assert leaked(response) == []
    assert "Support" not in response.content.decode()


def test_the_page_shows_a_lead_every_view_and_who_supplied_each_identity(
    lead_client, sam, support, marketing
):
    response = lead_client.get(change_url(sam))

    identities, views, _consents = response.context["inline_admin_formsets"]
    assert {view.department for view in views.formset.queryset} == {support, marketing}
    assert len(identities.formset.queryset) == 2
    content = response.content.decode()
    assert "Sam Ownname" in content and "support notes" in content
    assert re.search(r'class="field-supplied_by_departments">\s*<p>Support</p>', content)


def test_an_owner_sees_identities_as_their_department_wrote_them(mallory_client, sam, marketing):
    identity = Identity.objects.get(normalised="sam@support.example")
    DepartmentIdentity.objects.create(department=marketing, identity=identity, value="SAM@support.example")

    response = mallory_client.get(change_url(sam))

    shown = [identity.value for identity in response.context["inline_admin_formsets"][0].formset.queryset]
    assert shown == ["SAM@support.example", "samuel@marketing.example"]


def views_prefix(response) -> str:
    return response.context["inline_admin_formsets"][1].formset.prefix


def test_an_owner_edits_their_own_view_and_nothing_else(mallory_client, sam, support, marketing):
    page = mallory_client.get(change_url(sam))
    data = form_data(page)
    prefix = views_prefix(page)
    data.update(
        {
            f"{prefix}-0-name": "Sammy",
            f"{prefix}-0-notes": "prefers SMS",
            f"{prefix}-0-attributes": '{"a": 1}',
        }
    )
    before = DepartmentContact.objects.get(department=marketing, contact=sam).updated_at

    response = mallory_client.post(change_url(sam), data)

    assert response.status_code == 302, response.context["errors"]
    own = DepartmentContact.objects.get(department=marketing, contact=sam)
    assert (own.name, own.notes, own.attributes) == ("Sammy", "prefers SMS", {"a": 1})
    assert own.updated_at > before
    theirs = DepartmentContact.objects.get(department=support, contact=sam)
    assert (theirs.name, theirs.notes) == ("Sam Support", "support notes")
    sam.refresh_from_db()
    assert sam.name == "Sam Ownname"


def test_an_owner_cannot_post_into_another_departments_view(mallory_client, sam, support):
    page = mallory_client.get(change_url(sam))
    data = form_data(page)
    prefix = views_prefix(page)
    data[f"{prefix}-0-id"] = DepartmentContact.objects.get(department=support, contact=sam).pk
    data[f"{prefix}-0-name"] = "Hijacked"

    mallory_client.post(change_url(sam), data)

    assert DepartmentContact.objects.get(department=support, contact=sam).name == "Sam Support"


def test_a_view_with_a_bad_locale_is_a_form_error(mallory_client, sam):
    page = mallory_client.get(change_url(sam))
    data = form_data(page)
    data[f"{views_prefix(page)}-0-locale"] = "not a tag"

    response = mallory_client.post(change_url(sam), data)

    assert response.status_code == 200
    assert "not a language tag" in str(response.context["inline_admin_formsets"][1].formset.errors)


def add_identity(data: dict, value: str) -> dict:
    index = int(data["identities-TOTAL_FORMS"])
    data["identities-TOTAL_FORMS"] = str(index + 1)
    data.update(
        {
            f"identities-{index}-kind": "email",
            f"identities-{index}-source": "",
            f"identities-{index}-value": value,
        }
    )
    return data


def test_an_identity_the_person_has_from_another_department_is_simply_supplied(
    mallory_client, sam, marketing
):
    data = add_identity(form_data(mallory_client.get(change_url(sam))), "Sam@Support.Example")

    response = mallory_client.post(change_url(sam), data)

    assert response.status_code == 302, response.context["errors"]
    identity = Identity.objects.get(normalised="sam@support.example")
    assert identity.value == "sam@support.example"  # as support wrote it, untouched
    supply_ = DepartmentIdentity.objects.get(department=marketing, identity=identity)
    assert supply_.value == "Sam@Support.Example"
    assert sam.identities.count() == 2


def test_a_new_identity_an_owner_adds_is_supplied_by_their_department(mallory_client, sam, marketing):
    data = add_identity(form_data(mallory_client.get(change_url(sam))), "new@marketing.example")

    mallory_client.post(change_url(sam), data)

    identity = sam.identities.get(normalised="new@marketing.example")
    assert identity.department == marketing and not identity.suppliers.exists()  # its first supplier


def test_the_owners_own_identity_again_is_refused(mallory_client, sam):
    data = add_identity(form_data(mallory_client.get(change_url(sam))), "SAMUEL@marketing.example")

    response = mallory_client.post(change_url(sam), data)

    assert "already has this identity" in str(response.context["inline_admin_formsets"][0].formset.errors)


# --- Adding a person another department knows ---------------------------------------------------------


def test_adding_a_person_support_knows_answers_as_for_a_stranger(mallory_client, anna, marketing):
    add_url = reverse("admin:contacts_contact_add")

    known = mallory_client.post(
        add_url, {"department": marketing.pk, "email": "ANNA@support.example", "name": "A."}, follow=True
    )
    stranger = mallory_client.post(
        add_url, {"department": marketing.pk, "email": "nobody@x.example", "name": "N."}, follow=True
    )

    assert known.status_code == stranger.status_code == 200
    assert [str(m) for m in known.context["messages"]] == ["Added to Marketing's contacts."]
    assert [str(m) for m in stranger.context["messages"]] == ["Added to Marketing's contacts."]
    assert "Anna Support" not in known.content.decode()
    view = DepartmentContact.objects.get(department=marketing, contact=anna)
    assert (view.name, view.source) == ("A.", DepartmentContact.Source.ADMIN)
    assert known.redirect_chain[-1][0] == change_url(anna)
    anna.refresh_from_db()
    assert anna.name == "Anna Support"  # the person's own name, untouched


# --- History ----------------------------------------------------------------------------------------


def log_change(user, contact: Contact, message: str) -> None:
    LogEntry.objects.create(
        user=user,
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=str(contact.pk),
        object_repr=str(contact),
        action_flag=CHANGE,
        change_message=message,
    )


def test_the_history_of_a_shared_contact_shows_an_owner_only_their_departments_entries(
    alice, mallory, lead, sam, support, marketing
):
    colleague = factories.department_owner(marketing, username="colleague")
    both = factories.department_owner(support, username="both")
    marketing.members.add(both)
    log_change(alice, sam, "Changed the notes of Sam Support")
    log_change(lead, sam, "Changed the name to Sam Ownname")
    log_change(both, sam, "Changed the view of Sam Support")
    log_change(colleague, sam, "Changed the notes of Samuel M")
    log_change(mallory, sam, "Changed the name of Samuel M")
    url = reverse("admin:contacts_contact_history", args=[sam.pk])

    seen_by_mallory = logged_in(mallory).get(url)
    seen_by_lead = logged_in(lead).get(url)

    assert [entry.user for entry in seen_by_mallory.context["action_list"]] == [colleague, mallory]
    assert leaked(seen_by_mallory) == []
    assert "alice" not in seen_by_mallory.content.decode()
    assert len(seen_by_lead.context["action_list"]) == 5


def test_an_owners_change_is_in_their_history_and_not_in_the_other_departments(alice, mallory, sam):
    mallory_client = logged_in(mallory)
    page = mallory_client.get(change_url(sam))
    data = form_data(page)
    data[f"{views_prefix(page)}-0-notes"] = "called back"
    mallory_client.post(change_url(sam), data)
    url = reverse("admin:contacts_contact_history", args=[sam.pk])

    assert len(mallory_client.get(url).context["action_list"]) == 1
    assert len(logged_in(alice).get(url).context["action_list"]) == 0
