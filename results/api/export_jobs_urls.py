from django.urls import path

from results.api.export_jobs import ExportJobApi, ExportJobCancelApi, ExportJobDetailApi, ExportJobDownloadApi

urlpatterns = [
    path("results/export-jobs", ExportJobApi.as_view(), name="results-export-job-list"),
    path(
        "results/export-jobs/<uuid:public_id>", ExportJobDetailApi.as_view(), name="results-export-job-detail"
    ),
    path(
        "results/export-jobs/<uuid:public_id>/cancel",
        ExportJobCancelApi.as_view(),
        name="results-export-job-cancel",
    ),
    path(
        "results/export-jobs/<uuid:public_id>/download",
        ExportJobDownloadApi.as_view(),
        name="results-export-job-download",
    ),
]
