"""What the linkage model compares, field by field, and in how many levels (splink comparisons).

Each level has a label a CX lead reads in the evidence ("surname: Jaro-Winkler ≥ 0.92") and a
starting m probability: how often two records of one person are at that level. The weights
themselves are learned: u (how often two different people are at that level) from random pairs of
the book, always; m by expectation maximisation on any book of linkage.MIN_RECORDS_TO_TRAIN or
more. A smaller book keeps the starting m values: those of names, date of birth and address are
what EM learned on the Febrl data sets (bench/bench_duplicates.py), rounded; those of emails,
phones and external ids follow from exact keys — two records of one person that share an identity
are one contact already, so two that remain differ in every identity both have.

Levels are in order: the first that holds is the pair's level for that field.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
import splink.comparison_library as cl

JW = "jaro_winkler_similarity"


def _comparison(name: str, null_level, levels: list[tuple[object, str, float]]) -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name=name,
        comparison_levels=[
            null_level,
            *(level.configure(label_for_charts=label, m_probability=m) for level, label, m in levels),
        ],
    )


def _name(column: str, other: str, m: tuple[float, float, float, float, float]) -> cl.CustomComparison:
    exact = cll.ExactMatchLevel(column).configure(tf_adjustment_column=column)
    return _comparison(
        column,
        cll.NullLevel(column),
        [
            (exact, "exact", m[0]),
            (cll.ColumnsReversedLevel(column, other, symmetrical=True), f"swapped with {other}", m[1]),
            (cll.JaroWinklerLevel(column, 0.92), "Jaro-Winkler ≥ 0.92", m[2]),
            (cll.JaroWinklerLevel(column, 0.8), "Jaro-Winkler ≥ 0.8", m[3]),
            (cll.ElseLevel(), "different", m[4]),
        ],
    )


def _date_of_birth() -> cl.CustomComparison:
    # A DATE column: parsing strings for every pair took a third of the time to train.
    def within(threshold: int, metric: str):
        return cll.AbsoluteDateDifferenceLevel(
            "date_of_birth", input_is_string=False, threshold=threshold, metric=metric
        )

    typo = cll.CustomLevel(
        "damerau_levenshtein(CAST(date_of_birth_l AS VARCHAR), CAST(date_of_birth_r AS VARCHAR)) <= 1"
    )
    return _comparison(
        "date_of_birth",
        cll.NullLevel("date_of_birth"),
        [
            (cll.ExactMatchLevel("date_of_birth"), "exact", 0.92),
            (typo, "one typo", 0.012),
            (within(1, "month"), "within a month", 0.002),
            (within(1, "year"), "within a year", 0.003),
            (cll.ElseLevel(), "different", 0.063),
        ],
    )


def _email() -> cl.CustomComparison:
    # Two contacts never share an email (one identity names one person): what can agree is the
    # mailbox, at another provider or with a typo.
    return _comparison(
        "email",
        cll.NullLevel("email_mailbox"),
        [
            (cll.ExactMatchLevel("email_mailbox"), "same mailbox, other domain", 0.3),
            (cll.JaroWinklerLevel("email_mailbox", 0.88), "mailbox Jaro-Winkler ≥ 0.88", 0.2),
            (cll.ElseLevel(), "different", 0.5),
        ],
    )


def _phone() -> cl.CustomComparison:
    return _comparison(
        "phone",
        cll.NullLevel("phone"),
        [
            (cll.DamerauLevenshteinLevel("phone", 1), "one digit off", 0.1),
            (cll.ElseLevel(), "different", 0.9),
        ],
    )


def _external_id() -> cl.CustomComparison:
    # Compared as "source:id", so ids of two systems never look alike.
    return _comparison(
        "external_id",
        cll.NullLevel("external_id"),
        [
            (cll.DamerauLevenshteinLevel("external_id", 1), "one typo", 0.1),
            (cll.DamerauLevenshteinLevel("external_id", 2), "two typos", 0.02),
            (cll.ElseLevel(), "different", 0.88),
        ],
    )


def _address() -> cl.CustomComparison:
    # One comparison for the whole address: its parts agree together for everyone at one address,
    # so scored apart they would count a household's shared address four times over. People
    # move, which the Febrl sets do not know: "different" starts at a fifth, not at 1 %.
    street, number, postcode = (
        f"{JW}(street_l, street_r)",
        "street_number_l = street_number_r",
        "postcode_l = postcode_r",
    )
    missing = "(street_l IS NULL AND postcode_l IS NULL) OR (street_r IS NULL AND postcode_r IS NULL)"
    postcode_typo = "damerau_levenshtein(postcode_l, postcode_r) <= 2"
    return _comparison(
        "address",
        cll.CustomLevel(missing).configure(is_null_level=True),
        [
            (cll.CustomLevel(f"{number} AND {street} >= 0.9 AND {postcode}"), "same address", 0.45),
            (
                cll.CustomLevel(f"{number} AND {street} >= 0.8 AND {postcode_typo}"),
                "same street and number, postcode a typo off",
                0.1,
            ),
            (
                cll.CustomLevel(f"{postcode} AND ({number} OR {street} >= 0.9)"),
                "same postcode and street or number",
                0.15,
            ),
            (
                cll.CustomLevel(f"{number} AND {street} >= 0.9"),
                "same street and number, other postcode",
                0.01,
            ),
            (cll.CustomLevel(postcode), "same postcode", 0.03),
            (cll.CustomLevel(f"{JW}(city_l, city_r) >= 0.9"), "same town", 0.06),
            (cll.ElseLevel(), "different", 0.2),
        ],
    )


def comparisons() -> list[cl.CustomComparison]:
    return [
        _name("given_name", "surname", (0.6, 0.04, 0.13, 0.03, 0.2)),
        _name("surname", "given_name", (0.56, 0.04, 0.2, 0.03, 0.17)),
        _date_of_birth(),
        _email(),
        _phone(),
        _external_id(),
        _address(),
    ]
