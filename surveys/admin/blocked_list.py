"""The pre-flight page's "Download the blocked list (CSV)": streamed as the screening statement runs
batch by batch (surveys/gatekeeper/blocked_list.py), for a draft of the user's departments."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.urls import reverse

from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import admin_actor
from surveys.gatekeeper.blocked_list import blocked_list_csv


def blocked_list_view(model_admin, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: the draft's blocked list as a CSV download; back to the pre-flight with the reason if
    there is none to give (not a draft, send window closed)."""
    send_request = model_admin._request_or_404(request, object_id)
    try:
        pieces = blocked_list_csv(send_request=send_request, viewer=admin_actor(request))
    except ApplicationError as error:
        model_admin.message_user(request, error.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:surveys_sendrequest_preflight", args=[send_request.pk]))
    return blocked_list_response(pieces, send_request)


def blocked_list_response(pieces, send_request) -> StreamingHttpResponse:
    """The CSV download, named after the request (the admin's id for it, or the API's)."""
    response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
    name = f"blocked-send-request-{send_request.public_id}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
