"""The results dashboard: every figure against a hand-computed example, the trend, the tables, the
over-surveying the gatekeeper prevented, and each persona's view of them."""

from __future__ import annotations

import json
import re

import pytest

from results.models import FollowUp
from surveys.models import Invitation
from tests import factories
from tests.results.drill import answered, feedback_survey
from tests.results.summary_data import at, decisions, invitation, response, scored_survey

URL = "/admin/results/"
# The period most tests look at: all of March 2026.
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


def page_text(response) -> str:
    """The page as a reader sees it: tags stripped, whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def figure(response, name: str) -> str:
    match = re.search(rf'data-figure="{name}">(.*?)<', response.content.decode(), flags=re.S)
    assert match, name
    return match.group(1).strip()


def trend_data(response) -> dict:
    match = re.search(
        r'<script id="results-trend" type="application/json">(.*?)</script>',
        response.content.decode(),
        flags=re.S,
    )
    assert match
    return json.loads(match.group(1))


@pytest.fixture
def march(support):
    """Support's March: 7 NPS answers (10 9 9 8 7 6 0), 4 CSAT (5 4 3 1), 3 CES (7 5 2), 11 responses,
    16 invitations sent — and, outside the period or never sent, things that must not count."""
    nps = scored_survey(support, "nps", "free_text", name="Support NPS")
    csat = scored_survey(support, "csat", "ces", name="Support CSAT", kind="transactional")
    for day, score in zip(("03", "04", "05", "10", "11", "12", "20"), (10, 9, 9, 8, 7, 6, 0), strict=True):
        response(nps, at(f"2026-03-{day}"), score, "Thanks" if score == 10 else None)
    for day, (satisfaction, effort) in zip(
        ("02", "09", "16", "23"), ((5, 7), (4, 5), (3, 2), (1, None)), strict=True
    ):
        response(csat, at(f"2026-03-{day}"), satisfaction, effort)
    for day in ("06", "07", "08", "13", "14"):
        invitation(nps, at(f"2026-03-{day}"))  # sent, not answered
    invitation(nps, None)  # queued, never sent
    response(nps, at("2026-02-28", 23), 0)  # the day before the period: neither it nor its invitation
    response(nps, at("2026-04-01", 0), 10, sent_at=at("2026-04-01", 0))  # the day after, at midnight
    return nps, csat


def test_the_headline_figures_are_the_hand_computed_ones(lead_client, march):
    page = lead_client.get(URL, MARCH)

    assert page.status_code == 200
    # 3 promoters, 2 passives, 2 detractors of 7: 100 × (3 − 2) / 7 = 14.3
    assert figure(page, "nps") == "+14"
    assert "3 promoters · 2 passives · 2 detractors (of 7)" in page_text(page)
    # Satisfied: 5 and 4 of 5, 4, 3, 1; mean 13 / 4.
    assert figure(page, "csat") == "50 %"
    assert "satisfied (4–5): 2 of 4 · mean 3.25" in page_text(page)
    assert figure(page, "ces") == "4.67"  # (7 + 5 + 2) / 3
    assert figure(page, "responses") == "11"
    assert "16 invitations sent" in page_text(page)
    assert figure(page, "response_rate") == "68.8 %"  # 11 / 16


def test_the_api_gives_the_same_figures_with_their_counts(lead_api, march):
    body = lead_api.get("/api/v1/results/summary", MARCH).json()

    assert body["headline"] == {
        "responses": 11,
        "invitations_sent": 16,
        "response_rate": 68.8,
        "nps": 14.3,
        "nps_answers": 7,
        "promoters": 3,
        "passives": 2,
        "detractors": 2,
        "csat_satisfied_percent": 50.0,
        "csat_mean": 3.25,
        "csat_answers": 4,
        "csat_satisfied": 2,
        "ces_mean": 4.67,
        "ces_answers": 3,
        "nps_few_answers": True,
        "csat_few_answers": True,
        "ces_few_answers": True,
    }
    assert (body["start"], body["end"], body["interval"]) == ("2026-03-01", "2026-03-31", "week")


@pytest.mark.parametrize(
    ("scores", "expected", "counts"),
    [
        # 6 is a detractor, 7 and 8 passives, 9 a promoter: one each way, a tie.
        ((6, 7, 8, 9), "0", (1, 2, 1)),
        ((9, 9, 6, 6), "0", (2, 0, 2)),
        ((10, 10, 10), "+100", (3, 0, 0)),
        ((0, 6, 7), "−67", (0, 1, 2)),
        ((8, 7), "0", (0, 2, 0)),
    ],
)
def test_nps_counts_promoters_passives_and_detractors_at_their_boundaries(
    lead_client, support, scores, expected, counts
):
    survey = scored_survey(support, "nps")
    for score in scores:
        response(survey, at("2026-03-10"), score)

    page = lead_client.get(URL, MARCH)

    assert figure(page, "nps") == expected
    promoters, passives, detractors = counts
    assert f"{promoters} promoters · {passives} passives · {detractors} detractors" in page_text(page)


def test_a_score_resting_on_fewer_than_30_answers_says_few_answers(lead_client, support):
    survey = scored_survey(support, "nps", name="Tiny NPS")
    response(survey, at("2026-03-10"), 0)

    page = lead_client.get(URL, MARCH)

    assert figure(page, "nps") == "−100"
    assert "few answers: fewer than 30" in page_text(page)
    assert "Tiny NPS Support 1 1 100.0 % −100 few answers " in page_text(page)

    for _ in range(29):
        response(survey, at("2026-03-11"), 0)
    page = lead_client.get(URL, MARCH)

    assert figure(page, "nps") == "−100" and "few answers" not in page_text(page)


def test_csat_counts_4_and_5_as_satisfied(lead_api, support):
    survey = scored_survey(support, "csat")
    for score in (3, 4, 5, 5):
        response(survey, at("2026-03-10"), score)

    headline = lead_api.get("/api/v1/results/summary", MARCH).json()["headline"]

    assert (headline["csat_satisfied"], headline["csat_satisfied_percent"], headline["csat_mean"]) == (
        3,
        75.0,
        4.25,
    )


def test_an_empty_period_shows_no_responses_and_dashes_never_nan(lead_client, lead_api, march):
    quiet = {"start": "2025-06-01", "end": "2025-06-30"}

    page = lead_client.get(URL, quiet)

    assert page.status_code == 200
    assert figure(page, "nps") == "—"
    assert figure(page, "csat") == "—"
    assert figure(page, "ces") == "—"
    assert figure(page, "responses") == "no responses"
    assert figure(page, "response_rate") == "—"
    assert "No responses and no invitations sent in this period." in page_text(page)
    assert "No send requests were decided in this period." in page_text(page)
    for wrong in ("nan", "None", "NaN", "null"):
        assert wrong not in page_text(page)
    headline = lead_api.get("/api/v1/results/summary", quiet).json()["headline"]
    assert headline["nps"] is None and headline["response_rate"] is None and headline["responses"] == 0


def test_responses_without_invitations_sent_in_the_period_have_no_response_rate(lead_client, support):
    survey = scored_survey(support, "nps")
    response(survey, at("2026-03-02"), 9, sent_at=at("2026-02-20"))

    page = lead_client.get(URL, MARCH)

    assert figure(page, "responses") == "1"
    assert figure(page, "response_rate") == "—"
    assert "no invitations sent" in page_text(page)


def test_the_trend_has_a_point_per_week_with_gaps_where_nothing_was_counted(lead_client, support):
    survey = scored_survey(support, "nps")
    response(survey, at("2026-03-03"), 10)  # the week of Monday 2 March
    response(survey, at("2026-03-04"), 0)
    response(survey, at("2026-03-25"), 9)  # the week of 23 March

    data = trend_data(lead_client.get(URL, MARCH))

    assert data["interval"] == "week"
    # March 2026 touches the weeks starting 23 Feb … 30 Mar.
    assert data["labels"] == [
        "2026-02-23",
        "2026-03-02",
        "2026-03-09",
        "2026-03-16",
        "2026-03-23",
        "2026-03-30",
    ]
    assert data["nps"] == [None, 0.0, None, None, 100.0, None]
    assert data["responses"] == [0, 2, 0, 0, 1, 0]
    assert data["invitations_sent"] == [0, 2, 0, 0, 1, 0]  # each sent the day before its answer
    assert data["response_rate"] == [None, 100.0, None, None, 100.0, None]


def test_a_long_period_trends_by_month(lead_client, support):
    survey = scored_survey(support, "csat")
    response(survey, at("2026-01-15"), 5)
    response(survey, at("2026-03-15"), 1)

    data = trend_data(lead_client.get(URL, {"start": "2025-10-01", "end": "2026-09-30"}))

    assert data["interval"] == "month"
    assert len(data["labels"]) == 12 and data["labels"][0] == "2025-10-01"
    assert data["csat_satisfied_percent"][3:6] == [100.0, None, 0.0]


def test_the_tables_show_each_department_and_each_survey(lead_api, support, marketing):
    support_nps = scored_survey(support, "nps", name="Support NPS")
    marketing_nps = scored_survey(marketing, "nps", name="Newsletter NPS")
    response(support_nps, at("2026-03-10"), 10)
    response(support_nps, at("2026-03-11"), 0)
    response(marketing_nps, at("2026-03-10"), 9)
    # A new version of the support survey is the same survey in the tables.
    type(support_nps).objects.filter(pk=support_nps.pk).update(is_current=False)
    version_2 = factories.SurveyFactory(
        department=support, name="Support NPS", family_id=support_nps.family_id, version=2, questions=[]
    )
    factories.QuestionFactory(survey=version_2, position=1, kind="nps")
    response(version_2, at("2026-03-12"), 10)

    body = lead_api.get("/api/v1/results/summary", MARCH).json()

    departments = {row["department"]: row["figures"] for row in body["by_department"]}
    assert departments["Support"]["nps"] == pytest.approx(33.3)  # 2 promoters, 1 detractor of 3
    assert departments["Marketing"]["nps"] == 100.0
    surveys = {row["name"]: row for row in body["by_survey"]}
    assert set(surveys) == {"Support NPS", "Newsletter NPS"}
    assert surveys["Support NPS"]["survey"] == support_nps.family_id
    assert surveys["Support NPS"]["figures"]["responses"] == 3
    assert surveys["Support NPS"]["department"] == "Support"


def test_filters_narrow_every_figure(lead_api, support):
    relationship = scored_survey(support, "nps", name="Relationship", kind="relationship")
    transactional = scored_survey(support, "nps", name="After a call", kind="transactional")
    response(relationship, at("2026-03-10"), 10, channel="email")
    response(relationship, at("2026-03-10"), 0, channel="sms")
    response(transactional, at("2026-03-10"), 0, channel="email")

    def headline(**filters):
        return lead_api.get("/api/v1/results/summary", {**MARCH, **filters}).json()["headline"]

    assert headline()["nps"] == pytest.approx(-33.3)
    assert headline(channel="sms")["detractors"] == 1 and headline(channel="sms")["responses"] == 1
    assert headline(survey_kind="relationship")["nps"] == 0.0
    assert headline(survey=transactional.pk)["nps"] == -100.0
    assert headline(department="support")["responses"] == 3


# Over-surveying prevented


@pytest.fixture
def gatekeeping(support, marketing):
    """Decisions in March: support's NPS asked for 10 and had 4 refused (40 %), its CSAT 10 with 3
    refused (30 %, the threshold), marketing's survey 10 with 1 refused."""
    monthly = factories.FrequencyRuleFactory(name="One survey a month")
    support_nps = scored_survey(support, "nps", name="Support NPS")
    support_csat = scored_survey(support, "csat", name="Support CSAT")
    newsletter = scored_survey(marketing, "nps", name="Newsletter NPS")
    decisions(support_nps, at("2026-03-05"), allowed=6, blocked={monthly: 3, "opted_out": 1})
    decisions(support_csat, at("2026-03-06"), allowed=7, blocked={monthly: 2, "no_address": 1})
    decisions(newsletter, at("2026-03-07"), allowed=9, blocked={monthly: 1})
    decisions(newsletter, at("2026-02-07"), allowed=0, blocked={monthly: 50})  # before the period
    return monthly


