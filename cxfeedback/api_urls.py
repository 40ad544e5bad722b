"""Every REST API v1 route, gathered from the apps' api packages."""

from django.urls import include, path

urlpatterns = [
    # surveys first: its triggers are most of the API's calls, and Django tries patterns in order.
    path("", include("surveys.api.urls")),
    path("", include("contacts.api.urls")),
    path("", include("results.api.urls")),
]
