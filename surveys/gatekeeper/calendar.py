"""The send calendar: per day and department, the invitations sent and planned and the send requests
whose window is open, over a bounded range of days; and how many contacts the range's requests
compete for (surveys/gatekeeper/calendar_overlap.py). Reads only.

A CX lead sees every department by name. Anyone else (a department owner, an API key) sees their own
departments' requests by name and, for all other departments together, only two numbers a day:
invitations planned and sent. Nothing of another department's requests, surveys or name leaves here.

Days are the project's time zone's, as the results dashboard counts them. Counted by PostgreSQL:
one grouped query for sends, one for plans, one for the requests, two for the overlap.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from django import forms
from django.db.models import Count, DateTimeField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from departments.actors import Actor
from departments.models import Department
from surveys.gatekeeper.calendar_overlap import RequestOverlap, RequestPair, overlaps_in_range
from surveys.models import Invitation, SendRequest

# The default range: a week back (what went out) to three weeks ahead (what is planned).
DAYS_BACK = 7
DAYS_AHEAD = 21
DEFAULT_DAYS = DAYS_BACK + 1 + DAYS_AHEAD
# At most two months a page: every figure is counted live, and the overlap joins the audiences of
# every request in the range.
MAX_DAYS = 62
# Far-off days are typing errors, and near the ends of the calendar the range's moments do not exist.
EARLIEST_DAY = dt.date(1970, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)

# Requests shown: submitted and later. A draft reserves nothing, a cancelled one no longer sends.
# Triggers (one contact each, by the million) are left out as requests; their invitations count.
CALENDAR_STATUSES = [
    SendRequest.Status.SUBMITTED,
    SendRequest.Status.SCREENED,
    SendRequest.Status.AWAITING_APPROVAL,
    SendRequest.Status.SENDING,
    SendRequest.Status.COMPLETED,
]
# Invitations not sent yet: queued, or claimed by a worker this moment.
NOT_SENT = [Invitation.Status.QUEUED, Invitation.Status.SENDING]
# The requests that still hold such invitations (surveys/delivery/dispatch.py completes a request
# once it has none, and cancelling cancels them): the planned query starts from these few requests
# (their partial index) and finds their rows by the (send_request, contact) index; the invitations
# table has deliberately no index by planned time.
DELIVERING = [SendRequest.Status.SCREENED, SendRequest.Status.AWAITING_APPROVAL, SendRequest.Status.SENDING]


@dataclass(frozen=True)
class CalendarRange:
    """`days` days from `start`, both in the project's time zone."""

    start: dt.date
    days: int

    def __post_init__(self):
        if not 1 <= self.days <= MAX_DAYS:
            raise ValueError(f"A calendar covers 1 to {MAX_DAYS} days, not {self.days}.")

    @property
    def end(self) -> dt.date:
        """The last day, included."""
        return self.start + dt.timedelta(days=self.days - 1)

    @property
    def start_at(self) -> dt.datetime:
        return _midnight(self.start)

    @property
    def end_before(self) -> dt.datetime:
        """The first moment after the range."""
        return _midnight(self.end + dt.timedelta(days=1))

    def each_day(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range(self.days)]


