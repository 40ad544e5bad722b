"""CSV exports: one row per response and one column per question, streamed; formulas neutralised,
numbers kept as numbers, any language intact; the summary tables; scoped by department."""

from __future__ import annotations

import csv
import io

import pytest

from results.exports import cell
from tests.results.drill import answered, feedback_survey

EXPORT = "/admin/results/export/responses.csv"
SUMMARY = "/admin/results/export/summary.csv"
FIXED = ["response_id", "submitted_at", "department", "survey", "survey_version", "channel", "contact_id"]


def rows_of(response) -> list[list[str]]:
    """The CSV a user would open: streamed content joined, the byte order mark checked and dropped."""
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.fixture
def survey(support):
    return feedback_survey(support, name="Router repair check")


def test_one_row_per_response_and_one_column_per_question(alice_client, survey):
    first = answered(survey, nps=9, csat=5, comment="Great")
    second = answered(survey, nps=0, csat=1)

    response = alice_client.get(EXPORT)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'attachment; filename="responses-' in response["Content-Disposition"]
    header, *rows = rows_of(response)
    assert header[: len(FIXED)] == FIXED
    assert header[-3:] == [
        "1. How likely are you to recommend us?",
        "2. How satisfied are you?",
        "3. Anything else?",
    ]
    assert [row[0] for row in rows] == [str(first.pk), str(second.pk)]
    assert rows[0][-3:] == ["9", "5", "Great"]
    assert rows[1][-3:] == ["0", "1", ""]
    assert rows[1][header.index("follow_up")] == "open"
    assert rows[0][header.index("department")] == "Support"
    # The contact as the API names it, never its primary key (a counter of every department's contacts).
    assert [row[header.index("contact_id")] for row in rows] == [
        str(first.contact.public_id),
        str(second.contact.public_id),
    ]


@pytest.mark.parametrize("comment", ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1)"])
def test_cells_a_spreadsheet_would_run_are_neutralised(alice_client, survey, comment):
    answered(survey, comment=comment)

    _header, row = rows_of(alice_client.get(EXPORT))

    assert row[-1] == "'" + comment


def test_a_leading_tab_or_carriage_return_is_neutralised_too(alice_client, support):
    # Answers are stripped when stored; names are not.
    answered(feedback_survey(support, name="\tcmd"))
    answered(feedback_survey(support, name="\rcmd"))

    header, *rows = rows_of(alice_client.get(EXPORT))

    assert {row[header.index("survey")] for row in rows} == {"'\rcmd", "'\tcmd"}


def test_only_text_is_prefixed_never_a_number():
    assert [cell(value) for value in (-3, 0, 2.5, None, "-3", "a=b", "")] == [
        -3,
        0,
        2.5,
        None,
        "'-3",
        "a=b",
        "",
    ]


def test_numbers_stay_numbers_and_unicode_survives(alice_client, support):
    survey = feedback_survey(support, name="Zufriedenheit – Grüße 日本")
    answered(survey, nps=0, csat=2, comment="Très bien, danke schön! 👍 ½")

    header, row = rows_of(alice_client.get(EXPORT))

    assert row[header.index("survey")] == "Zufriedenheit – Grüße 日本"
    assert row[-3:] == ["0", "2", "Très bien, danke schön! 👍 ½"]


def test_mixed_surveys_get_a_column_for_each_surveys_questions(alice_client, support, survey):
    other = feedback_survey(support, name="Billing check")
    answered(survey, nps=7, comment="router")
    answered(other, nps=3, comment="bill")

    header, *rows = rows_of(alice_client.get(EXPORT))

    questions = header[header.index("follow_up") + 1 :]
    assert len(questions) == 6
    assert questions[0].startswith("Billing check · 1.") and questions[3].startswith(
        "Router repair check · 1."
    )
    by_survey = {row[header.index("survey")]: row[len(header) - 6 :] for row in rows}
    assert by_survey["Billing check"] == ["3", "5", "bill", "", "", ""]
    assert by_survey["Router repair check"] == ["", "", "", "7", "5", "router"]


def test_the_export_follows_the_filter(alice_client, survey, support):
    other = feedback_survey(support, name="Billing check")
    answered(survey)
    kept = answered(other)

    header, *rows = rows_of(alice_client.get(EXPORT, {"survey": other.pk}))

    assert [row[0] for row in rows] == [str(kept.pk)]
    assert not any("Router" in column for column in header)


def test_an_invalid_filter_is_a_400_that_says_why(alice_client):
    response = alice_client.get(EXPORT, {"start": "2026-05-02", "end": "2026-05-01"})

    assert response.status_code == 400
    assert "before its start" in response.content.decode()


def test_another_departments_responses_are_never_exported(mallory_client, lead_client, survey, marketing):
    answered(survey, comment="support's secret")
    answered(feedback_survey(marketing, name="Spring pulse"), comment="marketing's own")

    mallory = rows_of(mallory_client.get(EXPORT))
    lead = rows_of(lead_client.get(EXPORT))

    assert len(mallory) == 2 and "support's secret" not in str(mallory) and "Router" not in str(mallory)
    assert len(lead) == 3


def test_an_empty_export_is_the_header_alone(alice_client):
    assert rows_of(alice_client.get(EXPORT)) == [[*FIXED, "locale", "follow_up"]]


# The summary tables


def test_the_summary_tables_by_department_and_by_survey(
    alice_client, mallory_client, lead_client, survey, marketing
):
    answered(survey, nps=10, csat=5)
    answered(survey, nps=0, csat=1)
    answered(feedback_survey(marketing, name="=cmd|' /C calc'!A0"), nps=9)

    header, *rows = rows_of(lead_client.get(SUMMARY))

    table = {(row[0], row[1]): dict(zip(header, row, strict=True)) for row in rows}
    support_row = table[("department", "Support")]
    assert support_row["responses"] == "2"
    assert support_row["promoters"] == "1" and support_row["detractors"] == "1"
    assert support_row["nps"] == "0.0"
    assert table[("survey", "Router repair check")]["department"] == "Support"
    assert ("survey", "'=cmd|' /C calc'!A0") in table  # neutralised in the summary too
    alice = rows_of(alice_client.get(SUMMARY))
    assert "Marketing" not in str(alice) and "calc" not in str(alice)
    assert "Router" not in str(rows_of(mallory_client.get(SUMMARY)))
