"""Duplicate suggestions (contacts/duplicates/): a search finds a typo'd duplicate with its score
and evidence and leaves a household member alone, a rejected pair stays rejected, an import's
search runs on a real worker, and only CX leads reach the searches and suggestions in the admin."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from contacts.duplicates.linkage import SUGGESTION_THRESHOLD
from contacts.duplicates.services import (
    RUN_LOCK_NAMESPACE,
    duplicate_search_cancel,
    duplicate_search_rerun,
    duplicate_search_run,
    duplicate_search_start,
    duplicate_suggestion_reject,
)
from contacts.errors import DuplicateSearchForbidden, DuplicateSearchRefused, SuggestionAlreadyReviewed
from contacts.importing import contact_import_run
from contacts.models import ContactMerge, DuplicateSearch, DuplicateSuggestion
from cxfeedback.background_jobs import run_lock
from departments.actors import Actor, actor_for_user
from tests.factories import known_contact
from tests.workers import wait_until

BAKER_STREET = {
    "date_of_birth": "1984-03-02",
    "street": "12 Baker Street",
    "city": "London",
    "zip": "NW1 6XE",
}

# Unrelated people, so the book has pairs that are not one person to learn from: 48 of them.
GIVEN = [
    "Maria",
    "Ahmed",
    "Sofia",
    "Liam",
    "Emma",
    "Noah",
    "Olivia",
    "Lucas",
    "Chloé",
    "Mateo",
    "Hannah",
    "James",
]
FAMILY = ["Garcia", "Khan", "Rossi", "O'Brien", "Schulz", "Müller", "Brown", "Martin", "Dubois", "López"]
STREETS = ["Elm Road", "High Street", "Mill Lane", "Church Road", "Hauptstraße", "Park Avenue"]
TOWNS = [("Leeds", "LS1"), ("Bristol", "BS1"), ("York", "YO1"), ("Cardiff", "CF10"), ("Bath", "BA1")]


def _others():
    for number in range(48):
        town, district = TOWNS[number % len(TOWNS)]
        yield (
            f"{GIVEN[number % len(GIVEN)]} {FAMILY[(number * 7) % len(FAMILY)]}",
            f"{1950 + number}-{1 + number % 12:02d}-{1 + (number * 3) % 28:02d}",
            f"{number + 1} {STREETS[number % len(STREETS)]}",
            town,
            f"{district} {number % 9}AB",
        )


@pytest.fixture
def book(support, marketing):
    """John Smith (support) and Jon Smith (marketing): one person written twice, other emails.
    Peter Smith: John's son at the same address, another person. And 48 unrelated people."""
    people = {
        "john": known_contact(
            support, email="john.smith@example.com", name="John Smith", attributes=BAKER_STREET
        ),
        "jon": known_contact(
            marketing, email="jon.smith@mail.example.org", name="Jon Smith", attributes=BAKER_STREET
        ),
        "peter": known_contact(
            support,
            email="peter.smith@example.com",
            name="Peter Smith",
            attributes={**BAKER_STREET, "date_of_birth": "2012-06-30"},
        ),
    }
    for number, (name, dob, street, city, postcode) in enumerate(_others()):
        email = f"{name.split()[0].lower()}{number}@example.net"
        known_contact(
            support if number % 2 else marketing,
            email=email,
            name=name,
            attributes={"dob": dob, "address": street, "city": city, "postcode": postcode},
        )
    return people


def _searched() -> DuplicateSearch:
    search = DuplicateSearch.objects.create()
    duplicate_search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == DuplicateSearch.Status.DONE, search.error
    return search


@pytest.mark.django_db
def test_a_whole_book_search_suggests_the_typo_and_not_the_household(book):
    search = _searched()

    suggestions = list(DuplicateSuggestion.objects.all())
    assert [(s.first_id, s.second_id) for s in suggestions] == [(book["john"].pk, book["jon"].pk)]
    suggestion = suggestions[0]
    assert suggestion.status == DuplicateSuggestion.Status.OPEN
    assert suggestion.score >= SUGGESTION_THRESHOLD
    assert suggestion.search_id == search.pk
    evidence = suggestion.evidence
    assert evidence["given_name"]["level"] == "Jaro-Winkler ≥ 0.92"
    assert evidence["surname"]["level"] == "exact" and evidence["surname"]["weight"] > 0
    assert evidence["date_of_birth"]["level"] == "exact" and evidence["date_of_birth"]["weight"] > 0
    assert evidence["email"]["level"] == "mailbox Jaro-Winkler ≥ 0.88"
    assert "phone" not in evidence  # neither has one: not compared
    assert (search.total, search.done, search.found) == (51, 51, 1)
    assert search.model["comparisons"], "the search keeps the model it trained"


