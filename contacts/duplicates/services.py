"""Duplicate searches and the review of their suggestions.

A search runs in the background (contacts/tasks.py): a CX lead starts one over the whole contact
book, and every completed import queues one over the persons it wrote, compared against the whole
book with the last whole-book model (trained on the whole book if there is none yet). A run reads
the book into DuckDB (records.py), trains or loads the model (linkage.py), then compares the
persons in chunks, saving its progress and the chunk's suggestions after each one.

Safe to run twice: a suggestion is written with ON CONFLICT DO NOTHING on its pair, so a run that
crashed and runs again (or a broker that delivers the task twice) adds nothing twice, and a pair
suggested once, whatever became of it, is never suggested again: a rejected pair stays rejected.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.utils import timezone

from contacts.errors import DuplicateSearchForbidden, DuplicateSearchRefused, SuggestionAlreadyReviewed
from contacts.models import ContactImport, DuplicateSearch, DuplicateSuggestion
from cxfeedback.background_jobs import run_lock
from cxfeedback.exceptions import NotFound
from cxfeedback.publish import publish_on_commit
from departments.actors import Actor

logger = logging.getLogger(__name__)

Status = DuplicateSearch.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)


# The first key of the two-key advisory lock a run holds on its search (the second is its id).
RUN_LOCK_NAMESPACE = 0x6364  # "cd": contact duplicates


def _lead_only(actor: Actor) -> None:
    if not actor.is_cx_lead:
        raise DuplicateSearchForbidden("Only a CX lead may search for duplicate contacts.")


def _publish(search: DuplicateSearch) -> None:
    from contacts.tasks import run_duplicate_search_task

    publish_on_commit(run_duplicate_search_task, search.pk)


def duplicate_search_start(*, actor: Actor) -> DuplicateSearch:
    """Queue a search of the whole contact book, or return the one queued or running already.
    Queues the task after commit. Raises DuplicateSearchForbidden unless a CX lead."""
    _lead_only(actor)
    with transaction.atomic():
        # Serialises two starts (a double click): the second sees the first one's search.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [RUN_LOCK_NAMESPACE])
        active = DuplicateSearch.objects.filter(contact_import__isnull=True, status__in=ACTIVE).first()
        if active is not None:
            return active
        search = DuplicateSearch.objects.create(requested_by_id=actor.user_id)
        _publish(search)
    return search


def duplicate_search_queue_for_import(*, contact_import: ContactImport) -> DuplicateSearch | None:
    """Queue a search over the persons a completed import wrote (None if it wrote none). Called
    by the import itself, whoever ran it: the search and its suggestions are for CX leads only."""
    counts = contact_import.counts or {}
    if not any(counts.get(name) for name in ("created", "updated", "identities_added")):
        return None
    with transaction.atomic():
        search = DuplicateSearch.objects.create(contact_import=contact_import)
        _publish(search)
    return search


def duplicate_search_cancel(*, actor: Actor, search_id: int) -> DuplicateSearch:
    """Stop a queued or running search after its current step; suggestions found so far stay.
    Raises DuplicateSearchForbidden, NotFound, DuplicateSearchRefused (it has ended)."""
    _lead_only(actor)
    changed = DuplicateSearch.objects.filter(pk=search_id, status__in=ACTIVE).update(
        status=Status.CANCELLED, finished_at=timezone.now()
    )
    search = _search_get(search_id)
    if not changed:
        raise DuplicateSearchRefused(
            f"This search has ended already ({search.get_status_display().lower()})."
        )
    return search


def duplicate_search_rerun(*, actor: Actor, search_id: int) -> DuplicateSearch:
    """Queue a failed or cancelled search again (the suggestions it made stay, and are not made
    twice). Queues the task after commit. Raises DuplicateSearchForbidden, NotFound,
    DuplicateSearchRefused (it is queued, running or done)."""
    _lead_only(actor)
    with transaction.atomic():
        changed = DuplicateSearch.objects.filter(
            pk=search_id, status__in=(Status.FAILED, Status.CANCELLED)
        ).update(status=Status.QUEUED, error="", done=0, finished_at=None)
        search = _search_get(search_id)
        if not changed:
            status = search.get_status_display().lower()
            raise DuplicateSearchRefused(
                f"Only a failed or cancelled search runs again; this one is {status}."
            )
        _publish(search)
    return search


def _search_get(search_id: int) -> DuplicateSearch:
    search = DuplicateSearch.objects.filter(pk=search_id).first()
    if search is None:
        raise NotFound(f"Duplicate search {search_id} not found.")
    return search


def duplicate_suggestion_reject(*, actor: Actor, suggestion_id: int, note: str = "") -> DuplicateSuggestion:
    """Mark an open suggestion rejected, with who, when and why: the pair is never suggested again.
    Raises DuplicateSearchForbidden, NotFound, SuggestionAlreadyReviewed."""
    _lead_only(actor)
    changed = DuplicateSuggestion.objects.filter(
        pk=suggestion_id, status=DuplicateSuggestion.Status.OPEN
    ).update(
        status=DuplicateSuggestion.Status.REJECTED,
        reviewed_by_id=actor.user_id,
        reviewed_at=timezone.now(),
        review_note=note.strip()[:2000],
    )
    suggestion = DuplicateSuggestion.objects.filter(pk=suggestion_id).first()
    if suggestion is None:
        raise NotFound(f"Suggestion {suggestion_id} not found.")
    if not changed:
        raise SuggestionAlreadyReviewed(
            f"This suggestion was reviewed already ({suggestion.get_status_display().lower()})."
        )
    return suggestion


def duplicate_search_run(*, search_id: int) -> None:
    """Run a queued search (or one whose worker died) to its end: read, train or load the model,
    compare in chunks, write suggestions and progress. Marks it failed on an error and re-raises.
    Returns at once if another worker is running it or it has ended."""
    # The run lock: a second delivery while this run lives leaves at once (cxfeedback/background_jobs.py).
    with run_lock(RUN_LOCK_NAMESPACE, search_id) as mine:
        if not mine:
            return  # a second delivery of the task while the first still runs
        claimed = DuplicateSearch.objects.filter(pk=search_id, status__in=ACTIVE).update(
            status=Status.RUNNING, started_at=timezone.now(), done=0, error=""
        )
        if not claimed:
            return
        search = DuplicateSearch.objects.get(pk=search_id)
        try:
            # Here, not at the top: the linkage library loads in the worker that runs a search only.
            from contacts.duplicates.search import search_execute

            search_execute(search)
        except Exception as error:
            logger.exception("Duplicate search %s failed", search_id)
            DuplicateSearch.objects.filter(pk=search_id, status=Status.RUNNING).update(
                status=Status.FAILED,
                error=f"{type(error).__name__}: {error}"[:2000],
                finished_at=timezone.now(),
            )
            raise
