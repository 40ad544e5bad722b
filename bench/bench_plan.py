"""Planning a large deferred request: screening with a send window, blocked contacts planned for
when their block ends inside it (issue 14).

Builds the screening benchmark's history (bench_screening.build: N contacts, `--touches` past
invitations, opt-outs and snoozes, the three rules), adds planned sends of other departments in the
weeks ahead for one contact in ten (so the rules look forward as well as back), gives the request a
send window of `--window-days`, and times `send_request_screen`: every contact decided, an
invitation now for the eligible, one at their block's end for those planned inside the window.

    python bench/bench_plan.py [--contacts 100000] [--touches 5000000] [--window-days 14]

Last line: bench plan contacts=N window_days=D seconds=S planned=P now=A refused=R peak_rss_mb=M
"""

from __future__ import annotations

import argparse
import datetime as dt

from bench_screening import build
from harness import drop_database, peak_rss_mb, say, setup_django, stopwatch

DATABASE = "bench_plan"


def plan_ahead(request_id: int, window_days: int) -> None:
    """Planned sends of marketing and sales for one contact in ten, spread over the next five weeks,
    and the request's send window."""
    from django.db import connection
    from django.utils import timezone

    from surveys.models import SendRequest, Survey

    now = timezone.now()
    request = SendRequest.objects.get(pk=request_id)
    planned = [
        SendRequest.objects.create(
            department_id=survey.department_id, survey=survey, audience_kind="all_known", status="screened"
        )
        for survey in Survey.objects.exclude(department=request.department).order_by("pk")[:2]
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                   survey_kind, contact_id, channel, status, touched_at, attempts, reminders_sent,
                   failure_reason, created_at, updated_at)
               SELECT r.id, r.survey_id, r.survey_id, r.department_id, 'relationship', c.id, 'email',
                      'queued',
                      %(now)s + random() * interval '35 days', 0, 0, '', %(now)s, %(now)s
               FROM contacts_contact c
               JOIN surveys_sendrequest r ON r.id = (%(requests)s::bigint[])[c.id %% 2 + 1]
               WHERE c.id %% 10 = 3""",
            {"now": now, "requests": [r.pk for r in planned]},
        )
        cursor.execute("ANALYZE surveys_invitation")
    SendRequest.objects.filter(pk=request_id).update(
        earliest_send_at=now, latest_send_at=now + dt.timedelta(days=window_days)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--touches", type=int, default=5_000_000)
    parser.add_argument("--window-days", type=int, default=14)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    setup_django(DATABASE)
    from surveys.gatekeeper.send_requests import send_request_screen
    from surveys.models import Decision, SendRequest

    with stopwatch() as built:
        request_id = build(args.contacts, args.touches)
        plan_ahead(request_id, args.window_days)
    say(f"built {args.contacts} contacts, {args.touches} touches and planned sends in {built():.1f}s")

    with stopwatch() as screened:
        send_request_screen(send_request_id=request_id)
    seconds = screened()
    rss = peak_rss_mb()
    summary = SendRequest.objects.get(pk=request_id).screening_summary
    decisions = Decision.objects.filter(send_request_id=request_id).count()
    assert decisions == args.contacts, decisions
    refused = args.contacts - summary["allowed"] - summary["planned"]
    say(f"summary={summary}")
    if not args.keep:
        drop_database(DATABASE)
    say(
        f"bench plan contacts={args.contacts} window_days={args.window_days} seconds={seconds:.3f} "
        f"planned={summary['planned']} now={summary['allowed']} refused={refused} peak_rss_mb={rss:.0f}"
    )


if __name__ == "__main__":
    main()