def test_blocked_contacts_are_counted_by_rule_and_by_department(lead_api, gatekeeping):
    body = lead_api.get("/api/v1/results/summary", MARCH).json()

    blocked = {row["label"]: row["contacts"] for row in body["blocked"]}
    assert blocked == {"Rule “One survey a month”": 6, "Opted out": 1, "No address on this channel": 1}
    departments = {row["department"]: (row["requested"], row["blocked"]) for row in body["by_department"]}
    assert departments == {"Support": (20, 7), "Marketing": (10, 1)}


def test_a_survey_with_30_percent_or_more_of_its_audience_refused_may_be_biased(
    lead_client, lead_api, gatekeeping
):
    surveys = {row["name"]: row for row in lead_api.get("/api/v1/results/summary", MARCH).json()["by_survey"]}

    assert (surveys["Support NPS"]["blocked_percent"], surveys["Support NPS"]["may_be_biased"]) == (
        40.0,
        True,
    )
    assert (surveys["Support CSAT"]["blocked_percent"], surveys["Support CSAT"]["may_be_biased"]) == (
        30.0,
        True,
    )
    assert (surveys["Newsletter NPS"]["blocked_percent"], surveys["Newsletter NPS"]["may_be_biased"]) == (
        10.0,
        False,
    )
    text = page_text(lead_client.get(URL, MARCH))
    assert (
        "Of 30 contacts asked for in this period, the gatekeeper refused 8 , 6 of them under a frequency rule"
        in text
    )
    assert text.count("may be biased") == 3  # two surveys and the note that explains the mark
    assert "30 % or more of the audience it asked for was refused" in text


