"""The drill-down pages and exports, under /admin/results/ (results/urls.py)."""

from django.urls import path

from results.views import drilldown, export_jobs

urlpatterns = [
    path("responses/", drilldown.responses, name="responses"),
    path("contacts/<int:contact_id>/timeline/", drilldown.timeline, name="contact-timeline"),
    path("export/responses.csv", drilldown.export_responses, name="export-responses"),
    path("export/summary.csv", drilldown.export_summary, name="export-summary"),
    path("export/jobs/<uuid:public_id>/", export_jobs.export_job_page, name="export-job"),
    path(
        "export/jobs/<uuid:public_id>/cancel/", export_jobs.export_job_cancel_view, name="export-job-cancel"
    ),
    path(
        "export/jobs/<uuid:public_id>/download/", export_jobs.export_job_download, name="export-job-download"
    ),
]
