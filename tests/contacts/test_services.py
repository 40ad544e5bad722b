import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from contacts.consent_selectors import consent_status
from contacts.consent_services import consent_record
from contacts.errors import (
    ConsentScopeForbidden,
    IdentityConflict,
    InvalidConsent,
    InvalidContact,
    InvalidIdentity,
)
from contacts.models import Consent, Contact, DepartmentContact, Identity
from contacts.services import contact_upsert
from contacts.supplies import supplied_by
from cxfeedback.exceptions import NotFound
from departments.actors import Actor, actor_for_user
from tests import factories

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def api_actor(department) -> Actor:
    return Actor(department_ids=frozenset({department.pk}), api_key_id=1)


def consent_reason(contact, department, *, at: dt.datetime) -> str:
    """Why the department may not email the contact at `at`: "" when it may."""
    return consent_status(contact_id=contact.pk, department_id=department.pk, channel="email", at=at).reason


# contact_upsert


def supplied(view: DepartmentContact) -> set[tuple[str, str]]:
    """The identities the view's department supplied for its person, as (kind, normalised)."""
    return set(
        Identity.objects.filter(supplied_by([view.department_id]), contact=view.contact_id).values_list(
            "kind", "normalised"
        )
    )


def test_upsert_creates_a_person_and_the_departments_view_with_its_identities(support):
    view, created = contact_upsert(
        actor=api_actor(support),
        department=support,
        identities=[("email", "", " Ann.Lee@Example.COM "), ("phone", "", "030 1234567")],
        name="Ann Lee",
        locale="de-AT",
        time_zone="Europe/Vienna",
        attributes={"tier": "gold"},
        notes="Prefers calls after 5.",
    )

    assert created
    view.refresh_from_db()
    assert (view.name, view.locale, view.time_zone) == ("Ann Lee", "de-AT", "Europe/Vienna")
    assert (view.attributes, view.notes) == ({"tier": "gold"}, "Prefers calls after 5.")
    assert (view.department, view.source) == (support, DepartmentContact.Source.API)
    assert supplied(view) == {("email", "ann.lee@example.com"), ("phone", "+49301234567")}
    # The person's own fields are the customer's and the CX lead's, not a department's.
    person = Contact.objects.get()
    assert (person.name, person.attributes) == ("", {})


def test_upsert_matches_by_any_normalised_identity_and_adds_the_missing_ones(support):
    actor = api_actor(support)
    first, _ = contact_upsert(actor=actor, department=support, identities=[("email", "", "ann@example.com")])

    again, created = contact_upsert(
        actor=actor,
        department=support,
        identities=[("email", "", "ANN@example.com"), ("external", "crm", " 42 ")],
    )

    assert not created
    assert again.pk == first.pk
    assert Contact.objects.count() == 1
    assert supplied(again) == {("email", "ann@example.com"), ("external", "42")}
    assert DepartmentContact.objects.filter(contact=again.contact).count() == 1


def test_upsert_overwrites_given_fields_and_merges_attributes(support):
    actor = api_actor(support)
    contact_upsert(
        actor=actor,
        department=support,
        identities=[("email", "", "ann@example.com")],
        name="Ann",
        locale="en",
        attributes={"tier": "silver", "plan": "basic"},
    )

    view, _ = contact_upsert(
        actor=actor,
        department=support,
        identities=[("email", "", "ann@example.com")],
        name="Ann Lee",
        attributes={"tier": "gold", "city": "Graz"},
    )

    view.refresh_from_db()
    assert view.name == "Ann Lee"
    assert view.locale == "en"  # not given: kept
    assert view.attributes == {"tier": "gold", "plan": "basic", "city": "Graz"}


def test_a_second_department_gets_its_own_view_of_a_known_person_and_learns_nothing(support, marketing):
    known = factories.known_contact(
        support, email="ann@example.com", name="Ann Secret", attributes={"tier": "gold"}
    )
    factories.IdentityFactory(contact=known, kind="phone", value="+49301234567", normalised="+49301234567")

    view, created = contact_upsert(
        actor=api_actor(marketing),
        department=marketing,
        identities=[("email", "", "Ann@Example.com")],
        name="A. Lee",
    )

    # New to marketing, as for a person nobody knows; one person for the gatekeeper.
    assert created
    assert view.contact_id == known.pk
    assert (view.name, view.attributes) == ("A. Lee", {})
    assert supplied(view) == {("email", "ann@example.com")}  # not support's phone
    theirs = DepartmentContact.objects.get(department=support, contact=known)
    assert (theirs.name, theirs.attributes) == ("Ann Secret", {"tier": "gold"})


