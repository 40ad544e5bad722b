"""The follow-up policy as a table (results/detractors.py): which answer of a response asks for a
follow-up, and whether it waits for the frequency rules (only when everything that asked for it
says so)."""

import pytest

from results.detractors import Detractor, Rule, ScaleAnswer, detractor_find
from results.models import BUILT_IN_DETRACTOR_MAX

FAMILY, OTHER_FAMILY = 10, 20


def nps(value, position=1):
    return ScaleAnswer(question_id=100 + position, position=position, kind="nps", value=value)


def csat(value, position=2):
    return ScaleAnswer(question_id=100 + position, position=position, kind="csat", value=value)


def ces(value, position=3):
    return ScaleAnswer(question_id=100 + position, position=position, kind="ces", value=value)


CASES = {
    "a promoter and a satisfied customer": ([nps(9), csat(4)], [], None),
    "an NPS detractor, the highest": ([nps(6), csat(5)], [], Detractor(101, False)),
    "an NPS passive, the lowest": ([nps(7), csat(3)], [], None),
    "a dissatisfied CSAT": ([nps(10), csat(2)], [], Detractor(102, False)),
    "the first detractor by position": ([csat(1), nps(0)], [], Detractor(101, False)),
    "CES has no built-in threshold": ([ces(1)], [], None),
    "a rule for CES": ([ces(2)], [Rule("ces", 2, None)], Detractor(103, False)),
    "above the rule": ([ces(3)], [Rule("ces", 2, None)], None),
    "a rule for this survey": ([nps(8)], [Rule("nps", 8, FAMILY)], Detractor(101, False)),
    "a rule for another survey": ([nps(8)], [Rule("nps", 8, OTHER_FAMILY)], None),
    "a rule never silences the built-in threshold": ([nps(5)], [Rule("nps", 2, None)], Detractor(101, False)),
    "a waiting rule that matches": ([ces(2)], [Rule("ces", 2, None, True)], Detractor(103, True)),
    "a waiting rule never holds back a built-in detractor": (
        [nps(3)],
        [Rule("nps", 6, None, True)],
        Detractor(101, False),
    ),
    "a waiting rule above the built-in threshold": (
        [nps(8)],
        [Rule("nps", 8, None, True)],
        Detractor(101, True),
    ),
    "a waiting rule that does not match the answer": (
        [ces(3)],
        [Rule("ces", 2, None, True), Rule("ces", 4, None)],
        Detractor(103, False),
    ),
    "one of two matching rules does not wait": (
        [ces(1)],
        [Rule("ces", 4, None), Rule("ces", 3, FAMILY, True)],
        Detractor(103, False),
    ),
    "both matching rules wait": (
        [ces(1)],
        [Rule("ces", 4, None, True), Rule("ces", 3, FAMILY, True)],
        Detractor(103, True),
    ),
    "no answers on a scale": ([], [Rule("nps", 10, None)], None),
}


@pytest.mark.parametrize(("answers", "rules", "expected"), CASES.values(), ids=CASES.keys())
def test_detractor_find(answers, rules, expected):
    found = detractor_find(answers, survey_family_id=FAMILY, rules=rules, built_in=BUILT_IN_DETRACTOR_MAX)

    assert found == expected
