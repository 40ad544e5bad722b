"""The counted touches and the blackouts of the screening statement's audience, in SQL
(screening_sql.py): per frequency rule, what it counts of each contact's touches (its own, and
with a rule per account its account's), and the blackout blocking each contact."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from surveys.gatekeeper.rules import Rule

# Response-clock rules count touches by response time; a response can come at most this long after
# its invitation (the longest link validity), so older invitations need not be read.
MAX_RESPONSE_DELAY = dt.timedelta(days=366)

COUNTED_STATUSES_SQL = "status NOT IN ('cancelled', 'failed')"

# A batch whose contact ids span at most this many reads each of its contacts' recent touches from
# the index by contact and time (invitation_counted_by_contact), one probe per contact: its cost
# follows the batch, not the history. Left to itself the planner either scanned the index by time
# for the recent touches of everyone, the screening's earlier batches' new invitations included
# (it grew with each batch: 89 of a batch's 94 ms by the last of 100 at 1,000,000 contacts), or read
# every touch of the range, years of them, to keep the recent ones (200 ms a batch of 10,000 at 50
# touches a contact, against 45 ms probed). A wider range (a sparse audience, a trigger's single
# contact), or a rule per account (its account mates' touches lie outside the range), is left to
# the planner.
RANGE_SCAN_IDS = 50_000


# The blackouts blocking each audience contact at the send's time, its own and its account's: the
# one that blocks longest (an open one, then the latest end; ties: the smallest id), as
# rules.blackout_blocking picks it. Driven by the blackouts, a few rows: the account's through the
# index on contacts' account.
BLACKOUT_SQL = """blackout AS (
        SELECT DISTINCT ON (x.contact_id) x.contact_id, x.kind, x.ends
        FROM (SELECT a.contact_id, b.id, b.kind, b.opened_at, b.closed_at, b.closed_at + b.tail AS ends
              FROM surveys_blackout b JOIN audience a ON a.contact_id = b.contact_id
              UNION ALL
              SELECT a.contact_id, b.id, b.kind, b.opened_at, b.closed_at, b.closed_at + b.tail
              FROM surveys_blackout b JOIN contacts_contact m ON m.account_id = b.account_id
              JOIN audience a ON a.contact_id = m.id) x
        WHERE x.opened_at <= %(at)s AND (x.closed_at IS NULL OR x.ends > %(at)s)
        ORDER BY x.contact_id, x.closed_at IS NULL DESC, x.ends DESC, x.id)"""


# The same CTE when no blackout blocks anyone at the send's time (BLACKOUTS_AT_SQL): a large
# screening then skips joining its audience to them.
NO_BLACKOUT_SQL = (
    "blackout AS (SELECT NULL::bigint AS contact_id, ''::varchar AS kind, NULL::timestamptz AS ends "
    "WHERE false)"
)

# Does any blackout block anyone at %(at)s?
BLACKOUTS_AT_SQL = (
    "SELECT EXISTS (SELECT 1 FROM surveys_blackout WHERE opened_at <= %(at)s "
    "AND (closed_at IS NULL OR closed_at + tail > %(at)s))"
)


def rules_sql(rules: Sequence[Rule], params: dict) -> str:
    """Three CTEs. `counted`, the counted touches of the audience's contacts (and of their account
    mates, with a rule per account) since the widest window began. `touches`, per contact and rule
    `i`: `count_i`, the units (touches, or minutes for a rule counting weight) the rule counts in
    the window that ends at the send; `nth_i`, the latest of those touches that the block waits for
    to leave the window (rules.Rule.limit from the latest back); `last_i` and `own_i`, the latest
    within a window either side, and the latest of those that is the department's own; and
    `latest`, the contact's latest touch.
    `ahead`, for the few contacts with a touch after the send (a planned send): `times_i`, every
    clock time rule `i` counts from one window before the send on (window_sql reads them), and for
    a rule counting weight `units_i`, their minutes."""
    if not any(True for _ in rules):
        return ""
    columns, arrays = [], []
    scan_from = None
    per_account = any(rule.per_account for rule in rules)
    for index, rule in enumerate(rules):
        clock = "t.responded_at" if rule.clock == "response" else "t.touched_at"
        params[f"window_{index}"] = rule.window
        window = f"%(window_{index})s"
        counted = f"{_scope_sql(rule, index, params, mates=per_account)} AND {clock} > %(at)s - {window}"
        before = f"{counted} AND {clock} <= %(at)s"
        near = f"{counted} AND {clock} < %(at)s + {window}"
        columns += [
            *_count_and_nth(rule, index, clock, before),
            f"max({clock}) FILTER (WHERE {near}) AS last_{index}",
            f"max({clock}) FILTER (WHERE {near} AND t.department_id = %(department_id)s) AS own_{index}",
        ]
        arrays.append(f"array_agg({clock}) FILTER (WHERE {counted}) AS times_{index}")
        if rule.counts == "weight":
            arrays.append(f"array_agg(t.weight) FILTER (WHERE {counted}) AS units_{index}")
        oldest = rule.window + (MAX_RESPONSE_DELAY if rule.clock == "response" else dt.timedelta(0))
        scan_from = oldest if scan_from is None else max(scan_from, oldest)
    params["scan_window"] = scan_from
    return f"""{_counted_sql(params, per_account=per_account)},
    touches AS (
        SELECT t.contact_id, {", ".join(columns)}, max(GREATEST(t.touched_at, t.responded_at)) AS latest
        FROM counted t GROUP BY t.contact_id),
    ahead AS (
        SELECT t.contact_id, {", ".join(arrays)}
        FROM counted t
        WHERE t.contact_id IN (SELECT contact_id FROM touches WHERE latest > %(at)s)
        GROUP BY t.contact_id)"""


def _counted_sql(params: dict, *, per_account: bool) -> str:
    """The `counted` CTE, read by both `touches` and `ahead`. Read twice, `ahead` scanned the batch's
    touches again to find the few contacts with one after the send: a tenth of a 10,000-contact
    batch at 1,000,000 contacts (bench_screening), for no row at all most of the time."""
    ranged = params["hi"] - params["lo"] <= RANGE_SCAN_IDS
    own = ", t.own" if per_account else ""
    return f"""counted AS MATERIALIZED (
        SELECT t.contact_id, {_prefixed("t")}{own}
        {_counted_rows_sql(per_account=per_account, ranged=ranged)})"""


def _count_and_nth(rule: Rule, index: int, clock: str, before: str) -> list[str]:
    """`count_i` and `nth_i` of rule `index` (see _rules_sql); `max_touches_i` is its limit."""
    if rule.counts == "weight":
        # The latest touch at which the minutes, summed from the latest back, reach the limit.
        nth = (
            f"(SELECT y FROM (SELECT y, sum(u) OVER (ORDER BY y DESC) AS upto FROM unnest("
            f"array_agg({clock}) FILTER (WHERE {before}), array_agg(t.weight) FILTER (WHERE {before})"
            f") AS z(y, u)) z WHERE upto >= %(max_touches_{index})s ORDER BY y DESC LIMIT 1)"
        )
        return [f"sum(t.weight) FILTER (WHERE {before}) AS count_{index}", f"{nth} AS nth_{index}"]
    if rule.max_touches == 1:
        nth = f"max({clock}) FILTER (WHERE {before})"
    else:
        nth = f"(array_agg({clock} ORDER BY {clock} DESC) FILTER (WHERE {before}))[{rule.max_touches}]"
    return [f"count(*) FILTER (WHERE {before}) AS count_{index}", f"{nth} AS nth_{index}"]


# The invitation's columns a rule reads, as `t`.
TOUCH_COLUMNS = "touched_at, responded_at, department_id, survey_kind, channel, weight"


def _counted_rows_sql(*, per_account: bool, ranged: bool) -> str:
    """The FROM and WHERE of the counted touches of the batch's audience, as `t`; `ranged`: probe
    each contact's recent ones (RANGE_SCAN_IDS).

    With a rule per account, `t` also holds the touches of the other contacts of each contact's
    account (`t.own` false; the other rules leave them out, see _scope_sql), and, for each other
    contact of its account named earlier (by id) in the same audience, a touch like the send at
    its time: account mates in one statement are decided in id order, each counted as touched,
    so together they never pass a cap (they may fall short of it when an earlier one is blocked
    for another reason)."""
    batch = "AND t.contact_id > %(lo)s AND t.contact_id <= %(hi)s"
    if not per_account and ranged:
        # OFFSET 0 keeps the subquery a probe per contact: pulled up into a join, the planner hashed
        # the recent touches of everyone instead.
        return f"""FROM audience a CROSS JOIN LATERAL (
            SELECT i.contact_id, {_prefixed("i")} FROM surveys_invitation i
            WHERE i.contact_id = a.contact_id AND i.{COUNTED_STATUSES_SQL}
              AND i.touched_at > %(at)s - %(scan_window)s OFFSET 0) t"""
    if not per_account:
        return f"""FROM surveys_invitation t JOIN audience a ON a.contact_id = t.contact_id
        WHERE t.{COUNTED_STATUSES_SQL} AND t.touched_at > %(at)s - %(scan_window)s
          -- The batch's id range: a large audience's later batches skip the others' touches
          -- while scanning the index, before they reach the join.
          {batch}"""
    recent = f"i.{COUNTED_STATUSES_SQL} AND i.touched_at > %(at)s - %(scan_window)s"
    return f"""FROM (
            SELECT i.contact_id, {_prefixed("i")}, true AS own
            FROM surveys_invitation i JOIN audience a ON a.contact_id = i.contact_id
            WHERE {recent} AND i.contact_id > %(lo)s AND i.contact_id <= %(hi)s
            UNION ALL
            SELECT a.contact_id, {_prefixed("i")}, false
            FROM audience a JOIN contacts_contact ac ON ac.id = a.contact_id
            JOIN contacts_contact m ON m.account_id = ac.account_id AND m.id <> ac.id
            JOIN surveys_invitation i ON i.contact_id = m.id
            WHERE {recent}
            UNION ALL
            SELECT a.contact_id, %(at)s, NULL, %(department_id)s, %(survey_kind)s, %(channel)s,
                %(send_weight)s, false
            FROM audience a JOIN contacts_contact ac ON ac.id = a.contact_id
            JOIN contacts_contact m ON m.account_id = ac.account_id AND m.id < ac.id
            JOIN audience b ON b.contact_id = m.id) t
        WHERE TRUE {batch}"""


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in TOUCH_COLUMNS.split(","))


def _scope_sql(rule: Rule, index: int, params: dict, *, mates: bool) -> str:
    """Which touches a rule counts: those matching every scope field it sets (and, unless it is
    per account, only the contact's own)."""
    conditions = ["t.own" if mates and not rule.per_account else "TRUE"]
    if rule.scope_department_id is not None:
        params[f"scope_department_{index}"] = rule.scope_department_id
        conditions.append(f"t.department_id = %(scope_department_{index})s")
    if rule.scope_survey_kind:
        params[f"scope_kind_{index}"] = rule.scope_survey_kind
        conditions.append(f"t.survey_kind = %(scope_kind_{index})s")
    if rule.scope_channel:
        params[f"scope_channel_{index}"] = rule.scope_channel
        conditions.append(f"t.channel = %(scope_channel_{index})s")
    return " AND ".join(conditions)