def test_identities_of_two_contacts_are_a_conflict_that_reveals_nothing_about_them(support, marketing):
    factories.known_contact(support, email="ann@example.com", name="Ann Secret")
    other = factories.ContactFactory(name="Bob Hidden")
    factories.IdentityFactory(contact=other, kind="phone", value="+49301234567", normalised="+49301234567")
    factories.DepartmentContactFactory(department=support, contact=other)

    with pytest.raises(IdentityConflict) as raised:
        contact_upsert(
            actor=api_actor(marketing),
            department=marketing,
            identities=[("email", "", "ann@example.com"), ("phone", "", "+49 30 1234567")],
        )

    error = raised.value
    assert error.status_code == 409
    assert error.extra["identities"] == [
        {"kind": "email", "source": "", "value": "ann@example.com"},
        {"kind": "phone", "source": "", "value": "+49 30 1234567"},
    ]
    assert "different contacts" in error.message
    assert set(error.extra) == {"identities"}  # no contact ids, names or other identities
    assert "Secret" not in error.message and "Hidden" not in error.message
    # Nothing was written: marketing does not know either contact now.
    assert not DepartmentContact.objects.filter(department=marketing).exists()


def test_an_invalid_identity_names_its_kind(support):
    with pytest.raises(InvalidIdentity) as raised:
        contact_upsert(
            actor=api_actor(support), department=support, identities=[("email", "", "ann.example.com")]
        )

    assert raised.value.status_code == 400
    assert raised.value.message.startswith("email: ")
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("identities", "message"),
    [
        ([], "identities: give at least one"),
        ([("external", "", "42")], "external: an external id needs the source"),
        ([("email", "crm", "ann@example.com")], "email: only external ids have a source"),
        ([("fax", "", "123")], "fax: "),
    ],
)
def test_identities_must_be_well_formed(support, identities, message):
    with pytest.raises(InvalidIdentity) as raised:
        contact_upsert(actor=api_actor(support), department=support, identities=identities)

    assert raised.value.message.startswith(message)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone: 'Mars/Olympus' is not an IANA time zone"),
        ({"locale": "english please"}, "locale: 'english please' is not a language tag"),
        ({"name": "x" * 201}, "name: At most 200"),
    ],
)
def test_contact_fields_are_validated_and_named(support, fields, message):
    with pytest.raises(InvalidContact) as raised:
        contact_upsert(
            actor=api_actor(support),
            department=support,
            identities=[("email", "", "a@example.com")],
            **fields,
        )

    assert raised.value.message.startswith(message)
    assert not Contact.objects.exists()


def test_upsert_for_a_department_the_actor_is_not_in_is_not_found(support, marketing, alice):
    with pytest.raises(NotFound):
        contact_upsert(
            actor=actor_for_user(alice), department=marketing, identities=[("email", "", "a@example.com")]
        )