def _shown(given: str) -> str:
    """A value the caller sent, quoted (and cut short) for an error message."""
    return repr(given if len(given) <= 40 else given[:40] + "…")


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class CalendarRangeForm(forms.Form):
    """?start=&days= of the admin page and the API. Read by hand rather than by Django's DateField and
    IntegerField, so that each error repeats the value it was given."""

    start = forms.CharField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"The first day, YYYY-MM-DD. Empty: {DAYS_BACK} days before today.",
    )
    days = forms.CharField(
        required=False,
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_DAYS}),
        help_text=f"How many days, 1 to {MAX_DAYS}. Empty: {DEFAULT_DAYS}.",
    )

    def clean_start(self) -> dt.date | None:
        given = self.cleaned_data["start"].strip()
        if not given:
            return None
        try:
            start = dt.datetime.strptime(given, "%Y-%m-%d").date()
        except ValueError:
            raise forms.ValidationError(
                f"{_shown(given)} is not a day; write it as YYYY-MM-DD, e.g. 2025-03-01."
            ) from None
        if not EARLIEST_DAY <= start <= LATEST_DAY:
            raise forms.ValidationError(
                f"{given} is too far off; give a day between {EARLIEST_DAY.year} and {LATEST_DAY.year}."
            )
        return start

    def clean_days(self) -> int | None:
        given = self.cleaned_data["days"].strip()
        if not given:
            return None
        # Three digits at most before int(): a number thousands of digits long is refused by int().
        if not (given.isascii() and given.isdigit() and len(given) <= 3 and 1 <= int(given) <= MAX_DAYS):
            raise forms.ValidationError(f"{_shown(given)} is not a number of days from 1 to {MAX_DAYS}.")
        return int(given)

    def calendar_range(self, *, today: dt.date) -> CalendarRange:
        """The range of a valid form: by default from DAYS_BACK days before `today`."""
        start = self.cleaned_data.get("start") or today - dt.timedelta(days=DAYS_BACK)
        return CalendarRange(start=start, days=self.cleaned_data.get("days") or DEFAULT_DAYS)

    def error_list(self) -> list[str]:
        """Every error, each after the name of its parameter: "start: '2025-13-01' is not a day …"."""
        return [f"{name}: {message}" for name, errors in self.errors.items() for message in errors]


@dataclass(frozen=True)
class CalendarRequest:
    """A send request the viewer may see, as the calendar shows it."""

    pk: int  # for the admin's links only; the API shows public_id
    public_id: uuid.UUID
    department_id: int
    department_name: str
    department_slug: str
    survey_name: str
    status: str
    earliest_send_at: dt.datetime
    latest_send_at: dt.datetime | None
    window_end: dt.datetime  # latest_send_at, or when a request without one sends

    @property
    def status_label(self) -> str:
        return SendRequest.Status(self.status).label

    def is_open_on(self, day: dt.date) -> bool:
        next_day = _midnight(day + dt.timedelta(days=1))
        return self.earliest_send_at < next_day and self.window_end >= _midnight(day)


@dataclass
class DepartmentDay:
    department_id: int
    name: str
    slug: str
    sent: int = 0
    planned: int = 0
    send_requests: list[CalendarRequest] = field(default_factory=list)


@dataclass
class OtherDepartmentsDay:
    """Every department the viewer does not work in, together: two numbers, nothing else."""

    sent: int = 0
    planned: int = 0


@dataclass
class CalendarDay:
    day: dt.date
    departments: list[DepartmentDay]
    other_departments: OtherDepartmentsDay | None  # None for a CX lead, who sees every department


@dataclass
class SendCalendar:
    calendar_range: CalendarRange
    sees_every_department: bool
    days: list[CalendarDay]
    pairs: list[RequestPair]
    overlaps: list[RequestOverlap]


def send_calendar(
    *, actor: Actor, calendar_range: CalendarRange, now: dt.datetime | None = None
) -> SendCalendar:
    """The calendar of `calendar_range` as `actor` may see it."""
    now = now or timezone.now()
    in_range = requests_in_range(calendar_range, now=now)
    own = in_range if actor.is_cx_lead else in_range.filter(department_id__in=actor.department_ids)
    shown = [_calendar_request(send_request) for send_request in own.select_related("survey", "department")]
    by_id = {request.pk: request for request in shown}
    pairs, overlaps = overlaps_in_range(in_range, actor=actor, shown=by_id)
    return SendCalendar(
        calendar_range=calendar_range,
        sees_every_department=actor.is_cx_lead,
        days=_days(actor, calendar_range, shown),
        pairs=pairs,
        overlaps=overlaps,
    )


def requests_in_range(calendar_range: CalendarRange, *, now: dt.datetime) -> QuerySet[SendRequest]:
    """Every department's submitted (and later) requests whose window overlaps the range; triggers,
    other tools' touches and cancelled requests left out. A request without a deadline sends when it
    is screened (or at its earliest time, if later): its window ends there, or now while it waits for
    its screening."""
    decided_at = Coalesce("screened_at", Value(now, output_field=DateTimeField()))
    window_end = Coalesce("latest_send_at", Greatest("earliest_send_at", decided_at))
    return (
        SendRequest.objects.filter(status__in=CALENDAR_STATUSES)
        .exclude(audience_kind__in=[SendRequest.AudienceKind.TRIGGER, SendRequest.AudienceKind.EXTERNAL])
        .annotate(window_end=window_end)
        .filter(earliest_send_at__lt=calendar_range.end_before, window_end__gte=calendar_range.start_at)
        .order_by("earliest_send_at", "pk")
    )


