from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from cxfeedback.health import healthz, readyz
from cxfeedback.metrics import metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("admin/results/", include("results.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's set-up as a script file: no inline script (cxfeedback/csp.py).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("cxfeedback.api_urls")),
    # The customer's pages (/t/, /s/, /u/, /p/) and the providers' webhooks.
    path("", include("surveys.public.urls")),
]

# Under /api/ Django's own error pages answer in the API's error shape (cxfeedback/exceptions.py).
handler400 = "cxfeedback.exceptions.bad_request"
handler404 = "cxfeedback.exceptions.page_not_found"
handler500 = "cxfeedback.exceptions.server_error"
