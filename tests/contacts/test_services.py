import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

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
from cxfeedback.exceptions import NotFound
from departments.actors import Actor, actor_for_user
from tests import factories

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def api_actor(department) -> Actor:
    return Actor(department_ids=frozenset({department.pk}), api_key_id=1)


# contact_upsert


def test_upsert_creates_a_contact_with_normalised_identities_known_by_the_department(support):
    contact, created = contact_upsert(
        actor=api_actor(support),
        department=support,
        identities=[("email", "", " Ann.Lee@Example.COM "), ("phone", "", "030 1234567")],
        name="Ann Lee",
        locale="de-AT",
        time_zone="Europe/Vienna",
        attributes={"tier": "gold"},
    )

    assert created
    contact.refresh_from_db()
    assert (contact.name, contact.locale, contact.time_zone) == ("Ann Lee", "de-AT", "Europe/Vienna")
    assert contact.attributes == {"tier": "gold"}
    assert set(contact.identities.values_list("kind", "normalised")) == {
        ("email", "ann.lee@example.com"),
        ("phone", "+49301234567"),
    }
    link = DepartmentContact.objects.get(contact=contact)
    assert (link.department, link.source) == (support, DepartmentContact.Source.API)


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
    assert set(again.identities.values_list("kind", "source", "normalised")) == {
        ("email", "", "ann@example.com"),
        ("external", "crm", "42"),
    }
    assert DepartmentContact.objects.filter(contact=again).count() == 1


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

    contact, _ = contact_upsert(
        actor=actor,
        department=support,
        identities=[("email", "", "ann@example.com")],
        name="Ann Lee",
        attributes={"tier": "gold", "city": "Graz"},
    )

    contact.refresh_from_db()
    assert contact.name == "Ann Lee"
    assert contact.locale == "en"  # not given: kept
    assert contact.attributes == {"tier": "gold", "plan": "basic", "city": "Graz"}


def test_a_second_department_upserting_a_known_person_links_it_without_a_new_contact(support, marketing):
    known = factories.known_contact(support, email="ann@example.com")

    contact, created = contact_upsert(
        actor=api_actor(marketing), department=marketing, identities=[("email", "", "Ann@Example.com")]
    )

    assert not created
    assert contact.pk == known.pk
    assert set(
        DepartmentContact.objects.filter(contact=known).values_list("department__slug", flat=True)
    ) == {
        "support",
        "marketing",
    }


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
                contact, _ = contact_upsert(
                    actor=actor, department=support, identities=[("email", "", email)]
                )
                results.append(contact.pk)
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


def test_consent_record_appends_a_global_opt_out(support):
    contact = factories.known_contact(support)

    consent = consent_record(
        actor=api_actor(support), contact=contact, kind="opt_out", source="api", note="asked on the phone"
    )

    assert (consent.kind, consent.department, consent.channel, consent.until) == ("opt_out", None, "", None)
    assert consent.recorded_by == "api-key:1"
    assert list(contact.consents.all()) == [consent]


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


def test_only_a_cx_lead_records_an_opt_in_for_every_department(support, alice, lead):
    contact = factories.known_contact(support)

    with pytest.raises(ConsentScopeForbidden) as raised:
        consent_record(actor=actor_for_user(alice), contact=contact, kind="opt_in", source="admin")
    assert raised.value.status_code == 403

    own = consent_record(
        actor=actor_for_user(alice), contact=contact, kind="opt_in", department=support, source="admin"
    )
    every = consent_record(actor=actor_for_user(lead), contact=contact, kind="opt_in", source="admin")
    assert (own.department, every.department) == (support, None)


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