# Who sees what


def test_a_department_owner_sees_their_own_department_only(alice_client, march, marketing, gatekeeping):
    newsletter = scored_survey(marketing, "nps", name="Newsletter NPS")
    response(newsletter, at("2026-03-10"), 0)

    page = alice_client.get(URL, MARCH)

    assert page.status_code == 200
    assert figure(page, "nps") == "+14"  # support's figures, marketing's detractor not among them
    assert figure(page, "responses") == "11"
    text = page_text(page)
    assert "Marketing" not in text and "Newsletter" not in text
    # Support's own requests: 20 asked for, 7 refused; the rule's name is the CX leads', shared.
    assert "Of 20 contacts asked for in this period, the gatekeeper refused 7" in text
    assert "Rule “One survey a month”" in text
    assert [
        option
        for option in re.findall(r'<option value="\d+"[^>]*>([^<]*)<', page.content.decode())
        if option in ("Support", "Marketing")
    ] == ["Support"]


def test_mallory_sees_nothing_of_support(mallory_client, march, gatekeeping):
    page = mallory_client.get(URL, MARCH)

    text = page_text(page)
    assert "Support" not in text
    assert figure(page, "responses") == "no responses"
    assert figure(page, "nps") == "—"
    # Marketing's own request: 10 asked for, 1 refused.
    assert "Of 10 contacts asked for in this period, the gatekeeper refused 1" in text


