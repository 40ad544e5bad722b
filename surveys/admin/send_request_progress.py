"""A send request's screening and delivery progress on its report page: counts by state, a progress bar, the
reasons of failed, cancelled and waiting invitations, and a link to its invitations. The page
refreshes itself (a meta refresh, no JavaScript needed) while the request is being screened or sent,
and stops once nothing is left to happen."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from surveys.delivery.progress import LIVE_STATUSES, STATE_LABELS, send_request_progress
from surveys.gatekeeper.screening_batches import screening_progress
from surveys.models import SendRequest

REFRESH_SECONDS = 5
SCREENING = (SendRequest.Status.SUBMITTED,)


def delivery_context(send_request: SendRequest) -> dict[str, Any]:
    """The report page's delivery part; empty for a draft (nothing is reserved yet)."""
    if send_request.status == SendRequest.Status.DRAFT:
        return {"refresh_seconds": None}
    progress = send_request_progress(send_request=send_request)
    # Refreshing while something is due now; not for holds and plans hours away, nor once done.
    due = progress.counts["sending"] + progress.counts["queued"]
    live = send_request.status in SCREENING or (send_request.status in LIVE_STATUSES and due > 0)
    return {
        # The screening's own bar (contacts decided of the audience's) while it runs, batch by batch.
        "screening": screening_progress(send_request),
        "progress": progress,
        "progress_rows": [
            {
                "state": state,
                "label": label,
                "count": progress.counts[state],
                "reasons": sorted(progress.reasons.get(state, {}).items(), key=lambda item: -item[1]),
                "url": invitations_url(send_request, state),
            }
            for state, label in STATE_LABELS.items()
        ],
        "invitations_url": invitations_url(send_request),
        "refresh_seconds": REFRESH_SECONDS if live else None,
    }


# The invitation list's status filter for each state that is one status (or a few, shown as all).
_STATUS_FILTER = {"sending": "sending", "failed": "failed", "cancelled": "cancelled", "queued": "queued"}


def invitations_url(send_request: SendRequest, state: str | None = None) -> str:
    """The request's invitations in the invitation list, narrowed to one status where it is one."""
    url = f"{reverse('admin:surveys_invitation_changelist')}?send_request__id__exact={send_request.pk}"
    if state in ("held", "planned"):
        state = "queued"
    if state in _STATUS_FILTER:
        url += f"&status__exact={_STATUS_FILTER[state]}"
    return url
