"""The results app's errors: each a named ApplicationError that the API's one handler
(cxfeedback/exceptions.py) turns into `{"code", "message", "extra"}` with its HTTP status."""

from __future__ import annotations

from cxfeedback.exceptions import Conflict, Unprocessable


class FollowUpBlockedByFrequencyRule(Conflict):
    code = "follow_up_frequency_blocked"


class InvalidFollowUpChange(Unprocessable):
    code = "invalid_follow_up_change"


class ExportJobRefused(Conflict):
    """An export job asked for what its state does not allow: cancel an ended one, download one
    not done."""

    code = "export_job_refused"
