"""The results dashboard: the consolidated figures for a CX lead, a department's own for its owners.

A page of the admin (its login, look and navigation) at /admin/results/, reading everything through
results.selectors.summary, which counts in SQL.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from departments.admin_scoping import admin_actor
from results.filters import ResultsFilterForm
from results.selectors.figures import FEW_ANSWERS
from results.selectors.followups import open_follow_ups_count
from results.selectors.summary import BIAS_SHARE, Summary, results_summary


def dashboard(request: HttpRequest) -> HttpResponse:
    """The figures for the filter in the query string. A filter the user may not use (another
    department, a survey that is not theirs, a period that ends before it starts) is a form error
    with no figures at all, status 400."""
    actor = admin_actor(request)
    form = ResultsFilterForm(request.GET, actor=actor)
    summary = open_follow_ups = None
    if form.is_valid():
        results_filter = form.results_filter()
        summary = results_summary(actor=actor, results_filter=results_filter)
        open_follow_ups = open_follow_ups_count(actor, results_filter)
    context = {
        **admin.site.each_context(request),
        "title": "Results",
        "form": form,
        "summary": summary,
        "open_follow_ups": open_follow_ups,
        "bias_percent": round(BIAS_SHARE * 100),
        "few_answers": FEW_ANSWERS,
        "chart_data": _chart_data(summary) if summary else None,
    }
    return TemplateResponse(
        request, "results/dashboard.html", context, status=200 if summary is not None else 400
    )


# The trend's series the charts draw (results/static/results/dashboard.js).
CHART_SERIES = ("nps", "csat_satisfied_percent", "ces_mean", "responses", "invitations_sent", "response_rate")


def _chart_data(summary: Summary) -> dict:
    """The trend as the charts draw it: one list per series, None where a bucket has nothing to count
    (Chart.js leaves a gap there rather than drawing a zero)."""
    points = [point.figures.as_dict() for point in summary.trend]
    return {
        "interval": summary.interval,
        "labels": [point.start.isoformat() for point in summary.trend],
        **{series: [figures[series] for figures in points] for series in CHART_SERIES},
    }