def test_another_departments_filter_is_a_form_error_with_no_figures(mallory_client, support, march):
    nps = march[0]

    for filters in ({"department": support.pk}, {"survey": nps.pk}):
        page = mallory_client.get(URL, {**MARCH, **filters})

        assert page.status_code == 400
        assert "Select a valid choice" in page_text(page)
        assert 'data-figure="' not in page.content.decode()


def test_a_period_that_ends_before_it_starts_is_a_form_error(lead_client):
    page = lead_client.get(URL, {"start": "2026-03-31", "end": "2026-03-01"})

    assert page.status_code == 400
    assert "The end of the period is before its start." in page_text(page)


def test_the_dashboard_needs_a_staff_login(client, db):
    page = client.get(URL)

    assert page.status_code == 302
    assert page["Location"].startswith("/admin/login/")


def test_open_follow_ups_are_counted_and_listed_for_their_department(alice_client, mallory_client, support):
    responses = [answered(feedback_survey(support), nps=score) for score in (2, 5, 9)]
    closed = FollowUp.objects.get(response=responses[1])
    closed.status = FollowUp.Status.CLOSED
    closed.save()

    page = alice_client.get("/admin/results/")

    assert figure(page, "open_follow_ups") == "1"
    assert figure(mallory_client.get("/admin/results/"), "open_follow_ups") == "0"
    listed = alice_client.get("/admin/results/followup/?status__in=open,in_progress")
    assert listed.status_code == 200
    assert f"/admin/results/followup/{responses[0].follow_up.pk}/change/" in listed.content.decode()
    assert f"/admin/results/followup/{closed.pk}/change/" not in listed.content.decode()


def test_the_admin_links_to_the_dashboard(alice_client):
    assert 'href="/admin/results/"' in alice_client.get("/admin/").content.decode()


# Speed: a fixed number of queries, however much there is to count


@pytest.mark.parametrize("filters", [MARCH, {**MARCH, "channel": "email", "survey_kind": "relationship"}])
def test_the_dashboard_takes_a_fixed_number_of_queries(
    lead_client, alice_client, march, gatekeeping, filters, django_assert_max_num_queries
):
    # Session, user, the two role checks, the admin's permissions (2), departments and surveys to
    # name rows, the rollup state, four grouped counts, rule names, the overridden contacts, the form's
    # two choice lists, open follow-ups.
    for client in (lead_client, alice_client):
        client.get(URL, filters)
        with django_assert_max_num_queries(19):  # 19: the header names the company
            assert client.get(URL, filters).status_code == 200


def test_figures_are_counted_in_the_database_not_in_python(lead_client, march, django_assert_max_num_queries):
    """Ten times the responses, the same queries: nothing is counted row by row."""
    nps, _ = march
    for day in range(1, 29):
        for score in (0, 5, 9):
            response(nps, at(f"2026-03-{day:02d}"), score)
    lead_client.get(URL, MARCH)
    with django_assert_max_num_queries(18) as queries:  # 18: the header names the company
        lead_client.get(URL, MARCH)

    # One grouped query per source, whatever its size.
    statements = [query["sql"] for query in queries.captured_queries]
    assert sum("surveys_answer" in sql and "GROUP BY" in sql for sql in statements) == 1
    assert not any(Invitation._meta.db_table in sql and "GROUP BY" not in sql for sql in statements)