def _calendar_request(send_request: SendRequest) -> CalendarRequest:
    return CalendarRequest(
        pk=send_request.pk,
        public_id=send_request.public_id,
        department_id=send_request.department_id,
        department_name=send_request.department.name,
        department_slug=send_request.department.slug,
        survey_name=str(send_request.survey),
        status=send_request.status,
        earliest_send_at=send_request.earliest_send_at,
        latest_send_at=send_request.latest_send_at,
        window_end=send_request.window_end,
    )


def _days(actor: Actor, calendar_range: CalendarRange, shown: list[CalendarRequest]) -> list[CalendarDay]:
    counts = invitation_counts(calendar_range)
    if actor.is_cx_lead:
        departments = _departments({d for _, d in counts} | {r.department_id for r in shown})
    else:
        departments = _departments(actor.department_ids)
    return [_day(actor, day, departments, counts, shown) for day in calendar_range.each_day()]


def _day(
    actor: Actor,
    day: dt.date,
    departments: dict[int, Department],
    counts: dict[tuple[dt.date, int], tuple[int, int]],
    shown: list[CalendarRequest],
) -> CalendarDay:
    open_requests = [request for request in shown if request.is_open_on(day)]
    if actor.is_cx_lead:
        # Every department with something on that day.
        ids = {d for (on, d) in counts if on == day} | {r.department_id for r in open_requests}
        others = None
    else:
        # Their own departments every day, busy or not; all the others as two numbers.
        ids = set(departments)
        others = OtherDepartmentsDay()
        for (on, department_id), (sent, planned) in counts.items():
            if on == day and department_id not in actor.department_ids:
                others.sent += sent
                others.planned += planned
    rows = [_department_day(departments[d], day, counts, open_requests) for d in ids]
    return CalendarDay(day=day, departments=sorted(rows, key=lambda row: row.name), other_departments=others)


def _departments(ids) -> dict[int, Department]:
    return {department.pk: department for department in Department.objects.filter(pk__in=ids)}


def _department_day(
    department: Department, day: dt.date, counts: dict, open_requests: list[CalendarRequest]
) -> DepartmentDay:
    sent, planned = counts.get((day, department.pk), (0, 0))
    return DepartmentDay(
        department_id=department.pk,
        name=department.name,
        slug=department.slug,
        sent=sent,
        planned=planned,
        send_requests=[r for r in open_requests if r.department_id == department.pk],
    )


def invitation_counts(calendar_range: CalendarRange) -> dict[tuple[dt.date, int], tuple[int, int]]:
    """(day, department id) → (invitations sent that day, invitations planned for that day and not
    sent yet), for every department: callers decide what a viewer sees of them."""
    start_at, end_before = calendar_range.start_at, calendar_range.end_before
    # Sent: found by the partial index on sent_at (invitation_sent_time).
    sent = (
        Invitation.objects.filter(sent_at__gte=start_at, sent_at__lt=end_before)
        .values("department_id", day=TruncDate("sent_at"))
        .annotate(count=Count("pk"))
        .order_by()
    )
    # Planned: when dispatch will hand it over (surveys/delivery/dispatch.py), quiet hours included.
    planned = (
        Invitation.objects.filter(status__in=NOT_SENT, send_request__status__in=DELIVERING)
        .annotate(planned_at=Coalesce("send_after", "touched_at"))
        .filter(Q(planned_at__gte=start_at) & Q(planned_at__lt=end_before))
        .values("department_id", day=TruncDate("planned_at"))
        .annotate(count=Count("pk"))
        .order_by()
    )
    counts: dict[tuple[dt.date, int], list[int]] = defaultdict(lambda: [0, 0])
    for position, rows in enumerate((sent, planned)):
        for row in rows:
            counts[(row["day"], row["department_id"])][position] = row["count"]
    return {key: (sent_count, planned_count) for key, (sent_count, planned_count) in counts.items()}
