"""The drill-down pages and exports, under /admin/results/ (results/urls.py)."""

from django.urls import path

from results.views import drilldown

urlpatterns = [
    path("responses/", drilldown.responses, name="responses"),
    path("contacts/<int:contact_id>/timeline/", drilldown.timeline, name="contact-timeline"),
    path("export/responses.csv", drilldown.export_responses, name="export-responses"),
    path("export/summary.csv", drilldown.export_summary, name="export-summary"),
]
