"""REST API v1: a CX lead approves or rejects a send request awaiting approval (issue 15). Thin: the
rules are in surveys/gatekeeper/approvals.py."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cxfeedback.exceptions import error_responses
from cxfeedback.parsers import JSONParser
from departments.actors import actor_for_request
from surveys.api.approval_serializers import ApprovalDecisionInputSerializer
from surveys.api.inputs import valid_input
from surveys.api.send_requests import SendRequestOutputSerializer
from surveys.gatekeeper.approvals import send_request_approve, send_request_reject
from surveys.gatekeeper.send_requests import send_request_get


class SendRequestApproveApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="send_request_approve",
        summary="Approve a send request awaiting approval (CX leads)",
        description="The request becomes screened and its reserved invitations are sent as planned; its "
        "owner is emailed, with the comment if any. 403 unless a CX lead, 409 unless awaiting approval.",
        request=ApprovalDecisionInputSerializer,
        responses={200: SendRequestOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, send_request_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, public_id=send_request_id)
        comment = valid_input(ApprovalDecisionInputSerializer, request.data)["comment"]
        send_request_approve(send_request=send_request, actor=actor, comment=comment)
        return Response(SendRequestOutputSerializer(send_request).data)


class SendRequestRejectApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="send_request_reject",
        summary="Reject a send request awaiting approval (CX leads)",
        description="The request is cancelled and its reserved invitations released: nothing is sent. Its "
        "owner is emailed the comment, which is required. 403 unless a CX lead, 409 unless awaiting "
        "approval.",
        request=ApprovalDecisionInputSerializer,
        responses={200: SendRequestOutputSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, send_request_id: uuid.UUID) -> Response:
        actor = actor_for_request(request)
        send_request = send_request_get(actor=actor, public_id=send_request_id)
        comment = valid_input(ApprovalDecisionInputSerializer, request.data)["comment"]
        send_request_reject(send_request=send_request, actor=actor, comment=comment)
        return Response(SendRequestOutputSerializer(send_request).data)
