"""GET /send-requests/{id}/preflight/blocked: the pre-flight's blocked list as CSV, streamed batch by
batch as the screening statement runs (surveys/gatekeeper/blocked_list.py). A draft only."""

from __future__ import annotations

import uuid

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from cxfeedback.exceptions import error_responses
from departments.actors import actor_for_request
from surveys.gatekeeper.blocked_list import blocked_list_csv
from surveys.gatekeeper.send_requests import send_request_get

EXAMPLE_CSV = (
    "contact,identifiers,reason,reason_label,next_eligible_at,duplicate_rows\r\n"
    "0b7c…,ann@example.com,opted_out,Opted out,,\r\n"
    "5e1d…,bob@example.com,rule,Rule “One survey per 90 days”,2026-05-04T10:00:00+00:00,\r\n"
    "9a42…,cid@example.com,duplicate_in_audience,"
    '"Duplicate in audience: 1 more row(s), asked once",,1\r\n'
)


class SendRequestBlockedListApi(APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The list is CSV whatever the renderers say; an error is JSON, even to "Accept: text/csv".
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="send_request_blocked_list",
        summary="Pre-flight blocked list (CSV): who a draft would not reach, and why",
        description="A draft's contacts not reached within its send window (the reason; when eligible "
        "again, to the full hour unless you are a CX lead) and those named by more than one audience "
        "row, each named by its id and your own identifiers. Streamed as it is computed; reads only. "
        "Lines with reason other than duplicate_in_audience add up to the pre-flight's blocked_total.",
        responses={
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR,
                examples=[OpenApiExample("Blocked list", value=EXAMPLE_CSV, media_type="text/csv")],
            ),
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, send_request_id: uuid.UUID):
        send_request = send_request_get(actor=actor_for_request(request), public_id=send_request_id)
        pieces = blocked_list_csv(send_request=send_request, viewer=actor_for_request(request))
        response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="blocked-send-request-{send_request_id}.csv"'
        return response
