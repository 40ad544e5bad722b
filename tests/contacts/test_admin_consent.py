"""Consent in the admin, as a department owner and a CX lead see and record it: an owner records for
their own department only, sees their department's records whole and a record for every department
without its note, recorder or exact time, and never another department's records."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from contacts.models import Consent, Contact
from tests import factories

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 2, 10, 37, 12, tzinfo=dt.UTC)


@pytest.fixture
def shared(support, marketing):
    """Known to support and to marketing, with a record of each and one for every department."""
    contact = factories.known_contact(support, email="sam@example.com", name="Sam Shared")
    factories.DepartmentContactFactory(department=marketing, contact=contact)
    factories.ConsentFactory(
        contact=contact, department=support, note="support's own", recorded_by="user:1", created_at=AT
    )
    factories.ConsentFactory(
        contact=contact, department=marketing, note="marketing's own", recorded_by="user:2", created_at=AT
    )
    factories.ConsentFactory(
        contact=contact,
        department=None,
        source=Consent.Source.PREFERENCE_CENTRE,
        note="told marketing on the phone",
        recorded_by="user:3",
        created_at=AT + dt.timedelta(minutes=5),
    )
    return contact


def change_url(contact: Contact) -> str:
    return reverse("admin:contacts_contact_change", args=[contact.pk])


def consent_formset(response):
    (inline,) = [i for i in response.context["inline_admin_formsets"] if i.formset.model is Consent]
    return inline.formset


def rows(consents) -> list[tuple]:
    return [
        (c.department.slug if c.department else None, c.note, c.recorded_by, c.created_at) for c in consents
    ]


def form_data(response) -> dict:
    """The POST body the change page would send unchanged: main form and every inline formset."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
        forms.extend(inline.formset.initial_forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            data[form.add_prefix(name)] = "" if value is None else value
    return data


def with_new_consent(client: Client, contact: Contact, **fields) -> dict:
    data = form_data(client.get(change_url(contact)))
    index = int(data["consents-TOTAL_FORMS"])
    data["consents-TOTAL_FORMS"] = str(index + 1)
    fields = {"channel": "", "until": "", "note": "", **fields}
    data.update({f"consents-{index}-{name}": value for name, value in fields.items()})
    return data


WHOLE_SUPPORT = ("support", "support's own", "user:1", AT)
# The record for every department as a department sees it: what it says, to the hour.
EVERYONE_SHOWN = (None, "", "", dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC))


def test_the_contact_page_shows_an_owner_their_records_and_what_everyone_was_told(alice_client, shared):
    response = alice_client.get(change_url(shared))

    assert rows(form.instance for form in consent_formset(response).initial_forms) == [
        WHOLE_SUPPORT,
        EVERYONE_SHOWN,
    ]
    content = response.content.decode()
    assert "support&#x27;s own" in content
    assert "told marketing" not in content and "marketing&#x27;s own" not in content
    assert Consent.objects.get(department=None).note == "told marketing on the phone"  # shown, not changed


def test_the_contact_page_shows_a_lead_every_record_whole(lead_client, shared):
    response = lead_client.get(change_url(shared))

    shown = rows(form.instance for form in consent_formset(response).initial_forms)
    assert shown == rows(Consent.objects.order_by("created_at", "pk"))
    assert "told marketing on the phone" in response.content.decode()


def test_the_consent_history_shows_an_owner_the_same(alice_client, mallory_client, shared):
    changelist = reverse("admin:contacts_consent_changelist")
    everyone = Consent.objects.get(department=None)

    listed = alice_client.get(changelist).context["cl"].result_list
    page = alice_client.get(reverse("admin:contacts_consent_change", args=[everyone.pk]))
    marketing_listed = mallory_client.get(changelist).context["cl"].result_list

    assert sorted(rows(listed), key=str) == sorted([WHOLE_SUPPORT, EVERYONE_SHOWN], key=str)
    assert page.status_code == 200
    assert rows([page.context["original"]]) == [EVERYONE_SHOWN]
    assert "told marketing" not in page.content.decode() and "user:3" not in page.content.decode()
    assert sorted(rows(marketing_listed), key=str) == sorted(
        [("marketing", "marketing's own", "user:2", AT), EVERYONE_SHOWN], key=str
    )


def test_an_owner_records_for_their_department_preselected(alice_client, shared, support):
    field = consent_formset(alice_client.get(change_url(shared))).empty_form.fields["department"]

    assert field.required and field.initial == support.pk
    assert [label for _, label in field.choices] == ["Support"]  # no "All departments"

    response = alice_client.post(
        change_url(shared), with_new_consent(alice_client, shared, kind="opt_out", department=str(support.pk))
    )
    assert response.status_code == 302
    latest = Consent.objects.latest("pk")
    assert (latest.department, latest.source) == (support, Consent.Source.ADMIN)


@pytest.mark.parametrize("kind", ["opt_out", "opt_in"])
def test_an_owner_cannot_record_for_every_department(alice_client, shared, kind):
    before = Consent.objects.count()

    response = alice_client.post(
        change_url(shared), with_new_consent(alice_client, shared, kind=kind, department="")
    )

    assert response.status_code == 200
    assert "Only a CX lead records consent for every department" in str(consent_formset(response).errors)
    assert Consent.objects.count() == before


def test_a_lead_records_for_every_department(lead_client, lead, shared):
    field = consent_formset(lead_client.get(change_url(shared))).empty_form.fields["department"]
    assert not field.required and field.empty_label == "All departments"

    response = lead_client.post(
        change_url(shared), with_new_consent(lead_client, shared, kind="opt_out", department="")
    )

    assert response.status_code == 302
    latest = Consent.objects.latest("pk")
    assert (latest.department, latest.recorded_by) == (None, f"user:{lead.pk}")
