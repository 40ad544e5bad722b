"""The replay statement of a rule simulation: one batch of contacts' stored decisions of a period,
each decided again under a draft's rules, summed per department and survey (simulations.py runs it).

How a decision is decided again, and what "the touch history as it was" means here:
- Its moment is the send's time: its own invitation's touch time for an allowed decision (exactly
  the screening's `at`), else the later of when it was decided and the request's earliest send
  time (the screening's max(now, earliest_send_at)).
- The touches are the counted invitations (not cancelled or failed, as they are now) with a clock
  time in the rule's window ending at that moment, minus the decision's own invitation. An
  invitation is written with a touch time no earlier than its screening, so those touches are the
  ones that existed when the decision was made; a touch cancelled since no longer counts.
- Only the window before the moment and a new contact's grace are replayed, as rules.Counted reads
  them. Sends planned later than the moment (rules.Counted's "full touch ahead") are left out, and
  a decision the draft changes does not change the history the later ones see (no cascade): the
  replay answers "what would each decision have been, had this rule set been live then".
- Decisions made before the rules (no address, opted out, snoozed, already invited, a blackout)
  stay as they were: no frequency rule changes them; nor do those an override let past a rule.

Set-based: the batch's decisions and touches are one stream per contact ordered by time, and each
rule's count is a window aggregate over it (RANGE of the rule's window), so nothing is joined per
pair of decision and touch and nothing crosses into Python but the sums.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from surveys.gatekeeper.rules import Rule
from surveys.models import Invitation

# As the screening reads them (touches_sql.py): a response comes at most this long after its
# invitation; cancelled and failed invitations never reached anyone and are no touch.
MAX_RESPONSE_DELAY = dt.timedelta(days=366)
COUNTED_STATUSES_SQL = "status NOT IN ({})".format(", ".join(f"'{s}'" for s in Invitation.NOT_COUNTED))

# Timestamps are stored to the microsecond: (m − W, m] is the RANGE frame [m − (W − 1 µs), m].
MICROSECOND = dt.timedelta(microseconds=1)

# Contacts' touches per department are counted 0, 1, … up to this, and "this or more".
TOUCHES_TOP_BUCKET = 5


def _scope_sql(rule: Rule, index: int, params: dict, alias: str = "e") -> str:
    """Rows (touches, or decisions' sends) a rule covers: every scope field it sets matches."""
    conditions = ["TRUE"]
    if rule.scope_department_id is not None:
        params[f"scope_department_{index}"] = rule.scope_department_id
        conditions.append(f"{alias}.department_id = %(scope_department_{index})s")
    if rule.scope_survey_kind:
        params[f"scope_kind_{index}"] = rule.scope_survey_kind
        conditions.append(f"{alias}.survey_kind = %(scope_kind_{index})s")
    if rule.scope_channel:
        params[f"scope_channel_{index}"] = rule.scope_channel
        conditions.append(f"{alias}.channel = %(scope_channel_{index})s")
    return "(" + " AND ".join(conditions) + ")"


def _counts_sql(rules: Sequence[Rule], params: dict) -> tuple[list[str], list[str]]:
    """Per rule, the count of touches it counts in its window ending at each row's moment, and the
    named window that counts them (by invitation or response time: the rule's clock)."""
    columns, windows = [], []
    for index, rule in enumerate(rules):
        params[f"frame_{index}"] = rule.window - MICROSECOND
        response = rule.clock == "response"
        order = "clock_at" if response else "at"
        counted = f"NOT e.is_decision AND {_scope_sql(rule, index, params)}"
        if response:
            counted += " AND e.answered"
        columns.append(f"count(*) FILTER (WHERE {counted}) OVER w{index} AS count_{index}")
        windows.append(
            f"w{index} AS (PARTITION BY e.contact_id ORDER BY e.{order} "
            f"RANGE BETWEEN %(frame_{index})s PRECEDING AND CURRENT ROW)"
        )
    return columns, windows


def _blocked_sql(rules: Sequence[Rule], params: dict) -> str:
    """Does some rule of the draft block the decision's send at its moment?"""
    blocks = []
    for index, rule in enumerate(rules):
        params[f"max_touches_{index}"] = rule.max_touches
        # The decision's own invitation is in its window (at its moment) under an invitation clock.
        own = "CASE WHEN c.own_counted THEN 1 ELSE 0 END" if rule.clock != "response" else "0"
        tests = [f"c.count_{index} - {own} >= %(max_touches_{index})s"]
        if rule.new_contact_grace is not None:
            params[f"grace_{index}"] = rule.new_contact_grace
            tests.append(f"c.at < coalesce(kv.created_at, cc.created_at) + %(grace_{index})s")
        blocks.append(f"({_scope_sql(rule, index, params, 'c')} AND ({' OR '.join(tests)}))")
    return " OR ".join(blocks) if blocks else "FALSE"


def _scan_from(rules: Sequence[Rule], start: dt.datetime) -> dt.datetime:
    """The oldest touch any rule can count for a decision of the period."""
    oldest = max(
        (
            rule.window + (MAX_RESPONSE_DELAY if rule.clock == "response" else dt.timedelta(0))
            for rule in rules
        ),
        default=dt.timedelta(0),
    )
    return start - oldest


# The batch's events: its counted touches and its decisions, each decision with its send's moment,
# whether its own invitation still counts, and whether it was answered. Constant text.
EVENTS_SQL = f"""touches AS MATERIALIZED (
        SELECT t.contact_id, t.send_request_id, t.touched_at, t.responded_at, t.department_id,
          t.survey_kind, t.channel
        FROM surveys_invitation t
        WHERE t.{COUNTED_STATUSES_SQL} AND t.touched_at > %(scan_from)s
          AND t.contact_id > %(lo)s AND t.contact_id <= %(hi)s
    ), decided AS (
        -- `own`: the decision's own invitation, if it still counts (the batch's touches hold it).
        -- A decision an override let past a rule (surveys/gatekeeper/overrides.py) keeps its verdict.
        SELECT d.contact_id, d.allowed, CASE WHEN d.override_id IS NULL THEN d.reason ELSE 'override' END
          AS reason, sr.department_id, sr.survey_id, s.kind AS survey_kind,
          sr.channel,
          CASE WHEN d.reason = '' AND own.touched_at IS NOT NULL THEN own.touched_at
               ELSE GREATEST(d.decided_at, sr.earliest_send_at) END AS at,
          d.reason = '' AND own.contact_id IS NOT NULL AS own_counted,
          own.responded_at IS NOT NULL AS answered
        FROM surveys_decision d
        JOIN surveys_sendrequest sr ON sr.id = d.send_request_id
        JOIN surveys_survey s ON s.id = sr.survey_id
        LEFT JOIN touches own ON own.send_request_id = d.send_request_id AND own.contact_id = d.contact_id
        WHERE d.decided_at >= %(start)s AND d.decided_at < %(end)s
          AND d.contact_id > %(lo)s AND d.contact_id <= %(hi)s
    ), events AS (
        SELECT contact_id, at, at AS clock_at, TRUE AS is_decision, allowed, reason, department_id,
          survey_id, survey_kind, channel, own_counted, answered
        FROM decided
        UNION ALL
        SELECT contact_id, touched_at, coalesce(responded_at, touched_at), FALSE, NULL, NULL,
          department_id, NULL, survey_kind, channel, NULL, responded_at IS NOT NULL
        FROM touches
    )"""  # noqa: S608


# The sums of the replayed decisions (`replayed`): per department and survey, and the contacts per
# touches bucket before and after, per department and for all (department NULL). Constant text.
SUMS_SQL = """per_contact AS (
        SELECT department_id, contact_id, count(*) FILTER (WHERE allowed) AS before,
          count(*) FILTER (WHERE allowed_after) AS after
        FROM replayed GROUP BY GROUPING SETS ((department_id, contact_id), (contact_id))
    )
    SELECT 'survey', department_id, survey_id, count(*), count(*) FILTER (WHERE allowed),
      count(*) FILTER (WHERE allowed_after), count(*) FILTER (WHERE reason = '' AND blocked),
      count(*) FILTER (WHERE reason = 'rule' AND NOT blocked), count(*) FILTER (WHERE answered)
    FROM replayed GROUP BY department_id, survey_id
    UNION ALL
    SELECT 'before', department_id, NULL, LEAST(before, %(top_bucket)s), count(*), 0, 0, 0, 0
    FROM per_contact GROUP BY 2, 4
    UNION ALL
    SELECT 'after', department_id, NULL, LEAST(after, %(top_bucket)s), count(*), 0, 0, 0, 0
    FROM per_contact GROUP BY 2, 4"""


# A new contact's grace starts when the deciding department began to know them (as screening's
# KNOWN_SINCE_JOIN_SQL), or the person's record without a department view.
GRACE_JOIN_SQL = """LEFT JOIN contacts_departmentcontact kv
             ON kv.contact_id = c.contact_id AND kv.department_id = c.department_id
           JOIN contacts_contact cc ON cc.id = c.contact_id"""


def replay_statement(rules: Sequence[Rule], params: dict) -> str:
    """The statement for one batch: params holds start, end (the period), lo and hi (the batch's
    contact ids, (lo, hi]). Its rows: ('survey', department, survey, decisions, allowed before,
    allowed after, allowed → blocked, blocked → allowed, answered), and ('before' | 'after',
    department or NULL for all, NULL, touches bucket, contacts, 0, 0, 0, 0).

    A decision decided before the rules keeps its verdict; one allowed, or blocked by a rule, is
    allowed after unless a rule of the draft blocks it (a planned one stays planned)."""
    params["scan_from"] = _scan_from(rules, params["start"])
    params["top_bucket"] = TOUCHES_TOP_BUCKET
    columns, windows = _counts_sql(rules, params)
    grace = any(rule.new_contact_grace is not None for rule in rules)
    # Every value is a bound parameter; the text is built from the rules' positions only.
    return f"""WITH {EVENTS_SQL}, counted AS (
        SELECT e.*{"".join(", " + column for column in columns)}
        FROM events e
        {"WINDOW " + ", ".join(windows) if windows else ""}
    ), replayed AS MATERIALIZED (
        SELECT c.contact_id, c.department_id, c.survey_id, c.allowed, c.reason, c.answered, b.blocked,
          CASE WHEN c.reason = '' THEN NOT b.blocked
               WHEN c.reason = 'rule' THEN c.allowed OR NOT b.blocked
               ELSE c.allowed END AS allowed_after
        FROM counted c {GRACE_JOIN_SQL if grace else ""}
        CROSS JOIN LATERAL (SELECT ({_blocked_sql(rules, params)}) AS blocked) b
        WHERE c.is_decision
    ), {SUMS_SQL}"""  # noqa: S608
