"""The results pages (dashboard, drill-down, export), linked from the admin."""

from django.urls import include, path

app_name = "results"

urlpatterns = [
    path("", include("results.views.dashboard_urls")),
    path("", include("results.views.drilldown_urls")),
]
