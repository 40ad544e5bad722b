"""The gatekeeper in bulk: one SQL statement decides a whole batch of an audience.

surveys/rules.py says what the rules mean; this module applies the same meaning set-based in
PostgreSQL, so a 100,000-contact audience is screened without a row crossing into Python. The
statement builds the audience, the consent state, the open invitations and, per frequency rule, the
counted touches in its window; then either reports (pre-flight: nothing is written) or inserts a
decision for every contact and a queued invitation for every allowed one.

Race-freedom: see `lock_contacts`. Callers own the transaction.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper

from contacts.models import Channel, Identity
from surveys.models import Decision, Invitation, SendRequest
from surveys.rules import Rule, Verdict
from surveys.selectors.rules import RULES_FINGERPRINT_SQL, ActiveRules, rules_active_cached

# Contacts are guarded by LOCK_STRIPES transaction-level advisory locks, contact_id % LOCK_STRIPES.
# Locking one row per contact made a 100,000-contact screening spend most of its time taking row
# locks; a fixed set of stripes costs the same for any audience, and a trigger for one contact
# takes one stripe, so triggers on different contacts rarely wait for each other.
LOCK_STRIPES = 1024
LOCK_NAMESPACE = 0x6378  # "cx": the first key of the two-key advisory lock, to stay apart from others

# Audiences larger than this are decided in several statements (by contact id range), so the
# database never builds one huge intermediate result; all batches share one transaction.
BATCH_SIZE = 100_000

# Response-clock rules count touches by response time; a response can come at most this long after
# its invitation (the longest link validity), so older invitations need not be read.
MAX_RESPONSE_DELAY = dt.timedelta(days=366)

CHANNEL_IDENTITY_KIND = {Channel.EMAIL: Identity.Kind.EMAIL, Channel.SMS: Identity.Kind.PHONE}
COUNTED_STATUSES_SQL = "status NOT IN ('cancelled', 'failed')"
OPEN_STATUSES_SQL = "('queued', 'sending', 'sent', 'delivered', 'opened')"


def lock_contacts(contact_ids: Sequence[int] | None) -> None:
    """Take the stripe locks of these contacts (all stripes for None), in ascending order.

    Prevents the check-then-act race of two deciders that both count a contact's touches, both
    see room under a rule, and both add one. Every writer of counted touches (screening, triggers)
    holds the stripes of its contacts until its transaction ends; the fixed order means two
    deciders never wait on each other in a cycle. Under READ COMMITTED the statement that counts
    touches runs after the lock is granted, so it sees everything the previous holder committed.
    """
    with connection.cursor() as cursor:
        if contact_ids is None or len(contact_ids) > LOCK_STRIPES // 4:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(%s, s)) FROM generate_series(0, %s) AS s",
                [LOCK_NAMESPACE, LOCK_STRIPES - 1],
            )
            return
        stripes = sorted({contact_id % LOCK_STRIPES for contact_id in contact_ids})
        # unnest yields the sorted array in order, and the locks are taken row by row as it does.
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, s)) FROM unnest(%s::int[]) AS s",
            [LOCK_NAMESPACE, stripes],
        )


@dataclass(frozen=True)
class Audience:
    """Where the contacts come from. Exactly one of the fields is used."""

    send_request_id: int | None = None  # rows of surveys_audiencemember (an uploaded list)
    department_id: int | None = None  # contacts the department knows …
    attributes: dict | None = None  # … that have these attributes
    contact_ids: Sequence[int] | None = None  # explicit contacts (triggers, eligibility)

    def sql(self, params: dict) -> str:
        if self.contact_ids is not None:
            params["audience_ids"] = list(self.contact_ids)
            return (
                "SELECT contact_id, count(*) - 1 AS duplicates FROM unnest(%(audience_ids)s::bigint[]) "
                "AS a(contact_id) WHERE contact_id > %(lo)s AND contact_id <= %(hi)s GROUP BY contact_id"
            )
        if self.send_request_id is not None:
            params["audience_request"] = self.send_request_id
            return (
                "SELECT contact_id, count(*) - 1 AS duplicates FROM surveys_audiencemember "
                "WHERE send_request_id = %(audience_request)s "
                "AND contact_id > %(lo)s AND contact_id <= %(hi)s "
                "GROUP BY contact_id"
            )
        params["audience_department"] = self.department_id
        sql = (
            "SELECT dc.contact_id, 0 AS duplicates FROM contacts_departmentcontact dc "
            "WHERE dc.department_id = %(audience_department)s AND dc.contact_id > %(lo)s "
            "AND dc.contact_id <= %(hi)s"
        )
        if self.attributes:
            from psycopg.types.json import Jsonb

            params["audience_attributes"] = Jsonb(self.attributes)
            sql += (
                " AND EXISTS (SELECT 1 FROM contacts_contact c WHERE c.id = dc.contact_id "
                "AND c.attributes @> %(audience_attributes)s)"
            )
        return sql

    def batch_bounds(self) -> Iterator[tuple[int, int]]:
        """(lo, hi] contact id ranges of at most BATCH_SIZE audience contacts each."""
        params: dict = {"lo": -1, "hi": 2**62}
        inner = self.sql(params)
        lo = -1
        with connection.cursor() as cursor:
            while True:
                params["lo"] = lo
                cursor.execute(
                    f"SELECT contact_id FROM ({inner}) AS a ORDER BY contact_id OFFSET %(offset)s LIMIT 1",
                    {**params, "offset": BATCH_SIZE - 1},
                )
                row = cursor.fetchone()
                if row is None:
                    yield lo, 2**62
                    return
                yield lo, row[0]
                lo = row[0]


@dataclass(frozen=True)
class Send:
    """The send being screened, as the statement needs it."""

    send_request_id: int | None
    department_id: int
    survey_id: int
    survey_family_id: int
    survey_kind: str
    channel: str
    at: dt.datetime


@dataclass
class Outcome:
    """Counts from one screening or pre-flight, summed over batches."""

    contacts: int = 0
    duplicates: int = 0
    allowed: int = 0
    blocked: dict[str, int] = field(default_factory=dict)  # reason code → contacts
    blocked_by_rule: dict[int, int] = field(default_factory=dict)  # rule id → contacts
    # (reason, rule id or None, week start) → contacts eligible again in that week
    eligible_again: dict[tuple[str, int | None, dt.date], int] = field(default_factory=dict)
    # The last time-based block to end by the end of the request's send window.
    last_block_end_in_window: dt.datetime | None = None

    def add_row(self, reason: str, rule_id, week, count: int, duplicates: int, latest) -> None:
        self.contacts += count
        self.duplicates += duplicates
        if not reason:
            self.allowed += count
            return
        self.blocked[reason] = self.blocked.get(reason, 0) + count
        if rule_id is not None:
            self.blocked_by_rule[rule_id] = self.blocked_by_rule.get(rule_id, 0) + count
        if week is not None:
            key = (reason, rule_id, week)
            self.eligible_again[key] = self.eligible_again.get(key, 0) + count
        if latest is not None and (
            self.last_block_end_in_window is None or latest > self.last_block_end_in_window
        ):
            self.last_block_end_in_window = latest


def screen(
    *,
    send: Send,
    rules: Sequence[Rule],
    audience: Audience,
    write: bool,
    window_end: dt.datetime | None = None,
) -> Outcome:
    """Decide every contact of the audience, batch by batch; write decisions and invitations if asked.

    With write=True the caller must hold the contacts' locks (lock_contacts) in its transaction.
    `window_end` is the end of the request's send window, for Outcome.last_block_end_in_window.
    """
    outcome = Outcome()
    covering = _covering(send, rules)
    bounds = (
        [(-1, 2**62)]
        if audience.contact_ids is not None and len(audience.contact_ids) <= BATCH_SIZE
        else audience.batch_bounds()
    )
    with connection.cursor() as cursor:
        for lo, hi in bounds:
            params: dict = {"lo": lo, "hi": hi, "window_end": window_end or send.at}
            cursor.execute(_statement(send, covering, audience, params, write=write), params)
            for row in cursor.fetchall():
                outcome.add_row(*row)
    return outcome


def _covering(send: Send, rules: Sequence[Rule]) -> list[Rule]:
    """The rules that apply to this send, by id (the order the SQL's tie-break relies on)."""
    return [
        rule
        for rule in sorted(rules, key=lambda r: r.id)
        if rule.covers(department_id=send.department_id, survey_kind=send.survey_kind, channel=send.channel)
    ]


# The closing SELECT of verdicts_for: one row per contact instead of the summary's counts (and the
# fingerprint of the rules table the statement saw, see _single_contact).
VERDICT_ROWS_SQL = """
        SELECT rs.fingerprint, v.contact_id, v.reason, v.rule_id, v.rule_version, v.next_eligible_at,
               v.last_touch_at, v.last_touch_same_department
        FROM rules_seen rs LEFT JOIN verdicts_final v ON true"""


def verdicts_for(
    *, send: Send, contact_ids: Sequence[int], rules: Sequence[Rule] | None = None
) -> dict[int, Verdict]:
    """The verdict screen() would give each of these contacts (by id; unknown ids are left out).

    The same statement as screen(write=False), closed by a SELECT of its per-contact rows: reads
    only, reserves nothing, takes no lock. For a few contacts (the eligibility API). `rules`
    default: the active rules (see _single_contact).
    """
    rows, _ = _single_contact(send, rules, contact_ids, write=False, select=VERDICT_ROWS_SQL)
    return {
        contact_id: Verdict(
            allowed=reason == "",
            reason=reason,
            rule_id=rule_id,
            rule_version=version,
            next_eligible_at=next_eligible_at,
            last_touch_at=last_touch_at,
            last_touch_same_department=same_department,
        )
        for contact_id, reason, rule_id, version, next_eligible_at, last_touch_at, same_department in rows
    }


def screen_contacts(
    *,
    send: Send,
    contact_ids: Sequence[int],
    rules: Sequence[Rule] | None = None,
    request: SendRequest | None = None,
) -> list[tuple[Decision, Invitation | None]]:
    """screen(write=True) for a few explicit contacts (a trigger): each one's stored decision and,
    if allowed, its queued invitation, read back from the same statement (unknown ids are left out).
    `rules` default: the active rules (see _single_contact); then a decision's `rule` is set too.

    With `request`, an unsaved SendRequest (send.send_request_id None), the statement also inserts
    it with its screening summary (as send_requests.outcome_summary writes it), and sets its pk and
    screening_summary: a trigger's request, decision and invitation in one round trip. No contact
    found, no request written.

    The caller must hold the contacts' locks (lock_contacts) in its transaction.
    """
    decision_fields = list(Decision._meta.concrete_fields)
    invitation_fields = list(Invitation._meta.concrete_fields)
    columns = [f"d.{f.column}" for f in decision_fields] + [f"i.{f.column}" for f in invitation_fields]
    written_sql = "decided d LEFT JOIN invited i ON i.contact_id = d.contact_id"
    if request is not None:
        columns = ["r.id", "r.screening_summary", *columns]
        written_sql = f"requested r CROSS JOIN {written_sql}"
    select = f"""
        SELECT rs.fingerprint, {", ".join(columns)}
        FROM rules_seen rs LEFT JOIN ({written_sql}) ON true"""
    rows, active = _single_contact(send, rules, contact_ids, write=True, select=select, request=request)
    if request is not None and rows:
        request.pk, request.screening_summary = rows[0][:2]
        rows = [row[2:] for row in rows]
    split = len(decision_fields)
    decision_names = [f.attname for f in decision_fields]
    invitation_names = [f.attname for f in invitation_fields]
    written = []
    for row in rows:
        decision = Decision.from_db(connection.alias, decision_names, row[:split])
        if active is not None and decision.rule_id in active.models:
            decision.rule = active.models[decision.rule_id]
        invitation = (
            Invitation.from_db(connection.alias, invitation_names, row[split:])
            if row[split] is not None
            else None
        )
        written.append((decision, invitation))
    return written


def _single_contact(
    send: Send,
    rules: Sequence[Rule] | None,
    contact_ids: Sequence[int],
    *,
    write: bool,
    select: str,
    request: SendRequest | None = None,
) -> tuple[list[tuple], ActiveRules | None]:
    """Run the statement for a few contacts; its rows (fingerprint column dropped) and, with the
    default rules, the cached active rules it used.

    With `rules` None the rules come from this process's cache (surveys/selectors/rules.py), and
    the statement itself checks that the rules table still has the cached fingerprint: if not, it
    decides (and writes) nothing, and is run again with the rules it saw (cached, or reloaded).
    So a rule changed a moment ago applies to the next statement, in every process, without a
    query to ask.
    """
    seen = None  # the fingerprint the last statement saw
    for _attempt in range(5):
        active = rules_active_cached(fingerprint=seen) if rules is None else None
        covering = _covering(send, active.rules if active is not None else rules)
        params: dict = {"lo": -1, "hi": 2**62, "window_end": send.at}
        if active is not None:
            params["rules_fingerprint"] = active.fingerprint
        audience = Audience(contact_ids=list(contact_ids))
        sql = _statement(
            send, covering, audience, params, write=write, select=select, single=True, request=request
        )
        with _prepared_cursor() as cursor:
            if isinstance(cursor.cursor, psycopg.RawCursor):
                numbered, names = _numbered(sql)
                cursor.execute(numbered, [params[name] for name in names])
            else:
                cursor.execute(sql, params)
            rows = cursor.fetchall()
        if active is None or rows[0][0] == active.fingerprint:
            return [row[1:] for row in rows if row[1] is not None], active
        seen = rows[0][0]
    raise RuntimeError("The frequency rules changed during five statements in a row.")


def _prepared_cursor() -> CursorWrapper:
    """A Django cursor that binds parameters on the server, so psycopg prepares a statement run often
    (settings DB_PREPARE_THRESHOLD) and PostgreSQL plans it once per connection, not on every call.

    For the single-contact statements (triggers, eligibility): planning the screening statement
    took about 4 ms of the server's time, running it for one contact 0.2 ms. Django's own cursors
    bind on the client, which never prepares. A raw cursor (PostgreSQL's own $1 placeholders, see
    _numbered) unless Django logs queries, which it can only show with psycopg's placeholders.
    """
    connection.ensure_connection()
    if connection.queries_logged:
        return connection.make_debug_cursor(psycopg.Cursor(connection.connection))
    return connection.make_cursor(psycopg.RawCursor(connection.connection))


_NAMED_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@functools.lru_cache(maxsize=64)
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with its %(name)s placeholders as PostgreSQL's $1, $2 …, and the names in that order.

    Cached: the few-contact statements differ only by the rules that cover a send, and psycopg's
    own conversion, redone on every call for a statement this long, was a twentieth of a trigger.
    """
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAMED_PLACEHOLDER.sub(number, sql).replace("%%", "%"), tuple(names)


def _statement(
    send: Send,
    rules: Sequence[Rule],
    audience: Audience,
    params: dict,
    *,
    write: bool,
    select: str = "",
    single: bool = False,
    request: SendRequest | None = None,
) -> str:
    """The screening statement; `select` replaces the closing summary (verdicts_for reads the rows).

    `single` (the few-contact statements) adds `rules_seen`, the fingerprint of the rules table,
    and with params["rules_fingerprint"] an audience that is empty unless the two agree.
    """
    params.update(
        at=send.at,
        department_id=send.department_id,
        channel=send.channel,
        identity_kind=CHANNEL_IDENTITY_KIND[send.channel],
        survey_family_id=send.survey_family_id,
    )
    audience_sql = audience.sql(params)
    ctes = []
    if single:
        ctes.append(f"rules_seen AS MATERIALIZED ({RULES_FINGERPRINT_SQL})")
        if "rules_fingerprint" in params:
            audience_sql = (
                f"SELECT * FROM ({audience_sql}) AS unguarded "
                "WHERE (SELECT fingerprint FROM rules_seen) = %(rules_fingerprint)s"
            )
    ctes += [
        f"audience AS MATERIALIZED ({audience_sql})",
        # The contact's latest opt-out or opt-in that applies decides; an opt-in also ends every
        # earlier snooze (contacts/consent.py).
        """opt AS (
            SELECT DISTINCT ON (k.contact_id) k.contact_id, k.kind, k.created_at, k.id
            FROM contacts_consent k JOIN audience a ON a.contact_id = k.contact_id
            WHERE k.kind IN ('opt_out', 'opt_in') AND k.created_at <= %(at)s
              AND (k.department_id IS NULL OR k.department_id = %(department_id)s)
              AND k.channel IN ('', %(channel)s)
            ORDER BY k.contact_id, k.created_at DESC, k.id DESC)""",
        """snooze AS (
            SELECT k.contact_id, max(k.until) AS until
            FROM contacts_consent k JOIN audience a ON a.contact_id = k.contact_id
            LEFT JOIN opt o ON o.contact_id = k.contact_id AND o.kind = 'opt_in'
            WHERE k.kind = 'snooze' AND k.created_at <= %(at)s
              AND (k.department_id IS NULL OR k.department_id = %(department_id)s)
              AND k.channel IN ('', %(channel)s)
              AND (o.contact_id IS NULL OR (k.created_at, k.id) > (o.created_at, o.id))
            GROUP BY k.contact_id)""",
        # Semi-joins driven by the audience: a hash join for a large one, an index probe per
        # contact for a trigger's one contact.
        """addressed AS (
            SELECT a.contact_id FROM audience a
            WHERE EXISTS (SELECT 1 FROM contacts_identity i
                          WHERE i.contact_id = a.contact_id AND i.kind = %(identity_kind)s))""",
        f"""open_invitation AS (
            SELECT a.contact_id FROM audience a
            WHERE EXISTS (SELECT 1 FROM surveys_invitation i
                          WHERE i.contact_id = a.contact_id AND i.survey_family_id = %(survey_family_id)s
                            AND i.status IN {OPEN_STATUSES_SQL}))""",
    ]
    rule_sql = _rules_sql(rules, params)
    if rule_sql:
        ctes.append(rule_sql)
    # The contacts table is read for grace periods, and to leave out explicit ids of no contact;
    # the other audiences' rows reference a contact through a foreign key, so each one exists.
    read_contacts = audience.contact_ids is not None or any(r.new_contact_grace is not None for r in rules)
    ctes.append(_verdicts_sql(rules, params, has_touches=bool(rule_sql), read_contacts=read_contacts))
    if write:
        # A caller that closes the statement itself (screen_contacts) reads back what was written.
        if request is not None:
            ctes.append(_request_sql(request, params))
        ctes.extend(_write_sql(send, params, returning=bool(select), new_request=request is not None))
    summary = """
        SELECT reason, rule_id, (date_trunc('week', next_eligible_at AT TIME ZONE 'UTC'))::date,
               count(*), sum(duplicates)::int,
               max(next_eligible_at) FILTER (WHERE next_eligible_at <= %(window_end)s)
        FROM verdicts_final GROUP BY 1, 2, 3"""
    return "WITH " + ",\n".join(ctes) + (select or summary)


def _rules_sql(rules: Sequence[Rule], params: dict) -> str:
    """Per contact and rule: touches counted in the window, the max_touches-th latest, the latest."""
    if not any(True for _ in rules):
        return ""
    columns = []
    scan_from = None
    for index, rule in enumerate(rules):
        clock = "t.responded_at" if rule.clock == "response" else "t.touched_at"
        params[f"window_{index}"] = rule.window
        counted = f"{_scope_sql(rule, index, params)} AND {clock} > %(at)s - %(window_{index})s"
        columns.append(f"count(*) FILTER (WHERE {counted}) AS count_{index}")
        if rule.max_touches == 1:
            columns.append(f"max({clock}) FILTER (WHERE {counted}) AS nth_{index}")
        else:
            columns.append(
                f"(array_agg({clock} ORDER BY {clock} DESC) FILTER (WHERE {counted}))"
                f"[{rule.max_touches}] AS nth_{index}"
            )
        columns.append(f"max({clock}) FILTER (WHERE {counted}) AS last_{index}")
        columns.append(
            f"max({clock}) FILTER (WHERE {counted} AND t.department_id = %(department_id)s) AS own_{index}"
        )
        oldest = rule.window + (MAX_RESPONSE_DELAY if rule.clock == "response" else dt.timedelta(0))
        scan_from = oldest if scan_from is None else max(scan_from, oldest)
    params["scan_window"] = scan_from
    return f"""touches AS (
        SELECT t.contact_id, {", ".join(columns)}
        FROM surveys_invitation t JOIN audience a ON a.contact_id = t.contact_id
        WHERE t.{COUNTED_STATUSES_SQL} AND t.touched_at > %(at)s - %(scan_window)s
          -- The batch's id range: a large audience's later batches skip the others' touches
          -- while scanning the index, before they reach the join.
          AND t.contact_id > %(lo)s AND t.contact_id <= %(hi)s
        GROUP BY t.contact_id)"""


def _scope_sql(rule: Rule, index: int, params: dict) -> str:
    """Which touches a rule counts: those matching every scope field it sets."""
    conditions = ["TRUE"]
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


def _verdicts_sql(
    rules: Sequence[Rule], params: dict, *, has_touches: bool, read_contacts: bool = True
) -> str:
    """One row per contact: the reason it is blocked ('' if allowed) and the details to explain it."""
    blocks = []
    for index, rule in enumerate(rules):
        params[f"max_touches_{index}"] = rule.max_touches
        parts = [
            f"CASE WHEN coalesce(t.count_{index}, 0) >= %(max_touches_{index})s "
            f"THEN t.nth_{index} + %(window_{index})s END"
        ]
        if rule.new_contact_grace is not None:
            params[f"grace_{index}"] = rule.new_contact_grace
            parts.append(
                f"CASE WHEN %(at)s < c.created_at + %(grace_{index})s "
                f"THEN c.created_at + %(grace_{index})s END"
            )
        blocks.append(f"GREATEST({', '.join(parts)}) AS block_{index}")
    rule_columns = ", ".join(blocks) if blocks else "NULL::timestamptz AS no_rule"
    # Typed even with no rule covering the send: a bare NULL is text, which the CASE mixing it
    # with snooze ends (timestamptz) in verdicts_final cannot use.
    longest_sql = (
        f"GREATEST({', '.join(f'r.block_{i}' for i in range(len(rules)))})" if rules else "NULL::timestamptz"
    )
    longest = "g.longest"

    def pick(value) -> str:
        """The value of the rule whose block lasts longest; ties go to the smallest rule id (rules
        are sorted by id), as in surveys.rules.rules_verdict."""
        if not rules:
            return "NULL"
        cases = " ".join(
            f"WHEN r.block_{i} = {longest} THEN {value(i, rule)}" for i, rule in enumerate(rules)
        )
        return f"CASE {cases} END"

    touches_join = "LEFT JOIN touches t ON t.contact_id = a.contact_id" if has_touches else ""
    # Materialized, so each contact's reason is worked out once, not once per column that uses it.
    return f"""verdicts AS MATERIALIZED (
        SELECT a.contact_id, a.duplicates,
          CASE
            WHEN ad.contact_id IS NULL THEN 'no_address'
            WHEN o.kind = 'opt_out' THEN 'opted_out'
            WHEN s.until > %(at)s THEN 'snoozed'
            WHEN oi.contact_id IS NOT NULL THEN 'already_invited'
            WHEN {longest} IS NOT NULL THEN 'rule'
            ELSE ''
          END AS reason,
          {pick(lambda i, rule: str(rule.id))}::bigint AS rule_id,
          {pick(lambda i, rule: str(rule.version))}::int AS rule_version,
          {longest} AS rule_next,
          {pick(lambda i, rule: f"t.last_{i}") if has_touches else "NULL::timestamptz"} AS rule_last_touch,
          {pick(_own_touch_sql) if has_touches else "NULL::boolean"} AS rule_own,
          s.until AS snoozed_until
        FROM audience a
        {"JOIN contacts_contact c ON c.id = a.contact_id" if read_contacts else ""}
        LEFT JOIN addressed ad ON ad.contact_id = a.contact_id
        LEFT JOIN opt o ON o.contact_id = a.contact_id
        LEFT JOIN snooze s ON s.contact_id = a.contact_id
        LEFT JOIN open_invitation oi ON oi.contact_id = a.contact_id
        {touches_join}
        -- OFFSET 0 keeps each lateral subquery from being folded into the columns that use it, so
        -- every block (and the longest) is computed once per contact, not once per reference.
        CROSS JOIN LATERAL (SELECT {rule_columns} OFFSET 0) r
        CROSS JOIN LATERAL (SELECT {longest_sql} AS longest OFFSET 0) g
    ), verdicts_final AS (
        SELECT contact_id, duplicates, reason,
          CASE WHEN reason = 'rule' THEN rule_id END AS rule_id,
          CASE WHEN reason = 'rule' THEN rule_version END AS rule_version,
          CASE reason WHEN 'rule' THEN rule_next WHEN 'snoozed' THEN snoozed_until END AS next_eligible_at,
          CASE WHEN reason = 'rule' THEN rule_last_touch END AS last_touch_at,
          CASE WHEN reason = 'rule' THEN rule_own END AS last_touch_same_department
        FROM verdicts)"""


def _own_touch_sql(index: int, rule: Rule) -> str:
    """Was the latest counted touch the asking department's own? NULL when there is none."""
    return f"CASE WHEN t.last_{index} IS NOT NULL THEN coalesce(t.own_{index} = t.last_{index}, false) END"


def _request_sql(request: SendRequest, params: dict) -> str:
    """INSERT the unsaved `request` with the summary of verdicts_final, if it has any contact."""
    fields = [
        f for f in SendRequest._meta.concrete_fields if not f.primary_key and f.name != "screening_summary"
    ]
    for index, f in enumerate(fields):
        params[f"request_{index}"] = f.get_db_prep_save(f.pre_save(request, add=True), connection)
    values = ", ".join(f"%(request_{index})s" for index in range(len(fields)))
    # send_requests.outcome_summary, in SQL.
    return f"""requested AS (
        INSERT INTO surveys_sendrequest ({", ".join(f.column for f in fields)}, screening_summary)
        SELECT {values}, jsonb_build_object(
            'audience_rows', count(*) + sum(duplicates), 'contacts', count(*),
            'allowed', count(*) FILTER (WHERE reason = ''),
            'blocked', (SELECT coalesce(jsonb_object_agg(reason, n), '{{}}') FROM (
                SELECT reason, count(*) AS n FROM verdicts_final WHERE reason <> '' GROUP BY reason
                UNION ALL
                SELECT 'duplicate_in_audience', sum(duplicates) FROM verdicts_final HAVING sum(duplicates) > 0
            ) b),
            'blocked_by_rule', (SELECT coalesce(jsonb_object_agg(rule_id::text, n), '{{}}') FROM (
                SELECT rule_id, count(*) AS n FROM verdicts_final WHERE rule_id IS NOT NULL GROUP BY rule_id
            ) r))
        FROM verdicts_final HAVING count(*) > 0
        RETURNING id, screening_summary)"""


def _write_sql(send: Send, params: dict, *, returning: bool = False, new_request: bool = False) -> list[str]:
    """The INSERTs of decisions and invitations; with `returning`, each returns its rows' columns.
    With `new_request` they belong to the request the statement inserts (`requested`)."""
    params.update(
        send_request_id=send.send_request_id,
        survey_id=send.survey_id,
        survey_kind=send.survey_kind,
    )
    request_id = "(SELECT id FROM requested)" if new_request else "%(send_request_id)s"
    decided_returning = _returning(Decision) if returning else ""
    invited_returning = _returning(Invitation) if returning else ""
    return [
        f"""decided AS (
            INSERT INTO surveys_decision (send_request_id, contact_id, allowed, reason, rule_id, rule_version,
                next_eligible_at, last_touch_at, last_touch_same_department, decided_at)
            SELECT {request_id}, contact_id, reason = '', reason, rule_id, rule_version,
                next_eligible_at, last_touch_at, last_touch_same_department, now()
            FROM verdicts_final ORDER BY contact_id{decided_returning})""",
        f"""invited AS (
            INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                survey_kind, contact_id, channel, status, touched_at, attempts, reminders_sent,
                failure_reason, created_at, updated_at)
            SELECT {request_id}, %(survey_id)s, %(survey_family_id)s, %(department_id)s,
                %(survey_kind)s, contact_id, %(channel)s, 'queued', %(at)s, 0, 0, '', now(), now()
            FROM verdicts_final WHERE reason = '' ORDER BY contact_id{invited_returning})""",
    ]


def _returning(model) -> str:
    """RETURNING every column of `model`, in the order Model.from_db reads them."""
    return " RETURNING " + ", ".join(field.column for field in model._meta.concrete_fields)
