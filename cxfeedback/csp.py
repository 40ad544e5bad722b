"""Content-Security-Policy on every response.

The customer's pages (/t/, /s/, /u/, /p/) and everything else public run no script at all: the
strictest policy, so an injected tag would do nothing (their only resources are the site's own
style sheet and images). The staff side — the admin, the results dashboard (Chart.js, served from
our static files) and the API docs — runs only the site's own script files; inline `style`
attributes of Django's admin templates stay allowed. A view that set its own policy keeps it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

NO_SCRIPT = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
STAFF = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'self'"
)
STAFF_PREFIXES = ("/admin/", "/api/docs/")


def csp_for(path: str) -> str:
    return STAFF if path.startswith(STAFF_PREFIXES) else NO_SCRIPT


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = csp_for(request.path)
        return response
