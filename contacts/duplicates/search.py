"""One run of a duplicate search, step by step (called by services.duplicate_search_run, which
claims the search first): read the book, train or load the model, compare in chunks, write.

Loads the linkage library (splink, DuckDB, pandas): imported only where a search runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from contacts.duplicates.linkage import Book, Match
from contacts.duplicates.records import import_contact_ids, records_count, records_read
from contacts.models import Contact, DuplicateSearch, DuplicateSuggestion

logger = logging.getLogger(__name__)

Status = DuplicateSearch.Status


# Persons compared per step: a step of the Febrl benchmark's size takes about a second on two
# cores, and the progress is saved after each.
COMPARE_CHUNK = 5000


def search_execute(search: DuplicateSearch) -> None:
    """Run a claimed search to its end (done), or stop after the step in which it was cancelled."""
    scope = None
    if search.contact_import_id is not None:
        scope = import_contact_ids(contact_import=search.contact_import)
    total = records_count(contact_ids=scope)
    DuplicateSearch.objects.filter(pk=search.pk).update(total=total)
    found = 0
    if total:
        found = _compare(search, scope)
        if found is None:
            return  # cancelled: the suggestions written so far stay
    DuplicateSearch.objects.filter(pk=search.pk, status=Status.RUNNING).update(
        status=Status.DONE, done=total, found=found, finished_at=timezone.now()
    )


def _compare(search: DuplicateSearch, scope: list[int] | None) -> int | None:
    """Read the book, make the model ready, compare `scope` (None: everyone) with the book in
    chunks. Returns how many suggestions were new, or None if the search was cancelled."""
    book = Book()
    try:
        for records in records_read():
            book.add(records)
        if scope is None:
            scope = book.contact_ids()
        model = _model_ready(book, search)
        DuplicateSearch.objects.filter(pk=search.pk).update(model=model)
        done = found = 0
        for chunk in _chunks(scope):
            matches = book.matches(chunk, rest_only_after=search.contact_import_id is None)
            found += suggestions_write(matches, search=search)
            done += len(chunk)
            if not _progress_save(search, done=done, found=found):
                return None
    finally:
        book.close()
    return found


def _model_ready(book: Book, search: DuplicateSearch) -> dict:
    """The model to score with: the last whole-book search's for an import's search, else one
    trained on this book now."""
    if search.contact_import_id is not None:
        last = (
            DuplicateSearch.objects.filter(contact_import__isnull=True, status=Status.DONE)
            .exclude(model={})
            .order_by("-finished_at", "-pk")
            .values_list("model", flat=True)
            .first()
        )
        if last:
            book.model_load(last)
            return last
    book.model_load(None)
    book.train()
    return book.model()


def _chunks(contact_ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(contact_ids), COMPARE_CHUNK):
        yield contact_ids[start : start + COMPARE_CHUNK]


def _progress_save(search: DuplicateSearch, *, done: int, found: int) -> bool:
    """Save the progress of a running search; False if it was cancelled meanwhile."""
    return bool(
        DuplicateSearch.objects.filter(pk=search.pk, status=Status.RUNNING).update(done=done, found=found)
    )


SUGGESTIONS = DuplicateSuggestion._meta.db_table
CONTACTS = Contact._meta.db_table


def suggestions_write(matches: list[Match], *, search: DuplicateSearch) -> int:
    """Store the matches as open suggestions of `search`; returns how many pairs were new. A pair
    suggested before (open, accepted or rejected) is left as it is, and so is a pair one of whose
    records was merged away or erased since the book was read."""
    if not matches:
        return 0
    sql = f"""
        INSERT INTO {SUGGESTIONS}
            (first_id, second_id, status, score, evidence, search_id, reason, review_note, created_at)
        SELECT m.first, m.second, %(open)s, m.score, m.evidence::jsonb, %(search)s, '', '', %(now)s
        FROM unnest(%(first)s::bigint[], %(second)s::bigint[], %(score)s::float8[], %(evidence)s::text[])
            AS m(first, second, score, evidence)
        WHERE EXISTS (SELECT FROM {CONTACTS} AS c WHERE c.id = m.first AND c.merged_into_id IS NULL)
          AND EXISTS (SELECT FROM {CONTACTS} AS c WHERE c.id = m.second AND c.merged_into_id IS NULL)
        ON CONFLICT (first_id, second_id) DO NOTHING
    """  # noqa: S608 -- table names from model metadata
    params = {
        "open": DuplicateSuggestion.Status.OPEN.value,
        "search": search.pk,
        "now": timezone.now(),
        "first": [match.first for match in matches],
        "second": [match.second for match in matches],
        "score": [match.probability for match in matches],
        "evidence": [json.dumps(match.evidence) for match in matches],
    }
    # An erasure between the check and the insert fails the foreign key: the second try skips it.
    for attempt in (1, 2):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.rowcount
        except IntegrityError:
            if attempt == 2:
                raise
    return 0
