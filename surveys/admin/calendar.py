"""The send calendar in the admin (/admin/surveys/sendrequest/calendar/, linked from the send request
list): per day and department, invitations sent and planned and the requests whose window is open,
and how many contacts the range's requests compete for. Everything comes from
surveys.gatekeeper.calendar, scoped there: a CX lead sees every department, a department owner their
own by name and the others as anonymous counts. GET only; ?start=YYYY-MM-DD&days=N."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from departments.admin_scoping import admin_actor
from surveys.gatekeeper.calendar import CalendarRange, CalendarRangeForm, send_calendar
from surveys.models import SendRequest


def send_calendar_view(request: HttpRequest) -> HttpResponse:
    """The calendar of the range in the query string. A bad ?start= or ?days= answers 400 with the
    form and its error (naming the parameter and the value), and no calendar at all."""
    if not request.user.has_perm("surveys.view_sendrequest"):
        raise PermissionDenied
    form = CalendarRangeForm(request.GET)
    calendar = None
    if form.is_valid():
        calendar = send_calendar(
            actor=admin_actor(request), calendar_range=form.calendar_range(today=timezone.localdate())
        )
    context = {
        **admin.site.each_context(request),
        "title": "Send calendar",
        "opts": SendRequest._meta,
        "form": form,
        "errors": form.error_list(),
        "calendar": calendar,
        "today": timezone.localdate(),
        **(_paging(calendar.calendar_range) if calendar else {}),
    }
    return TemplateResponse(
        request,
        "admin/surveys/sendrequest/calendar.html",
        context,
        status=200 if calendar is not None else 400,
    )


def _paging(calendar_range: CalendarRange) -> dict[str, str]:
    """Query strings of the range before and the range after, as long."""
    step = dt.timedelta(days=calendar_range.days)

    def at(start: dt.date) -> str:
        return "?" + urlencode({"start": start.isoformat(), "days": calendar_range.days})

    return {"earlier": at(calendar_range.start - step), "later": at(calendar_range.start + step)}