@pytest.mark.django_db
def test_a_rejected_pair_is_never_suggested_again(book, lead):
    _searched()
    suggestion = DuplicateSuggestion.objects.get()
    duplicate_suggestion_reject(actor=actor_for_user(lead), suggestion_id=suggestion.pk, note="twins")

    again = _searched()

    assert again.found == 0
    suggestion.refresh_from_db()
    assert DuplicateSuggestion.objects.count() == 1
    assert (suggestion.status, suggestion.review_note, suggestion.reviewed_by_id) == (
        "rejected",
        "twins",
        lead.pk,
    )
    with pytest.raises(SuggestionAlreadyReviewed):
        duplicate_suggestion_reject(actor=actor_for_user(lead), suggestion_id=suggestion.pk)


@pytest.mark.django_db
def test_searches_are_for_cx_leads_only(book, alice, lead):
    with pytest.raises(DuplicateSearchForbidden):
        duplicate_search_start(actor=actor_for_user(alice))
    first = duplicate_search_start(actor=actor_for_user(lead))
    assert duplicate_search_start(actor=actor_for_user(lead)) == first  # a second click: the same search
    duplicate_search_cancel(actor=actor_for_user(lead), search_id=first.pk)
    with pytest.raises(DuplicateSearchRefused):
        duplicate_search_cancel(actor=actor_for_user(lead), search_id=first.pk)
    duplicate_search_run(search_id=first.pk)  # a cancelled search's task does nothing
    assert DuplicateSuggestion.objects.count() == 0


@pytest.mark.django_db
def test_a_search_whose_worker_died_runs_again_and_suggests_nothing_twice(book, lead):
    first = _searched()
    # As a worker killed mid-run leaves it: running, half done, its first suggestions written.
    DuplicateSearch.objects.filter(pk=first.pk).update(status="running", done=20, found=1)

    duplicate_search_run(search_id=first.pk)

    first.refresh_from_db()
    assert (first.status, first.done, first.found) == ("done", 51, 0)
    assert DuplicateSuggestion.objects.count() == 1
    DuplicateSearch.objects.filter(pk=first.pk).update(status="failed", error="OperationalError: gone")
    assert duplicate_search_rerun(actor=actor_for_user(lead), search_id=first.pk).status == "queued"


@pytest.mark.django_db
def test_a_second_delivery_leaves_a_search_another_worker_is_running(book):
    search = DuplicateSearch.objects.create()
    with run_lock(RUN_LOCK_NAMESPACE, search.pk) as held:  # another worker's run of it
        assert held
        duplicate_search_run(search_id=search.pk)

    search.refresh_from_db()
    assert search.status == "queued" and DuplicateSuggestion.objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_import_queues_a_search_of_its_contacts_that_a_worker_runs(book, support, celery_worker):
    csv = (
        "email,name,attr.date_of_birth,attr.street,attr.city,attr.zip\n"
        "jsmith84@example.org,John Smith,02.03.1984,Baker St 12,London,NW16XE\n"
    )

    result = contact_import_run(
        department=support, file=io.BytesIO(csv.encode()), actor=Actor(frozenset({support.pk}))
    )

    search = DuplicateSearch.objects.get(contact_import=result.contact_import)
    wait_until(
        lambda: DuplicateSearch.objects.filter(pk=search.pk, status__in=["done", "failed"]).exists(),
        timeout=90,
        message="the worker to run the import's search",
    )
    search.refresh_from_db()
    assert search.status == DuplicateSearch.Status.DONE, search.error
    imported = result.contact_import.department.contact_links.get(
        name="John Smith", contact__identities__normalised="jsmith84@example.org"
    ).contact
    pairs = set(DuplicateSuggestion.objects.values_list("first_id", "second_id"))
    assert (book["john"].pk, imported.pk) in pairs
    assert all(imported.pk in pair for pair in pairs), "an import's search compares only its contacts"
    assert search.total == 1 and search.done == 1


