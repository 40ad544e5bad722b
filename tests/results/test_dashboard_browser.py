"""The dashboard in a real browser: Chart.js, served from our own static files, draws the trend charts,
and axe-core finds nothing serious.

Debian's Chromium driven by Playwright, as for the public pages (tests/surveys/public/test_browser.py, whose
`browser` fixture this borrows); skipped without a Chromium binary.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.results.summary_data import at, invitation, response, scored_survey
from tests.surveys.public.test_browser import assert_accessible, browser  # noqa: F401 — browser: the fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}


def test_the_dashboard_draws_its_trend_charts(live_server, browser, support, lead):  # noqa: F811
    nps = scored_survey(support, "nps", name="Support NPS")
    ces = scored_survey(support, "csat", "ces", name="Support CSAT")
    for day, score in (("03", 10), ("10", 3), ("17", 9), ("24", 8)):
        response(nps, at(f"2026-03-{day}"), score)
        response(ces, at(f"2026-03-{day}"), 4, 6)
    invitation(nps, at("2026-03-20"))
    staff = Client()
    staff.force_login(lead)
    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies(
        [{"name": "sessionid", "value": staff.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    # Chromium asks every site for /favicon.ico on its own; the admin has none, and that 404 is no
    # error of the page. Anything else the page loads must load.
    page.on(
        "response",
        lambda answer: (
            problems.append(f"{answer.status} {answer.url}")
            if answer.status >= 400 and not answer.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live_server.url}/admin/results/?start=2026-03-01&end=2026-03-31")
    page.wait_for_function("window.resultsCharts && window.resultsCharts.length === 3")

    charts = page.evaluate(
        """() => ["chart-scores", "chart-ces", "chart-volume"].map((id) => {
            const canvas = document.getElementById(id);
            const chart = Chart.getChart(canvas);
            // Something was painted: some pixel of the canvas is not transparent.
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) painted++; }
            return {id, width: canvas.width, datasets: chart.data.datasets.map((d) => d.label), painted};
        })"""
    )
    assert [chart["datasets"] for chart in charts] == [
        ["NPS", "CSAT % satisfied"],
        ["CES mean"],
        ["Responses", "Invitations sent", "Response rate %"],
    ]
    assert all(chart["width"] > 0 and chart["painted"] > 1000 for chart in charts), charts
    nps_points = page.evaluate(
        "Chart.getChart(document.getElementById('chart-scores')).data.datasets[0].data"
    )
    assert nps_points == [None, 100, -100, 100, 0, None]  # weeks from 23 Feb to 30 Mar
    assert problems == []
    assert_accessible(page)
    # Every script and style came from this server: no CDN.
    assert all(url.startswith(live_server.url) for url in requested), requested
    context.close()
