"""The surveys app's errors, for every context (design, gatekeeper, delivery, public, erasure): each a
named ApplicationError that the API's one handler (cxfeedback/exceptions.py) turns into
`{"code", "message", "extra"}` with its HTTP status. Services raise them; a contact blocked inside a
batch is never an error but a stored decision."""

from __future__ import annotations

from typing import Any

from rest_framework import status

from cxfeedback.exceptions import ApplicationError, Conflict


class InvalidStatusTransition(Conflict):
    code = "invalid_status_transition"


class SendWindowClosed(ApplicationError):
    code = "send_window_closed"


class InvalidSendRequest(ApplicationError):
    """A send request that cannot be made as asked; `extra["field"]` names the field."""

    code = "invalid_send_request"

    @classmethod
    def on_field(cls, field: str, problem: str, **extra: Any) -> InvalidSendRequest:
        return cls(f"{field}: {problem}", extra={"field": field, **extra})


class AudienceLocked(Conflict):
    """The audience of a submitted (or cancelled) request is what was screened: it no longer changes."""

    code = "audience_locked"


class RuleChangeForbidden(ApplicationError):
    """Only CX leads write frequency rules; department owners and API keys may only read them."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "rule_change_forbidden"


class InvalidFrequencyRule(ApplicationError):
    code = "invalid_frequency_rule"


class OverrideForbidden(ApplicationError):
    """Only CX leads request and approve overrides, and never their own or their own request's."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "override_forbidden"


class InvalidOverride(ApplicationError):
    """An override that cannot be made as asked; `extra["field"]` names the field when there is one."""

    code = "invalid_override"


class AlreadyAnswered(Conflict):
    code = "already_answered"


class InvitationExpired(ApplicationError):
    """Expired, cancelled or never delivered: the invitation cannot be answered."""

    status_code = status.HTTP_410_GONE
    code = "invitation_expired"


class InvalidAnswers(ApplicationError):
    """`extra["questions"]` maps each question position with a problem to its messages."""

    code = "invalid_answers"


class InvalidPreference(ApplicationError):
    code = "invalid_preference"


class InvalidSurvey(ApplicationError):
    code = "invalid_survey"


class InvalidQuestion(InvalidSurvey):
    """A question that cannot be asked as given; `extra` names its position and field."""

    code = "invalid_question"

    def __init__(self, position: int, field: str, problem: str):
        super().__init__(
            f"Question {position}, {field}: {problem}", extra={"question": position, "field": field}
        )


class UnknownSurveyTemplate(InvalidSurvey):
    code = "unknown_survey_template"


class SurveyNotCurrent(Conflict):
    """Only the current version of a survey can be edited: a newer one exists."""

    code = "survey_not_current"


class ErasureForbidden(ApplicationError):
    """Erasure is a CX lead's decision: it removes data every department's results rest on."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "erasure_forbidden"


class MergeForbidden(ApplicationError):
    """Merging is a CX lead's decision: it joins two records every department's rules count."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "merge_forbidden"


class MergeRefused(ApplicationError):
    """A merge, unmerge or proposal that cannot be made as asked; the message says why."""

    code = "merge_refused"


class ReservationClosed(Conflict):
    """A reserved slot for another tool's send that was cancelled, released or confirmed already."""

    code = "reservation_closed"


class ApprovalForbidden(ApplicationError):
    """Approving or rejecting a held send request is a CX lead's decision, never its department's."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "approval_forbidden"


class InvalidApproval(ApplicationError):
    """An approval or rejection that cannot be made as asked; `extra["field"]` names the field."""

    code = "invalid_approval"


class TriggerCapReached(ApplicationError):
    """The department made as many triggers today as its daily trigger cap allows (issue 15)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "trigger_cap_reached"


class DraftClosed(Conflict):
    """A published or discarded rule draft no longer changes, and is not simulated."""

    code = "draft_closed"


class DraftOutdated(Conflict):
    """A rule of the draft was changed live after it was copied: publishing would undo that change."""

    code = "draft_outdated"


class InvalidSimulation(ApplicationError):
    """A rule simulation that cannot be run as asked; `extra["field"]` names the field."""

    code = "invalid_simulation"


class InvalidBlackout(ApplicationError):
    """A blackout that cannot be opened or closed as asked; `extra["field"]` names the field."""

    code = "invalid_blackout"


class SendToSelfFailed(ApplicationError):
    """A test send with nowhere to go (the owner has no e-mail address) or refused by the channel."""

    code = "send_to_self_failed"


class TouchImportRejected(ApplicationError):
    """A touches CSV that cannot be imported at all (nothing was queued); the message says what to fix."""

    code = "touch_import_rejected"


class TouchImportRefused(Conflict):
    """The touch import cannot do that in its state: cancel one that ended, resume one still running."""

    code = "touch_import_refused"


class AudienceUploadUnfinished(Conflict):
    """A request is not submitted while its audience list is still being uploaded, nor after its latest
    upload failed or was cancelled part-way (the list would be a part of the file)."""

    code = "audience_upload_unfinished"


class AudienceUploadRefused(Conflict):
    """The audience upload cannot do that in its state: cancel one that ended, resume one still running."""

    code = "audience_upload_refused"


class PartitionRefused(ApplicationError):
    """A month of decisions that cannot be detached (surveys/gatekeeper/decision_partitions.py)."""

    code = "partition_refused"
