"""The gatekeeper in bulk: one SQL statement decides a whole batch of an audience.

surveys/gatekeeper/rules.py says what the rules mean; this module applies the same meaning set-based in
PostgreSQL, so a 100,000-contact audience is screened without a row crossing into Python. The
statement builds the audience, the consent state, the open invitations and, per frequency rule, the
counted touches in its window; then either reports (pre-flight: nothing is written) or inserts a
decision for every contact and a queued invitation for every allowed one.

Race-freedom: the caller holds the contacts' stripes (surveys/gatekeeper/locks.py, which also
writes down the lock order). Callers own the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from django.db import connection

from cxfeedback.db import prepared_fetch
from surveys.gatekeeper.active_rules import ActiveRules, rules_active_cached
from surveys.gatekeeper.rules import Rule, Verdict
from surveys.gatekeeper.screening_sql import BURDEN_SQL, screening_statement
from surveys.gatekeeper.touches_sql import BLACKOUTS_AT_SQL
from surveys.models import Decision, Invitation, SendRequest

# Audiences larger than this are decided in several statements (by contact id range), so the
# database never builds one huge intermediate result. A send request's screening goes further: each
# of its batches (SCREENING_BATCH_CONTACTS) is a transaction of its own (screening_batches.py).
BATCH_SIZE = 100_000

# The upper bound of the last contact id range: every contact id is below it.
LAST_CONTACT = 2**62


@dataclass(frozen=True)
class Audience:
    """Where the contacts come from. Exactly one of the fields is used."""

    send_request_id: int | None = None  # rows of surveys_audiencemember (an uploaded list)
    department_id: int | None = None  # contacts the department knows …
    attributes: dict | None = None  # … whose department view has these attributes
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

            # The department's own attributes for the person (index view_attributes_gin), never
            # the person's own or another department's.
            params["audience_attributes"] = Jsonb(self.attributes)
            sql += " AND dc.attributes @> %(audience_attributes)s"
        return sql

    def contacts_count(self) -> int:
        """How many contacts the audience has now (duplicates counted once)."""
        params: dict = {"lo": -1, "hi": LAST_CONTACT}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({self.sql(params)}) AS a", params)
            return cursor.fetchone()[0]

    def first_and_last(self, *, after: int, hi: int) -> tuple[int, int] | None:
        """The audience's first and last contact ids in (after, hi]; None if it has none there."""
        params: dict = {"lo": after, "hi": hi}
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(contact_id), max(contact_id) FROM ({self.sql(params)}) AS a", params)
            first, last = cursor.fetchone()
        return None if first is None else (first, last)

    def batch_end(self, *, after: int, size: int) -> int:
        """The upper bound `hi` of the (after, hi] contact id range holding the audience's next `size`
        contacts; LAST_CONTACT when fewer are left (contacts added meanwhile are in it too)."""
        params: dict = {"lo": after, "hi": LAST_CONTACT}
        inner = self.sql(params)
        with connection.cursor() as cursor:
            # The size-th contact, and whether another one follows it: no empty last batch.
            cursor.execute(
                f"SELECT contact_id FROM ({inner}) AS a ORDER BY contact_id OFFSET %(offset)s LIMIT 2",
                {**params, "offset": size - 1},
            )
            rows = cursor.fetchall()
        return rows[0][0] if len(rows) == 2 else LAST_CONTACT

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
    # The survey's burden in minutes; None: read from the survey when a rule counting weight
    # covers the send (weighed below), else written by the statement itself (BURDEN_SQL).
    weight: int | None = None


