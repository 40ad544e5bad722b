"""Every REST API v1 route, gathered from the apps' api packages."""

from django.urls import include, path

urlpatterns = [
    path("", include("contacts.api.urls")),
    path("", include("surveys.api.urls")),
    path("", include("results.api.urls")),
]
