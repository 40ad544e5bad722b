"""Writing the dashboard's daily rollups (results/rollups.py) from the live tables.

Each refresh rolls up the finished days since the last one, each day whole, in one INSERT … SELECT
per table; a day is finished once ROLLUP_SETTLE has passed after its midnight, long enough for every
transaction that stamped a response, a sending or a decision with that day to have committed.
Nothing changes a finished day's counts afterwards: responses, sendings and decisions are stamped
with the time they happen, and erasing a person keeps their figures (surveys/erasure.py).
`rebuild=True` rolls everything up again from the start, for after a repair by hand.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from results.rollups import DailyDecisions, DailyResults, DailyRollupState
from results.selectors.figures import CSAT_SATISFIED_MIN, DETRACTOR_MAX, PROMOTER_MIN

ROLLUP_SETTLE = datetime.timedelta(minutes=10)
# Before any day that holds data: where a first refresh (or a rebuild) starts.
BEGINNING = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
# The advisory lock that keeps two refreshes (beat runs on two machines, a command) from writing the
# same days twice; any constant unique to this purpose.
ROLLUP_LOCK = 5_318_008_001


def daily_rollups_refresh(
    *, now: datetime.datetime | None = None, rebuild: bool = False
) -> datetime.date | None:
    """Roll up every finished day not rolled up yet (every day, with `rebuild`); returns the last day
    the rollups now hold. Writes DailyResults, DailyDecisions and DailyRollupState."""
    now = now or timezone.now()
    through = (timezone.localtime(now) - ROLLUP_SETTLE).date() - datetime.timedelta(days=1)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        state, _ = DailyRollupState.objects.select_for_update().get_or_create(pk=1)
        since = (
            None
            if rebuild or state.rolled_through is None
            else state.rolled_through + datetime.timedelta(days=1)
        )
        if since is not None and since > through:
            return state.rolled_through
        days = {} if since is None else {"day__gte": since}
        DailyResults.objects.filter(**days).delete()
        DailyDecisions.objects.filter(**days).delete()
        _roll_up(since=since, through=through)
        state.rolled_through, state.refreshed_at = through, now
        state.save()
    return through


def _roll_up(*, since: datetime.date | None, through: datetime.date) -> None:
    parameters = {
        "tz": settings.TIME_ZONE,
        "since": _midnight(since) if since else BEGINNING,
        "before": _midnight(through + datetime.timedelta(days=1)),
        "promoter": PROMOTER_MIN,
        "detractor": DETRACTOR_MAX,
        "satisfied": CSAT_SATISFIED_MIN,
    }
    with connection.cursor() as cursor:
        cursor.execute(DAILY_RESULTS_SQL, parameters)
        cursor.execute(DAILY_DECISIONS_SQL, parameters)


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


# Days are days in the project's time zone, as results.filters counts periods. A survey's versions
# count as its family (the id of its first version). The same counts as results.selectors.summary_counts.
DAILY_RESULTS_SQL = """
INSERT INTO results_dailyresults (
    day, department_id, survey_family_id, survey_kind, channel, responses, invitations_sent,
    nps_answers, promoters, passives, detractors,
    csat_answers, csat_satisfied, csat_score_total, ces_answers, ces_score_total
)
SELECT day, department_id, family_id, survey_kind, channel,
       sum(responses), sum(invitations_sent), sum(nps_answers), sum(promoters), sum(passives),
       sum(detractors), sum(csat_answers), sum(csat_satisfied), sum(csat_score_total), sum(ces_answers),
       sum(ces_score_total)
FROM (
    SELECT (r.submitted_at AT TIME ZONE %(tz)s)::date AS day, r.department_id,
           coalesce(s.family_id, s.id) AS family_id, s.kind AS survey_kind, r.channel,
           0 AS responses, 0 AS invitations_sent,
           count(*) FILTER (WHERE q.kind = 'nps') AS nps_answers,
           count(*) FILTER (WHERE q.kind = 'nps' AND a.value_number >= %(promoter)s) AS promoters,
           count(*) FILTER (WHERE q.kind = 'nps' AND a.value_number > %(detractor)s
                                                 AND a.value_number < %(promoter)s) AS passives,
           count(*) FILTER (WHERE q.kind = 'nps' AND a.value_number <= %(detractor)s) AS detractors,
           count(*) FILTER (WHERE q.kind = 'csat') AS csat_answers,
           count(*) FILTER (WHERE q.kind = 'csat' AND a.value_number >= %(satisfied)s) AS csat_satisfied,
           coalesce(sum(a.value_number) FILTER (WHERE q.kind = 'csat'), 0) AS csat_score_total,
           count(*) FILTER (WHERE q.kind = 'ces') AS ces_answers,
           coalesce(sum(a.value_number) FILTER (WHERE q.kind = 'ces'), 0) AS ces_score_total
    FROM surveys_answer a
    JOIN surveys_question q ON q.id = a.question_id
    JOIN surveys_response r ON r.id = a.response_id
    JOIN surveys_survey s ON s.id = r.survey_id
    WHERE q.kind IN ('nps', 'csat', 'ces') AND a.value_number IS NOT NULL
      AND r.submitted_at >= %(since)s AND r.submitted_at < %(before)s
    GROUP BY 1, 2, 3, 4, 5
  UNION ALL
    SELECT (r.submitted_at AT TIME ZONE %(tz)s)::date, r.department_id, coalesce(s.family_id, s.id),
           s.kind, r.channel, count(*), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM surveys_response r JOIN surveys_survey s ON s.id = r.survey_id
    WHERE r.submitted_at >= %(since)s AND r.submitted_at < %(before)s
    GROUP BY 1, 2, 3, 4, 5
  UNION ALL
    SELECT (i.sent_at AT TIME ZONE %(tz)s)::date, i.department_id, i.survey_family_id, i.survey_kind,
           i.channel, 0, count(*), 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM surveys_invitation i
    WHERE i.sent_at IS NOT NULL AND i.sent_at >= %(since)s AND i.sent_at < %(before)s
    GROUP BY 1, 2, 3, 4, 5
) counts
GROUP BY 1, 2, 3, 4, 5
"""

DAILY_DECISIONS_SQL = """
INSERT INTO results_dailydecisions (day, department_id, survey_family_id, survey_kind, channel, allowed,
                                    reason, rule_id, contacts)
SELECT (d.decided_at AT TIME ZONE %(tz)s)::date, sr.department_id, coalesce(s.family_id, s.id), s.kind,
       sr.channel, d.allowed, d.reason, d.rule_id, count(*)
FROM surveys_decision d
JOIN surveys_sendrequest sr ON sr.id = d.send_request_id
JOIN surveys_survey s ON s.id = sr.survey_id
WHERE d.decided_at >= %(since)s AND d.decided_at < %(before)s
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
"""
