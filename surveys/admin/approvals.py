"""Approval in the admin (issue 15): on a held send request's report page a CX lead approves or
rejects it with a comment; its owner sees the state, the reasons and the comment there, and is
emailed (surveys/gatekeeper/approvals.py). Plugged into SendRequestAdmin (send_requests.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from cxfeedback.exceptions import ApplicationError
from departments.admin_scoping import admin_actor
from surveys.gatekeeper.approvals import send_request_approve, send_request_reject
from surveys.models import APPROVAL_COMMENT_MAX_LENGTH, Approval, SendRequest


class ApprovalDecisionForm(forms.Form):
    comment = forms.CharField(
        max_length=APPROVAL_COMMENT_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Emailed to the request's owner and shown on this page. Required to reject.",
    )


def approval_of(send_request: SendRequest) -> Approval | None:
    try:
        return send_request.approval
    except ObjectDoesNotExist:
        return None


def approval_context(request: HttpRequest, send_request: SendRequest) -> dict[str, Any]:
    """The report page's approval box, and for a CX lead the approve/reject form while it waits."""
    awaiting = send_request.status == SendRequest.Status.AWAITING_APPROVAL
    return {
        "approval": approval_of(send_request),
        "approval_form": ApprovalDecisionForm() if awaiting and admin_actor(request).is_cx_lead else None,
    }


DECISIONS = {
    "approve": (send_request_approve, "Approved: its invitations are sent as planned. The owner is emailed."),
    "reject": (
        send_request_reject,
        "Rejected: the request is cancelled, its invitations released. The owner is emailed.",
    ),
}


def approval_decide_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, *, decision: str
) -> HttpResponse:
    """POST only: approve or reject with the form's comment (CX leads), back to the report page."""
    send_request = get_object_or_404(model_admin.get_queryset(request), pk=object_id)
    actor = admin_actor(request)
    if not actor.is_cx_lead:
        raise PermissionDenied
    service, done = DECISIONS[decision]
    form = ApprovalDecisionForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else request.POST.get("comment", "")
    try:
        service(send_request=send_request, actor=actor, comment=comment)
    except ApplicationError as error:
        model_admin.message_user(request, error.message, messages.ERROR)
    else:
        model_admin.log_change(request, send_request, [{"changed": {"fields": ["status"]}}])
        model_admin.message_user(request, done, messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:surveys_sendrequest_preflight", args=[send_request.pk]))
