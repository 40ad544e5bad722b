"""Every REST API v1 route, gathered from the apps' api packages."""

from django.urls import include, path

urlpatterns = [
    path("", include("contacts.api.urls")),
    path("", include("surveys.api.urls")),
    path("", include("surveys.api.trigger_urls")),
    path("", include("surveys.api.erasure_urls")),
    path("", include("results.api.urls")),
]