@pytest.mark.django_db
def test_the_admin_starts_a_search_and_shows_its_progress(book, lead_client):
    listed = lead_client.get(reverse("admin:contacts_duplicatesearch_changelist"))
    assert b"Search all contacts for duplicates" in listed.content

    started = lead_client.post(reverse("admin:contacts_duplicatesearch_start"))

    search = DuplicateSearch.objects.get()
    assert started.url == reverse("admin:contacts_duplicatesearch_change", args=[search.pk])
    waiting = lead_client.get(started.url)
    assert b"waiting for a worker" in waiting.content and b'http-equiv="refresh"' in waiting.content
    DuplicateSearch.objects.filter(pk=search.pk).update(status="running", total=15, done=6, found=1)
    running = lead_client.get(started.url)
    assert b'<progress value="40" max="100">' in running.content and b"6 of 15 compared" in running.content
    DuplicateSearch.objects.filter(pk=search.pk).update(status="queued", done=0)
    duplicate_search_run(search_id=search.pk)
    finished = lead_client.get(started.url)
    assert b'<progress value="100" max="100">' in finished.content
    assert b'http-equiv="refresh"' not in finished.content


@pytest.mark.django_db
def test_a_lead_reviews_a_suggestion_and_accepts_it_through_the_merge_page(book, lead, lead_client):
    _searched()
    suggestion = DuplicateSuggestion.objects.get()

    page = lead_client.get(reverse("admin:contacts_duplicatesuggestion_change", args=[suggestion.pk]))

    assert page.status_code == 200
    content = page.content.decode()
    assert "Evidence, field by field" in content and "Jaro-Winkler ≥ 0.92" in content
    assert "same address" in content and "12 baker street nw16xe london" in content
    assert "john.smith@example.com" in content and "jon.smith@mail.example.org" in content
    merge_url = page.context["merge_url"]
    assert f"survivor={book['john'].public_id}" in merge_url  # the contact known longest stays
    query = dict(part.split("=", 1) for part in merge_url.split("?", 1)[1].split("&"))
    merged = lead_client.post(
        reverse("admin:contacts_contactmerge_add"),
        {"survivor": book["john"].public_id, "absorbed": book["jon"].public_id, "reason": query["reason"]},
    )
    assert merged.status_code == 302
    suggestion.refresh_from_db()
    assert suggestion.status == DuplicateSuggestion.Status.ACCEPTED and suggestion.reviewed_by_id == lead.pk
    assert ContactMerge.objects.get().absorbed_id == book["jon"].pk


@pytest.mark.django_db
def test_a_lead_rejects_a_suggestion_with_a_note(book, lead, lead_client):
    _searched()
    suggestion = DuplicateSuggestion.objects.get()

    lead_client.post(
        reverse("admin:contacts_duplicatesuggestion_reject", args=[suggestion.pk]), {"note": "father and son"}
    )

    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.review_note, suggestion.reviewed_by_id) == (
        "rejected",
        "father and son",
        lead.pk,
    )
    queue = lead_client.get(reverse("admin:contacts_duplicatesuggestion_changelist"))
    assert queue.context["cl"].result_count == 0  # the queue lists open suggestions


@pytest.mark.django_db
def test_a_department_owner_reaches_no_search_and_no_suggestion(book, alice_client):
    _searched()
    suggestion = DuplicateSuggestion.objects.get()
    search = DuplicateSearch.objects.get()

    pages = [
        alice_client.get(reverse("admin:contacts_duplicatesearch_changelist")),
        alice_client.get(reverse("admin:contacts_duplicatesearch_change", args=[search.pk])),
        alice_client.post(reverse("admin:contacts_duplicatesearch_start")),
        alice_client.get(reverse("admin:contacts_duplicatesuggestion_changelist")),
        alice_client.get(reverse("admin:contacts_duplicatesuggestion_change", args=[suggestion.pk])),
        alice_client.post(reverse("admin:contacts_duplicatesuggestion_reject", args=[suggestion.pk])),
    ]

    # As for the audit log: 403 for the pages, 404 for a suggestion's own action (an id tells nothing).
    assert [page.status_code for page in pages] == [403] * 5 + [404]
    assert DuplicateSearch.objects.count() == 1
    assert DuplicateSuggestion.objects.get().status == DuplicateSuggestion.Status.OPEN
    index = alice_client.get(reverse("admin:index")).content
    assert b"Duplicate" not in index
