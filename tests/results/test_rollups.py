"""The daily rollups: the dashboard reads finished days from them and later ones from the live tables,
and every figure is the same whichever way it was counted."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from results.rollups import DailyDecisions, DailyResults, DailyRollupState
from results.services.rollups import daily_rollups_refresh
from tests import factories
from tests.results.summary_data import at, decisions, invitation, response, scored_survey

URL = "/api/v1/results/summary"
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def month(support, marketing):
    """A March of every kind of thing the dashboard counts, spread over its days, in two departments
    and on both channels; with a survey's second version, and a response near midnight."""
    rule = factories.FrequencyRuleFactory(name="One survey a month")
    support_nps = scored_survey(support, "nps", "free_text", name="Support NPS")
    support_csat = scored_survey(support, "csat", "ces", name="Support CSAT", kind="transactional")
    newsletter = scored_survey(marketing, "nps", name="Newsletter NPS")
    for day in range(1, 31):
        when = at(f"2026-03-{day:02d}", 8 + day % 12)
        response(
            support_nps,
            when,
            day % 11,
            "Fine" if day % 4 == 0 else None,
            channel="sms" if day % 3 else "email",
        )
        response(support_csat, when, 1 + day % 5, 1 + day % 7)
        if day % 2:
            response(newsletter, when, (day * 7) % 11)
            invitation(newsletter, when)
        if day % 5 == 0:
            decisions(support_nps, when, allowed=3, blocked={rule: day % 4, "opted_out": 1})
            decisions(newsletter, when, allowed=2, blocked={rule: 3})
    response(support_nps, at("2026-03-31", 23), 10)
    response(support_nps, at("2026-04-01", 0), 0)
    return support_nps


def summaries(client, **filters) -> dict:
    return client.get(URL, {**MARCH, **filters}).json()


@pytest.mark.parametrize(
    "rolled_up_at",
    [
        at("2026-04-02", 3),  # every day of March rolled up
        at("2026-03-16", 0) + dt.timedelta(minutes=11),  # the first half rolled up, the rest live
        at("2026-03-01", 0),  # nothing of March yet: the rollups end the day before it
    ],
)
def test_the_figures_are_the_same_from_rollups_and_live_tables(lead_api, alice, month, rolled_up_at):
    owner = APIClient()
    owner.force_login(alice)
    filter_sets = [
        {},
        {"channel": "sms"},
        {"survey_kind": "transactional"},
        {"survey": month.pk},
        {"start": "2026-03-10"},
    ]
    live = [(summaries(lead_api, **f), summaries(owner, **f)) for f in filter_sets]

    daily_rollups_refresh(now=rolled_up_at)

    assert DailyRollupState.rolled_through_day() == (
        rolled_up_at - dt.timedelta(minutes=10)
    ).date() - dt.timedelta(days=1)
    assert [(summaries(lead_api, **f), summaries(owner, **f)) for f in filter_sets] == live
    assert live[0][0]["headline"]["responses"] == 30 + 30 + 15 + 1


def test_a_refresh_rolls_up_finished_days_only_and_once(month):
    assert daily_rollups_refresh(now=at("2026-03-11", 0) + dt.timedelta(minutes=5)) == dt.date(2026, 3, 9)
    rows = DailyResults.objects.count()
    assert not DailyResults.objects.filter(day__gte="2026-03-10").exists()

    # Again at once: nothing to do. A day later: only the new days are written.
    assert daily_rollups_refresh(now=at("2026-03-11", 1)) == dt.date(2026, 3, 10)
    assert daily_rollups_refresh(now=at("2026-03-11", 2)) == dt.date(2026, 3, 10)
    assert DailyResults.objects.filter(day__lt="2026-03-10").count() == rows
    assert DailyResults.objects.filter(day="2026-03-10").exists()
    assert DailyDecisions.objects.filter(day="2026-03-10").exists()


def test_a_rebuild_counts_everything_again(month, support):
    daily_rollups_refresh(now=at("2026-04-05"))
    before = sorted(
        DailyResults.objects.values_list("day", "survey_family_id", "channel", "responses", "promoters")
    )

    DailyResults.objects.all().delete()
    daily_rollups_refresh(now=at("2026-04-05"), rebuild=True)

    assert (
        sorted(
            DailyResults.objects.values_list("day", "survey_family_id", "channel", "responses", "promoters")
        )
        == before
    )


def test_days_are_the_project_time_zones(month):
    daily_rollups_refresh(now=at("2026-04-05"))

    # The response at 00:00 on 1 April belongs to April, the one at 23:00 on 31 March to March.
    april = DailyResults.objects.get(day="2026-04-01")
    assert (april.responses, april.detractors, settings.TIME_ZONE) == (1, 1, "UTC")


def test_the_dashboard_reads_rollups_in_a_fixed_number_of_queries(
    lead_client, month, django_assert_max_num_queries
):
    daily_rollups_refresh(now=at("2026-03-16", 1))
    lead_client.get("/admin/results/", MARCH)

    # Session, user, roles (2), departments, surveys, rollup state, 2 rollup reads, 4 live reads, rule
    # names, the admin's permissions (2), the form's two choice lists, open follow-ups and the sends a
    # CX lead's override let through: 20, however many rows.
    with django_assert_max_num_queries(21):  # 21: the header names the company
        assert lead_client.get("/admin/results/", MARCH).status_code == 200


def test_the_command_rolls_up_and_rebuilds(month):
    out = io.StringIO()
    call_command("refresh_results_rollups", stdout=out)
    rows = DailyResults.objects.count()

    call_command("refresh_results_rollups", "--rebuild", stdout=out)

    assert out.getvalue().startswith("Rolled up through ")
    assert rows > 0 and DailyResults.objects.count() == rows
