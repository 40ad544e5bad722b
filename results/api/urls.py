from django.urls import include, path

urlpatterns = [
    path("", include("results.api.summary_urls")),
    path("", include("results.api.responses_urls")),
    path("", include("results.api.export_jobs_urls")),
]
