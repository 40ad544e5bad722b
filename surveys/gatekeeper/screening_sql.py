"""The SQL text of the set-based screening: one statement of CTEs that reads the audience, their
addresses, consent, open invitations and counted touches, decides every contact as
surveys/gatekeeper/rules.py does, and (when writing) inserts the decisions and invitations.
screening.py runs it; tests/surveys/gatekeeper/test_screening_matches_rules.py holds the two equal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import connection

from contacts.models import CHANNEL_IDENTITY_KIND
from surveys.gatekeeper.active_rules import RULES_FINGERPRINT_SQL
from surveys.gatekeeper.decision_partitions import REQUEST_MONTH_SQL
from surveys.gatekeeper.rules import Rule
from surveys.gatekeeper.touches_sql import BLACKOUT_SQL, NO_BLACKOUT_SQL, rules_sql

# Read from here by surveys/gatekeeper/simulation_sql.py; they live with the counted touches.
from surveys.gatekeeper.touches_sql import COUNTED_STATUSES_SQL as COUNTED_STATUSES_SQL
from surveys.gatekeeper.touches_sql import MAX_RESPONSE_DELAY as MAX_RESPONSE_DELAY
from surveys.gatekeeper.window_sql import next_eligible_sql, rule_block_columns
from surveys.models import Decision, Invitation, SendRequest
from surveys.models.gatekeeper import request_month_of

if TYPE_CHECKING:  # the statement's inputs; screening.py imports this module
    from surveys.gatekeeper.screening import Audience, Send


OPEN_STATUSES_SQL = "('queued', 'sending', 'sent', 'delivered', 'opened')"


# departments.models.CompanySettings.current().share_contact_channels, in SQL: off without the row.
SHARE_CONTACT_CHANNELS_SQL = (
    "coalesce((SELECT share_contact_channels FROM departments_companysettings WHERE id = 1), false)"
)


# Per audience contact: consent that applies, an address on the channel, an open invitation of the
# survey. Constant text: every value is a bound parameter of the screening statement.
CONSENT_AND_ADDRESS_SQL = [
    # The contact's latest opt-out or opt-in that applies decides; an opt-in also ends every
    # earlier snooze (contacts/consent.py). Both read only the batch's id range of consents: the
    # whole table hashed for every batch made each one slower the more contacts the book held.
    """opt AS (
        SELECT DISTINCT ON (k.contact_id) k.contact_id, k.kind, k.created_at, k.id
        FROM contacts_consent k JOIN audience a ON a.contact_id = k.contact_id
        WHERE k.kind IN ('opt_out', 'opt_in') AND k.created_at <= %(at)s
          AND (k.department_id IS NULL OR k.department_id = %(department_id)s)
          AND k.channel IN ('', %(channel)s) AND k.contact_id > %(lo)s AND k.contact_id <= %(hi)s
        ORDER BY k.contact_id, k.created_at DESC, k.id DESC)""",
    """snooze AS (
        SELECT k.contact_id, max(k.until) AS until
        FROM contacts_consent k JOIN audience a ON a.contact_id = k.contact_id
        LEFT JOIN opt o ON o.contact_id = k.contact_id AND o.kind = 'opt_in'
        WHERE k.kind = 'snooze' AND k.created_at <= %(at)s
          AND (k.department_id IS NULL OR k.department_id = %(department_id)s)
          AND k.channel IN ('', %(channel)s) AND k.contact_id > %(lo)s AND k.contact_id <= %(hi)s
          AND (o.contact_id IS NULL OR (k.created_at, k.id) > (o.created_at, o.id))
        GROUP BY k.contact_id)""",
    # Semi-joins driven by the audience: a hash join for a large one, an index probe per
    # contact for a trigger's one contact.
    # `addressed`: an address the department may use, one it supplied (first, on the identity, or
    # later: contacts/supplies.py), one the customer gave, or any when the CX lead shares contact
    # channels. The later suppliers are a join, not an EXISTS nested in the EXISTS: a large audience
    # hashes them once instead of probing the index per identity (twice the time at 100,000); a
    # trigger's contact probes the unique (identity, department) index. The setting is read in the
    # statement: a trigger pays no round trip for it. The batch's id range again: without it a
    # batch of a 100,000-contact book hashed every address of the book (72 of its 300 ms).
    f"""addressed AS (
        SELECT a.contact_id FROM audience a
        WHERE EXISTS (SELECT 1 FROM contacts_identity i
                      LEFT JOIN contacts_departmentidentity s
                        ON s.identity_id = i.id AND s.department_id = %(department_id)s
                      WHERE i.contact_id = a.contact_id AND i.kind = %(identity_kind)s
                        AND i.contact_id > %(lo)s AND i.contact_id <= %(hi)s
                        AND ({SHARE_CONTACT_CHANNELS_SQL} OR i.given_by_customer
                             OR i.department_id = %(department_id)s OR s.identity_id IS NOT NULL)))""",
    # The batch's id range again, though the audience is in it already: a large audience's later
    # batches hash the open invitations of their own range, not every one the earlier ones queued.
    f"""open_invitation AS (
        SELECT a.contact_id FROM audience a
        WHERE EXISTS (SELECT 1 FROM surveys_invitation i
                      WHERE i.contact_id = a.contact_id AND i.survey_family_id = %(survey_family_id)s
                        AND i.status IN {OPEN_STATUSES_SQL}
                        AND i.contact_id > %(lo)s AND i.contact_id <= %(hi)s))""",
]


# A survey's burden in minutes (Survey.burden_weight, or surveys.models.burden_estimate of its
# questions), for the survey being sent; 1 without one (a kind asked about without a survey).
BURDEN_SQL = """coalesce((SELECT coalesce(v.burden_weight, GREATEST(1, (
        SELECT (count(*) + 2) / 4 FROM surveys_question q WHERE q.survey_id = v.id)))
    FROM surveys_survey v WHERE v.id = %(survey_id)s), 1)"""


# Where a blocked contact's next eligible time is looked for from: the end of a snooze (or of a
# blackout, if later) or of a blackout, or the send; none while a blackout is open (rules.decide).
START_SQL = """CASE v0.reason
      WHEN 'snoozed' THEN CASE WHEN bo.contact_id IS NOT NULL AND bo.ends IS NULL THEN NULL
                               ELSE GREATEST(s.until, bo.ends) END
      WHEN 'blackout' THEN bo.ends
      ELSE %(at)s::timestamptz END"""


# Since when the deciding department has known the contact: a new contact's grace starts there.
# Its own view's start, not the person's first day with any department: a person another
# department has known for years is new to this one, and a grace that said otherwise would tell it
# that someone knew them. A contact without a view (an explicit id the department was just given)
# falls back to the person's.
KNOWN_SINCE_JOIN_SQL = """JOIN contacts_contact c ON c.id = a.contact_id
        LEFT JOIN contacts_departmentcontact kv
          ON kv.contact_id = a.contact_id AND kv.department_id = %(department_id)s"""


# The screening's closing SELECT unless a caller reads the rows: counts per reason, rule and week
# the block ends (screening.Outcome), the last block ending inside the request's window, and the
# day contacts are planned for.
SUMMARY_SQL = """
    SELECT reason, rule_id, (date_trunc('week', next_eligible_at AT TIME ZONE 'UTC'))::date,
           count(*), sum(duplicates)::int,
           max(next_eligible_at) FILTER (WHERE next_eligible_at <= %(window_end)s),
           (planned_at AT TIME ZONE 'UTC')::date
    FROM verdicts_final GROUP BY 1, 2, 3, 7"""


def screening_statement(
    send: Send,
    rules: Sequence[Rule],
    audience: Audience,
    params: dict,
    *,
    write: bool,
    select: str = "",
    single: bool = False,
    request: SendRequest | None = None,
    blackouts: bool = True,
) -> str:
    """The screening statement; `select` replaces the closing summary (verdicts_for reads the rows).
    `blackouts` False: the caller found that none blocks anyone at the send's time.

    `single` (the few-contact statements) adds `rules_seen`, the fingerprint of the rules table,
    and with params["rules_fingerprint"] an audience that is empty unless the two agree.
    """
    _send_params(send, params)
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
        *CONSENT_AND_ADDRESS_SQL,
        BLACKOUT_SQL if blackouts else NO_BLACKOUT_SQL,
    ]
    rule_sql = rules_sql(rules, params)
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
    return "WITH " + ",\n".join(ctes) + (select or SUMMARY_SQL)


def _send_params(send: Send, params: dict) -> None:
    """The send's values the statement binds."""
    params.update(
        at=send.at,
        department_id=send.department_id,
        channel=send.channel,
        identity_kind=CHANNEL_IDENTITY_KIND[send.channel],
        survey_family_id=send.survey_family_id,
        survey_id=send.survey_id,
        survey_kind=send.survey_kind,
        # Known when a rule counts weight (screening.weighed); otherwise not read but by the INSERT,
        # which then reads the survey's burden itself.
        send_weight=send.weight or 1,
    )


