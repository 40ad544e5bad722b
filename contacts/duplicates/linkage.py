"""Probabilistic record linkage of contact records with splink (Fellegi–Sunter) on DuckDB.

Why splink on DuckDB: splink is the maintained Fellegi–Sunter library (unsupervised training: u by
random sampling, m by expectation maximisation, term-frequency adjustments so agreeing on a rare
surname counts more than on "smith"), and its DuckDB backend runs in the worker's own process,
columnar and multi-threaded, with no server to run. The records come from PostgreSQL in chunks
(contacts/duplicates/records.py) into an in-memory DuckDB table that lives as long as one search.

Each comparison has levels from "exact" down to "different", each with its learned match weight;
a pair's score is the match probability, and its evidence is the level and weight of each field
both records have (a CX lead reads "surname: Jaro-Winkler ≥ 0.92, +6.2"). Nothing is scored by
hand: the weights are what the model learned from the book itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas
from splink import DuckDBAPI, Linker, SettingsCreator

from contacts.duplicates.comparisons import comparisons
from contacts.duplicates.fields import FIELDS

logger = logging.getLogger(__name__)


# A pair at or above this match probability is suggested to a CX lead. On the Febrl data sets
# (bench/bench_duplicates.py) precision is 1.000 from 0.5 to 0.99 and recall 0.993, 0.9925 and
# 0.990 at 0.5, 0.9 and 0.99: the last few pairs are not worth a queue of doubtful ones.
SUGGESTION_THRESHOLD = 0.9


# A book smaller than this has too few pairs to learn m probabilities from (EM would fit noise):
# the model keeps the starting m values (comparisons.py), and takes one person in fifty to be
# written twice for the probability that two records match.
MIN_RECORDS_TO_TRAIN = 1000
SMALL_BOOK_DUPLICATE_SHARE = 0.02


# Random pairs for the u probabilities, as splink's Febrl examples take: a few seconds on two
# cores, and enough to see the rarer levels (agreeing on an uncommon name) thousands of times.
U_SAMPLE_PAIRS = 1e6


# Candidate pairs: two records are compared only if they agree on one of these. Pairs of columns,
# not one column alone, so a block stays small in a book of millions (everyone born on one day,
# or living in one postcode, is a block too large to score pairwise). Swapped names count too.
BLOCKING_RULES = (
    "l.given_name = r.given_name AND l.surname = r.surname",
    "l.given_name = r.surname AND l.surname = r.given_name",
    "l.surname = r.surname AND l.date_of_birth = r.date_of_birth",
    "l.given_name = r.given_name AND l.date_of_birth = r.date_of_birth",
    "l.date_of_birth = r.date_of_birth AND l.postcode = r.postcode",
    "l.postcode = r.postcode AND l.street_number = r.street_number",
    "l.street = r.street AND l.city = r.city",
    "l.surname = r.surname AND l.postcode = r.postcode",
    "l.given_name = r.given_name AND l.postcode = r.postcode",
    # Never the email or phone itself: two contacts sharing one are one contact already.
    "l.email_mailbox = r.email_mailbox",
)


# Rules that nearly only true pairs meet: the share of pairs meeting them estimates how likely
# two random records are one person (with RECALL of all true pairs assumed to meet one).
DETERMINISTIC_RULES = (
    "l.given_name = r.given_name AND l.surname = r.surname AND l.date_of_birth = r.date_of_birth",
    "l.given_name = r.surname AND l.surname = r.given_name AND l.date_of_birth = r.date_of_birth",
    "l.surname = r.surname AND l.date_of_birth = r.date_of_birth AND l.postcode = r.postcode",
)
DETERMINISTIC_RECALL = 0.7


# EM sessions: each estimates the m probabilities of every field but the ones it blocks on.
TRAINING_RULES = ("l.date_of_birth = r.date_of_birth", "l.postcode = r.postcode")


def settings(*, records: int) -> SettingsCreator:
    """The model before training, for a book of `records` records."""
    pairs = max(records * (records - 1) / 2, 1)
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="contact_id",
        probability_two_random_records_match=min(SMALL_BOOK_DUPLICATE_SHARE * records / pairs, 0.5),
        blocking_rules_to_generate_predictions=list(BLOCKING_RULES),
        comparisons=comparisons(),
        # The per-field Bayes factors: the evidence shown with each suggestion.
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,  # with the gamma (level) columns
    )


@dataclass(frozen=True)
class Match:
    """Two contacts the model takes for one person: ids in order, probability, evidence by field."""

    first: int
    second: int
    probability: float
    evidence: dict[str, dict[str, Any]]


class Book:
    """One search's comparable records in an in-memory DuckDB database, and the model over them."""

    TABLE = "book"

    def __init__(self) -> None:
        self.connection = duckdb.connect(":memory:")
        columns = ", ".join(
            f"{field} {'DATE' if field == 'date_of_birth' else 'VARCHAR'}" for field in FIELDS
        )
        self.connection.execute(f"CREATE TABLE {self.TABLE} (contact_id BIGINT PRIMARY KEY, {columns})")
        self.size = 0
        self.linker: Linker | None = None
        self._labels: dict[tuple[str, int], str] = {}
        self._compared: list[str] = []

    def add(self, records: list[dict]) -> None:
        frame = pandas.DataFrame.from_records(records, columns=["contact_id", *FIELDS])
        self.connection.register("incoming", frame)
        try:
            self.connection.execute(f"INSERT INTO {self.TABLE} SELECT * FROM incoming")  # noqa: S608
        finally:
            self.connection.unregister("incoming")
        self.size += len(records)

    def contact_ids(self) -> list[int]:
        rows = self.connection.execute(f"SELECT contact_id FROM {self.TABLE} ORDER BY 1")  # noqa: S608
        return [row[0] for row in rows.fetchall()]

    def model_load(self, model: dict | None) -> None:
        """Score with a saved model (a search's `model`), or with an untrained one to train."""
        model = model or settings(records=self.size)
        self.linker = Linker(self.TABLE, model, db_api=DuckDBAPI(connection=self.connection))
        saved = self.model()
        self._compared = [comparison["output_column_name"] for comparison in saved["comparisons"]]
        self._labels = {
            (comparison["output_column_name"], value): level.get("label_for_charts", "")
            for comparison in saved["comparisons"]
            for value, level in _vector_values(comparison["comparison_levels"])
        }

    def model(self) -> dict:
        return self.linker.misc.save_model_to_json()

    def train(self) -> None:
        """Learn the model from the book: u from random pairs, m by EM (on a large enough book)."""
        training = self.linker.training
        if self.size >= MIN_RECORDS_TO_TRAIN:
            training.estimate_probability_two_random_records_match(
                list(DETERMINISTIC_RULES), recall=DETERMINISTIC_RECALL
            )
        training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=1)
        if self.size >= MIN_RECORDS_TO_TRAIN:
            for rule in TRAINING_RULES:
                training.estimate_parameters_using_expectation_maximisation(
                    rule, estimate_without_term_frequencies=True
                )

    def matches(self, contact_ids: Iterable[int], *, rest_only_after: bool) -> list[Match]:
        """The pairs of these contacts with any contact of the book scoring at least the threshold.
        With `rest_only_after`, only pairs with a later contact (a whole-book search goes through
        the book in id order, so each pair is scored once)."""
        self.connection.register("wanted", pandas.DataFrame({"contact_id": list(contact_ids)}))
        try:
            chunk = f"SELECT b.* FROM {self.TABLE} AS b JOIN wanted USING (contact_id)"  # noqa: S608
            self.connection.execute(f"CREATE OR REPLACE TABLE chunk AS {chunk}")
        finally:
            self.connection.unregister("wanted")
        # l: the book, r: the chunk.
        other = "l.contact_id > r.contact_id" if rest_only_after else "l.contact_id <> r.contact_id"
        threshold = math.log2(SUGGESTION_THRESHOLD / (1 - SUGGESTION_THRESHOLD))
        found = self.linker.inference.find_matches_to_new_records(
            "chunk",
            blocking_rules=[f"({rule}) AND {other}" for rule in BLOCKING_RULES],
            match_weight_threshold=threshold,
        )
        try:
            rows = found.as_record_dict()
        finally:
            found.drop_table_from_database_and_remove_from_cache()
        return list({(m.first, m.second): m for m in map(self._match, rows)}.values())

    def _match(self, row: dict) -> Match:
        first, second = sorted((int(row["contact_id_l"]), int(row["contact_id_r"])))
        evidence = {}
        for name in self._compared:
            value = int(row[f"gamma_{name}"])
            if value == -1:  # one of the two has nothing to compare
                continue
            factor = row[f"bf_{name}"] * (row.get(f"bf_tf_adj_{name}") or 1)
            evidence[name] = {"level": self._labels[(name, value)], "weight": round(math.log2(factor), 1)}
        return Match(first, second, float(row["match_probability"]), evidence)

    def close(self) -> None:
        self.connection.close()


def _vector_values(levels: list[dict]) -> list[tuple[int, dict]]:
    """Each level with its comparison vector value, numbered as splink numbers them: the null
    level -1, the others from the most exact (highest) down to 0."""
    counter = sum(1 for level in levels if not level.get("is_null_level")) - 1
    numbered = []
    for level in levels:
        if level.get("is_null_level"):
            numbered.append((-1, level))
        else:
            numbered.append((counter, level))
            counter -= 1
    return numbered
