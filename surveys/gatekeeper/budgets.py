"""What makes a send request wait for a CX lead's approval (issue 15): its size, over the approval
threshold (the department's, else the company's), or its department's monthly touch budget.

A department's budget is counted touches (invitations neither cancelled nor failed, as every rule
counts them) per calendar month, a touch counting in the month it is planned for (`touched_at`).
A request is checked against the month it starts in, with all the touches it reserves (eligible
now and planned for later in its window). Reads only: the pre-flight calls it as it is, the
screening calls it under every contact stripe, after writing its invitations (send_requests.py),
so two requests cannot both spend the last of a budget.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from departments.models import CompanySettings, Department
from surveys.models import Approval, Invitation, SendRequest


@dataclass(frozen=True)
class BudgetUse:
    """A department's budget in the month of `start`: None when it has none (nothing is counted)."""

    budget: int | None
    start: dt.datetime  # the month's first moment, in the project's time zone
    used: int  # counted touches that month, the request asked about left out

    @property
    def month(self) -> dt.date:
        return self.start.date()

    @property
    def left(self) -> int | None:
        return None if self.budget is None else max(self.budget - self.used, 0)

    def exceeded_by(self, touches: int) -> bool:
        return self.budget is not None and self.used + touches > self.budget


@dataclass(frozen=True)
class Hold:
    """Why a request of `audience` contacts would wait for approval; no reasons: it would not."""

    reasons: list[str]
    audience: int
    threshold: int | None
    budget: BudgetUse


def month_of(at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The calendar month (project time zone) holding `at`: its first moment and the next month's."""
    local = timezone.localtime(at)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


def budget_use(
    *, department: Department, at: dt.datetime, send_request: SendRequest | None = None
) -> BudgetUse:
    """The department's budget and counted touches in the month of `at`, leaving out those of
    `send_request` (a screening counts after writing its own)."""
    start, end = month_of(at)
    if department.monthly_touch_budget is None:
        return BudgetUse(budget=None, start=start, used=0)
    in_month = Invitation.objects.filter(touched_at__gte=start, touched_at__lt=end).exclude(
        status__in=Invitation.NOT_COUNTED
    )
    # The department's: read from the invitation_counted_by_time index alone (it includes department).
    used = in_month.filter(department_id=department.pk).count()
    # Less those of its requests still being screened (screening_batches.py commits them batch by
    # batch): such a request spends its budget when its screening ends, under every stripe, so of
    # two requests screened at once the first to end spends first, as if they had run one after the
    # other. Driven by the few submitted requests (index send_request_unscreened).
    screening = in_month.filter(
        department_id=department.pk, send_request__status=SendRequest.Status.SUBMITTED
    )
    if send_request is not None and send_request.pk is not None:
        screening = screening.exclude(send_request_id=send_request.pk)
        used -= in_month.filter(send_request_id=send_request.pk).count()
    used -= screening.count()
    return BudgetUse(budget=department.monthly_touch_budget, start=start, used=used)


def approval_threshold(department: Department) -> int | None:
    """The audience size above which a request waits: the department's, else the company's."""
    if department.approval_threshold is not None:
        return department.approval_threshold
    return CompanySettings.current().approval_threshold


def approval_hold(
    *, send_request: SendRequest, audience: int, at: dt.datetime, written: bool = False
) -> Hold:
    """Whether a request reserving `audience` contacts from `at` waits for approval, and why.
    `written`: its invitations are stored already (screening), so they are not counted twice."""
    department = send_request.department
    threshold = approval_threshold(department)
    budget = budget_use(department=department, at=at, send_request=send_request if written else None)
    reasons = []
    if threshold is not None and audience > threshold:
        reasons.append(Approval.Reason.SIZE.value)
    if budget.exceeded_by(audience):
        reasons.append(Approval.Reason.BUDGET.value)
    return Hold(reasons=reasons, audience=audience, threshold=threshold, budget=budget)
