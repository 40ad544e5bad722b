"""Quiet hours: no invitation or reminder reaches a person at night in their own time zone.

Pure: times in, time out. A send that falls into quiet hours is deferred to their end, not blocked
(PRODUCT.md §5). The hours come from settings.QUIET_HOURS_START / _END ("HH:MM"); a window may cross
midnight (21:00–08:00) or not (12:00–14:00); equal start and end mean no quiet hours.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo


def quiet_hours_end(
    at: dt.datetime, *, time_zone: zoneinfo.ZoneInfo, start: dt.time, end: dt.time
) -> dt.datetime | None:
    """When the quiet hours `at` falls into end (aware, in UTC); None if `at` is not in quiet hours."""
    if start == end:
        return None
    local = at.astimezone(time_zone)
    now = local.time().replace(tzinfo=None)
    if start < end:
        if not start <= now < end:
            return None
        end_date = local.date()
    else:
        if end <= now < start:
            return None
        end_date = local.date() + dt.timedelta(days=1) if now >= start else local.date()
    # On a day the clocks change, the end may name a local time that does not exist; zoneinfo then
    # reads it with the offset before the change, which can only make it later, never earlier than at.
    ends = dt.datetime.combine(end_date, end, tzinfo=time_zone).astimezone(dt.UTC)
    return max(ends, at.astimezone(dt.UTC))


def parse_clock(value: str) -> dt.time:
    """ "21:00" → time(21, 0); raises ValueError on anything else."""
    return dt.time.fromisoformat(value)