def test_a_cx_lead_may_upsert_for_any_department(marketing, lead):
    _, created = contact_upsert(
        actor=actor_for_user(lead), department=marketing, identities=[("email", "", "a@example.com")]
    )

    assert created


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_the_same_new_email_make_one_contact_and_all_succeed(support):
    """Without the identity locks, every round but the lucky ones ends in an error for some thread
    (the unique constraint on Identity rejects the loser) or, without the constraint, two contacts."""
    threads_per_round, rounds = 6, 5
    actor = api_actor(support)
    for round_number in range(rounds):
        email = f"race{round_number}@example.com"
        barrier = threading.Barrier(threads_per_round)
        results: list = []

        def upsert(email=email, barrier=barrier, results=results):
            try:
                barrier.wait()
                view, _ = contact_upsert(actor=actor, department=support, identities=[("email", "", email)])
                results.append(view.contact_id)
            except Exception as error:  # collected and asserted on below
                results.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=upsert) for _ in range(threads_per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert [r for r in results if isinstance(r, Exception)] == []
        assert len(set(results)) == 1
        assert Identity.objects.filter(normalised=email).count() == 1
    assert Contact.objects.count() == rounds


# consent_record


def test_an_api_keys_opt_out_without_a_department_is_for_its_own(support):
    contact = factories.known_contact(support)

    consent = consent_record(
        actor=api_actor(support), contact=contact, kind="opt_out", source="api", note="asked on the phone"
    )

    assert (consent.kind, consent.department, consent.channel, consent.until) == (
        "opt_out",
        support,
        "",
        None,
    )
    assert consent.recorded_by == "api-key:1"
    assert list(contact.consents.all()) == [consent]


def test_an_owners_consent_is_for_their_department(support, marketing, alice):
    contact = factories.known_contact(support)
    factories.DepartmentContactFactory(department=marketing, contact=contact)

    consent = consent_record(
        actor=actor_for_user(alice), contact=contact, kind="opt_out", source="admin", now=NOW
    )

    assert consent.department == support
    assert consent_reason(contact, support, at=NOW) == "opted_out"
    # Marketing, who also knows the person, may still ask them: support spoke for itself only.
    assert consent_reason(contact, marketing, at=NOW) == ""


def test_an_owner_of_several_departments_names_one(support, marketing, alice):
    marketing.members.add(alice)
    contact = factories.known_contact(support)

    with pytest.raises(InvalidConsent) as raised:
        consent_record(actor=actor_for_user(alice), contact=contact, kind="opt_out", source="admin")

    assert raised.value.status_code == 400
    assert raised.value.message.startswith("department: Name one of your departments")
    assert list(raised.value.extra["fields"]) == ["department"]
    assert not Consent.objects.exists()
    named = consent_record(
        actor=actor_for_user(alice), contact=contact, kind="opt_out", department=marketing, source="admin"
    )
    assert named.department == marketing


CUSTOMER_SOURCES = ["unsubscribe_link", "preference_centre", "bounce", "complaint", "sms_stop"]


@pytest.mark.parametrize("source", CUSTOMER_SOURCES)
@pytest.mark.parametrize("persona", ["api_key", "owner"])
def test_a_department_cannot_record_the_customers_or_a_providers_word(support, alice, persona, source):
    contact = factories.known_contact(support)
    actor = api_actor(support) if persona == "api_key" else actor_for_user(alice)

    for department in (None, support):
        with pytest.raises(ConsentScopeForbidden) as raised:
            consent_record(actor=actor, contact=contact, kind="opt_out", department=department, source=source)

        assert raised.value.status_code == 403
        assert raised.value.message.startswith(f"source: {source!r} speaks for every department")
        assert "only the customer's own links, the providers' webhooks and CX leads" in raised.value.message
    assert not Consent.objects.exists()


@pytest.mark.parametrize("source", [*CUSTOMER_SOURCES, "admin"])
def test_a_cx_lead_records_for_every_department_from_any_source(support, marketing, lead, source):
    contact = factories.known_contact(support)

    consent = consent_record(
        actor=actor_for_user(lead), contact=contact, kind="opt_out", source=source, now=NOW
    )

    assert (consent.department, consent.source) == (None, source)
    assert (
        consent_reason(contact, support, at=NOW) == consent_reason(contact, marketing, at=NOW) == "opted_out"
    )


def test_a_snooze_needs_an_end_in_the_future(support):
    contact = factories.known_contact(support)
    actor = api_actor(support)

    consent = consent_record(
        actor=actor, contact=contact, kind="snooze", until=NOW + dt.timedelta(days=30), source="api", now=NOW
    )
    assert consent.until == NOW + dt.timedelta(days=30)

    with pytest.raises(InvalidConsent, match="until: A snooze needs the time it ends"):
        consent_record(actor=actor, contact=contact, kind="snooze", source="api", now=NOW)
    with pytest.raises(InvalidConsent, match="until: A snooze must end in the future"):
        consent_record(
            actor=actor,
            contact=contact,
            kind="snooze",
            until=NOW - dt.timedelta(days=1),
            source="api",
            now=NOW,
        )
    assert contact.consents.count() == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "opt_out", "until": NOW + dt.timedelta(days=1)}, "until: Only a snooze has an end"),
        ({"kind": "maybe"}, "kind: 'maybe' is not one of"),
        ({"kind": "opt_out", "channel": "fax"}, "channel: 'fax' is not one of"),
        ({"kind": "opt_out", "source": "rumour"}, "source: 'rumour' is not one of"),
    ],
)
def test_consent_input_is_validated_and_named(support, fields, message):
    contact = factories.known_contact(support)

    with pytest.raises(InvalidConsent) as raised:
        consent_record(actor=api_actor(support), contact=contact, **{"source": "api", **fields}, now=NOW)

    assert raised.value.message.startswith(message)
    assert not contact.consents.exists()


def test_only_a_cx_lead_records_an_opt_in_for_every_department(support, marketing, alice, lead):
    contact = factories.known_contact(support)
    factories.ConsentFactory(contact=contact, department=marketing, kind="opt_out", created_at=NOW)
    later = NOW + dt.timedelta(minutes=1)

    # alice names no department: the opt-in is support's, and marketing's opt-out stands.
    own = consent_record(
        actor=actor_for_user(alice), contact=contact, kind="opt_in", source="admin", now=later
    )
    assert own.department == support
    assert consent_reason(contact, marketing, at=later) == "opted_out"

    every = consent_record(
        actor=actor_for_user(lead), contact=contact, kind="opt_in", source="admin", now=later
    )
    assert every.department is None
    assert consent_reason(contact, marketing, at=later) == ""


def test_consent_for_another_department_is_not_found(support, marketing):
    contact = factories.known_contact(support)

    with pytest.raises(NotFound):
        consent_record(
            actor=api_actor(support), contact=contact, kind="opt_out", department=marketing, source="api"
        )
    assert not Consent.objects.exists()


def test_consent_is_recorded_at_the_time_given(support):
    contact = factories.known_contact(support)

    consent = consent_record(actor=api_actor(support), contact=contact, kind="opt_out", source="api", now=NOW)

    assert consent.created_at == NOW
    assert consent.created_at < timezone.now()