def _verdicts_sql(
    rules: Sequence[Rule], params: dict, *, has_touches: bool, read_contacts: bool = True
) -> str:
    """One row per contact: the reason it is blocked ('' if allowed) and the details to explain it.

    Longer than a function should be because most of it is one SQL text, the verdict, which reads
    best whole: the order of its CASE is the order in which surveys/gatekeeper/rules.py decides.
    Without a rule covering the send, a snoozed contact's next eligible time is the snooze's end."""
    rule_columns = rule_block_columns(rules, params)
    # Typed even with no rule covering the send: a bare NULL is text, which the CASE mixing it
    # with snooze ends (timestamptz) in verdicts_final cannot use.
    longest_sql = (
        f"GREATEST({', '.join(f'b.block_{i}' for i in range(len(rules)))})" if rules else "NULL::timestamptz"
    )
    longest = "r.longest"

    def pick(value) -> str:
        """The value of the rule whose block lasts longest; ties go to the smallest rule id (rules
        are sorted by id), as in surveys.gatekeeper.rules.rules_verdict."""
        if not rules:
            return "NULL"
        cases = " ".join(
            f"WHEN r.block_{i} = {longest} THEN {value(i, rule)}" for i, rule in enumerate(rules)
        )
        return f"CASE {cases} END"

    touches_join = (
        "LEFT JOIN touches t ON t.contact_id = a.contact_id LEFT JOIN ahead w ON w.contact_id = a.contact_id"
        if has_touches
        else ""
    )
    # Materialized, so each contact's reason is worked out once, not once per column that uses it.
    # OFFSET 0 keeps each lateral subquery from being folded into the columns that use it, so every
    # block, the longest, the reason and the next eligible time are computed once per contact.
    return f"""verdicts AS MATERIALIZED (
        SELECT a.contact_id, a.duplicates, v.reason, oi.contact_id IS NOT NULL AS invited,
          {pick(lambda i, rule: str(rule.id))}::bigint AS rule_id,
          {pick(lambda i, rule: str(rule.version))}::int AS rule_version,
          v.next_eligible,
          {pick(lambda i, rule: f"t.last_{i}") if has_touches else "NULL::timestamptz"} AS rule_last_touch,
          {pick(_own_touch_sql) if has_touches else "NULL::boolean"} AS rule_own,
          coalesce(bo.kind, '') AS blackout_kind
        FROM audience a
        {KNOWN_SINCE_JOIN_SQL if read_contacts else ""}
        LEFT JOIN addressed ad ON ad.contact_id = a.contact_id
        LEFT JOIN opt o ON o.contact_id = a.contact_id
        LEFT JOIN snooze s ON s.contact_id = a.contact_id
        LEFT JOIN blackout bo ON bo.contact_id = a.contact_id
        LEFT JOIN open_invitation oi ON oi.contact_id = a.contact_id
        {touches_join}
        CROSS JOIN LATERAL (SELECT *, {longest_sql} AS longest FROM (SELECT {rule_columns} OFFSET 0) b) r
        CROSS JOIN LATERAL (SELECT v0.reason,
            -- Snoozed or in a blackout: eligible from its end, once the rules allow too; blocked by
            -- a rule: from the send's time, once every rule allows.
            CASE WHEN v0.reason IN ('snoozed', 'blackout', 'rule')
              THEN {next_eligible_sql(rules, params, start=START_SQL)} END AS next_eligible
          FROM (SELECT CASE
            WHEN ad.contact_id IS NULL THEN 'no_address'
            WHEN o.kind = 'opt_out' THEN 'opted_out'
            WHEN s.until > %(at)s THEN 'snoozed'
            WHEN bo.contact_id IS NOT NULL THEN 'blackout'
            WHEN oi.contact_id IS NOT NULL THEN 'already_invited'
            WHEN {longest} IS NOT NULL THEN 'rule'
            ELSE ''
          END AS reason OFFSET 0) v0) v
    ), verdicts_final AS (
        SELECT contact_id, duplicates, reason,
          CASE WHEN reason = 'rule' THEN rule_id END AS rule_id,
          CASE WHEN reason = 'rule' THEN rule_version END AS rule_version,
          next_eligible AS next_eligible_at,
          CASE WHEN reason = 'rule' THEN rule_last_touch END AS last_touch_at,
          CASE WHEN reason = 'rule' THEN rule_own END AS last_touch_same_department,
          CASE WHEN reason = 'blackout' THEN blackout_kind ELSE '' END AS blackout_kind,
          -- Deferred, not refused: a rule's block, a snooze or a blackout that ends inside the
          -- request's window (window_end; a trigger's is its own moment) plans the send for that
          -- time, unless the contact has an open invitation for the survey already
          -- (rules.planned_for).
          CASE WHEN next_eligible <= %(window_end)s AND NOT invited THEN next_eligible END AS planned_at
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
    params["request_month"] = request_month_of(request.created_at)
    # send_requests.outcome_summary, in SQL, for a trigger: it plans nothing for later.
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
    # The decisions' partition (decision_partitions.py): the new request's month, else the request's.
    month = REQUEST_MONTH_SQL.format(created_at="created_at")
    request_month = (
        "%(request_month)s"
        if new_request
        else f"(SELECT {month} FROM surveys_sendrequest WHERE id = %(send_request_id)s)"
    )
    # The survey's burden as reserved: known already when a rule counts weight (screening.py).
    weight = "%(send_weight)s" if send.weight is not None else BURDEN_SQL
    decided_returning = _returning(Decision) if returning else ""
    invited_returning = _returning(Invitation) if returning else ""
    return [
        f"""decided AS (
            INSERT INTO surveys_decision (send_request_id, contact_id, allowed, reason, rule_id, rule_version,
                next_eligible_at, last_touch_at, last_touch_same_department, blackout_kind, decided_at,
                request_month)
            SELECT {request_id}, contact_id, reason = '' OR planned_at IS NOT NULL, reason, rule_id,
                rule_version, next_eligible_at, last_touch_at, last_touch_same_department, blackout_kind,
                now(), {request_month}
            FROM verdicts_final ORDER BY contact_id{decided_returning})""",
        f"""invited AS (
            INSERT INTO surveys_invitation (send_request_id, survey_id, survey_family_id, department_id,
                survey_kind, contact_id, channel, status, touched_at, attempts, reminders_sent,
                failure_reason, weight, created_at, updated_at)
            SELECT {request_id}, %(survey_id)s, %(survey_family_id)s, %(department_id)s,
                %(survey_kind)s, contact_id, %(channel)s, 'queued', coalesce(planned_at, %(at)s), 0, 0, '',
                {weight}, now(), now()
            FROM verdicts_final WHERE reason = '' OR planned_at IS NOT NULL
            ORDER BY contact_id{invited_returning})""",
    ]


def _returning(model) -> str:
    """RETURNING every column of `model`, in the order Model.from_db reads them."""
    return " RETURNING " + ", ".join(field.column for field in model._meta.concrete_fields)