def weighed(send: Send, rules: Sequence[Rule]) -> Send:
    """`send` with its survey's burden, if a rule counting weight needs it and it is not known."""
    if send.weight is not None or not any(rule.counts == "weight" for rule in rules):
        return send
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {BURDEN_SQL}", {"survey_id": send.survey_id})
        return replace(send, weight=cursor.fetchone()[0])


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
    # Day (UTC) → contacts planned for then: their block ends inside the request's window.
    planned: dict[dt.date, int] = field(default_factory=dict)

    # Contacts given a slot a lower-priority reservation made way for (displacement.slots_take).
    made_way: int = 0

    @property
    def planned_total(self) -> int:
        return sum(self.planned.values())

    def took_from(self, taken: Sequence) -> None:
        """Count the contacts refused for a rule that lower-priority reservations made way for."""
        for slot in taken:
            self.made_way += 1
            self.blocked["rule"] -= 1
            self.blocked_by_rule[slot.rule_id] -= 1
            if slot.planned:
                day = slot.at.astimezone(dt.UTC).date()
                self.planned[day] = self.planned.get(day, 0) + 1
            else:
                self.allowed += 1
        self.blocked = {reason: count for reason, count in self.blocked.items() if count}
        self.blocked_by_rule = {rule: count for rule, count in self.blocked_by_rule.items() if count}

    def add_row(self, reason: str, rule_id, week, count: int, duplicates: int, latest, planned_day) -> None:
        self.contacts += count
        self.duplicates += duplicates
        if not reason:
            self.allowed += count
            return
        if planned_day is not None:
            self.planned[planned_day] = self.planned.get(planned_day, 0) + count
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
    bounds: Sequence[tuple[int, int]] | None = None,
) -> Outcome:
    """Decide every contact of the audience, batch by batch; write decisions and invitations if asked.

    With write=True the caller must hold the contacts' locks (lock_contacts) in its transaction.
    `window_end` is the end of the request's send window: a contact whose block ends by then is
    planned for that time (an invitation reserved then), not refused. `bounds`: only the audience's
    contacts in these (lo, hi] id ranges (default: all of them).
    """
    outcome = Outcome()
    covering = _covering(send, rules)
    send = weighed(send, covering)
    with connection.cursor() as cursor:
        # Most screenings meet no blackout: then the statement does not join the audience to them.
        # One opened after this look-up is one opened a moment after the screening.
        cursor.execute(BLACKOUTS_AT_SQL, {"at": send.at})
        blackouts = cursor.fetchone()[0]
    if bounds is None:
        bounds = (
            [(-1, LAST_CONTACT)]
            if audience.contact_ids is not None and len(audience.contact_ids) <= BATCH_SIZE
            else audience.batch_bounds()
        )
    with connection.cursor() as cursor:
        for lo, hi in bounds:
            params: dict = {"lo": lo, "hi": hi, "window_end": window_end or send.at}
            statement = screening_statement(
                send, covering, audience, params, write=write, blackouts=blackouts
            )
            cursor.execute(statement, params)
            for row in cursor.fetchall():
                outcome.add_row(*row)
    return outcome


def screen_rows(
    *, send: Send, rules: Sequence[Rule], audience: Audience, window_end: dt.datetime, select: str
) -> Iterator[list[tuple]]:
    """screen(write=False) closed by `select` (a SELECT over verdicts_final), batch by batch: each
    batch's rows, for a list of verdicts too long to read at once (the pre-flight's blocked list)."""
    covering = _covering(send, rules)
    send = weighed(send, covering)
    with connection.cursor() as cursor:
        for lo, hi in audience.batch_bounds():
            params: dict = {"lo": lo, "hi": hi, "window_end": window_end}
            cursor.execute(
                screening_statement(send, covering, audience, params, write=False, select=select), params
            )
            yield cursor.fetchall()


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
               v.last_touch_at, v.last_touch_same_department, v.blackout_kind
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
            blackout_kind=blackout_kind,
        )
        for (
            contact_id,
            reason,
            rule_id,
            version,
            next_eligible_at,
            last_touch_at,
            same_department,
            blackout_kind,
        ) in rows
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

    With `rules` None the rules come from this process's cache (surveys/gatekeeper/active_rules.py), and
    the statement itself checks that the rules table still has the cached fingerprint: if not, it
    decides (and writes) nothing, and is run again with the rules it saw (cached, or reloaded).
    So a rule changed a moment ago applies to the next statement, in every process, without a
    query to ask.
    """
    seen = None  # the fingerprint the last statement saw
    for _attempt in range(5):
        active = rules_active_cached(fingerprint=seen) if rules is None else None
        covering = _covering(send, active.rules if active is not None else rules)
        send = weighed(send, covering)
        params: dict = {"lo": -1, "hi": 2**62, "window_end": send.at}
        if active is not None:
            params["rules_fingerprint"] = active.fingerprint
        audience = Audience(contact_ids=list(contact_ids))
        sql = screening_statement(
            send, covering, audience, params, write=write, select=select, single=True, request=request
        )
        rows = prepared_fetch(sql, params)
        if active is None or rows[0][0] == active.fingerprint:
            return [row[1:] for row in rows if row[1] is not None], active
        seen = rows[0][0]
    raise RuntimeError("The frequency rules changed during five statements in a row.")
