"""The rolling window in SQL, as surveys.gatekeeper.rules.Counted reads it, for the screening
statement (screening_sql.py). Rule `i` blocks a send at a moment during a new contact's grace, when
the window ending at that moment already holds max_touches, or when a later touch within a window
of it is full (its own window already holds max_touches). The `ahead` CTE (`w`) gives each contact
with a touch after the send `times_i`, the clock times rule `i` counts (and for a rule counting
weight `units_i`, each one's minutes); `t` is the contact's `touches` row, `kv`/`c` its view and
record (KNOWN_SINCE_SQL).

A rule's `max_touches_i` parameter is its limit for this send (rules.Rule.limit: the units a window
may already hold); a rule the send alone outweighs (`never`) blocks at every moment, its block's
end is infinity, and no next eligible time is given."""

from __future__ import annotations

from collections.abc import Sequence

from surveys.gatekeeper.rules import Rule

# Since when the deciding department has known the contact: a new contact's grace starts there (see
# screening_sql.KNOWN_SINCE_JOIN_SQL).
KNOWN_SINCE_SQL = "coalesce(kv.created_at, c.created_at)"


def never(rule: Rule, params: dict) -> bool:
    """Does the send alone weigh more than `rule` allows?"""
    return rule.limit(params["send_weight"]) <= 0


def _in_window(index: int, rule: Rule, end: str) -> str:
    """How many units of rule `index`'s touches fall in the window (end − W, end]."""
    within = f"y > {end} - %(window_{index})s AND y <= {end}"
    if rule.counts == "weight":
        return (
            f"(SELECT coalesce(sum(u), 0) FROM unnest(w.times_{index}, w.units_{index}) AS z(y, u) "
            f"WHERE {within})"
        )
    return f"(SELECT count(*) FROM unnest(w.times_{index}) y WHERE {within})"


def _full_ahead(index: int, rule: Rule, moment: str) -> str:
    """Is a touch of rule `index` within a window after `moment` full?"""
    return (
        f"EXISTS (SELECT 1 FROM unnest(w.times_{index}) x WHERE x > {moment} "
        f"AND x < {moment} + %(window_{index})s "
        f"AND {_in_window(index, rule, 'x')} >= %(max_touches_{index})s)"
    )


def _grace_end(index: int, rule: Rule, params: dict) -> str | None:
    if rule.new_contact_grace is None:
        return None
    params[f"grace_{index}"] = rule.new_contact_grace
    return f"{KNOWN_SINCE_SQL} + %(grace_{index})s"


def _blocks(index: int, rule: Rule, moment: str, params: dict) -> str:
    """Does rule `index` block a send at `moment`?"""
    if never(rule, params):
        return "TRUE"
    grace_end = _grace_end(index, rule, params)
    parts = [
        f"{_in_window(index, rule, moment)} >= %(max_touches_{index})s",
        _full_ahead(index, rule, moment),
    ]
    return "(" + " OR ".join(([f"{moment} < {grace_end}"] if grace_end else []) + parts) + ")"


def _block_ends(index: int, rule: Rule, params: dict) -> list[str]:
    """Where a block of rule `index` can end: a window after a touch, or the grace's end."""
    grace_end = _grace_end(index, rule, params)
    ends = [f"SELECT y + %(window_{index})s FROM unnest(w.times_{index}) y"]
    return [*ends, f"SELECT {grace_end}"] if grace_end else ends


def rule_block_columns(rules: Sequence[Rule], params: dict) -> str:
    """Per rule, `block_<i>`: if the rule blocks the send, when it would stop blocking on its own
    (NULL if it does not block).

    A contact with no touch after the send (no `ahead` row, `w`) is blocked from the send on for an
    interval only: counts in a window ending later can only fall. Its block ends at the grace's end
    or a window after its max_touches-th latest touch, whichever is later. Only the few contacts
    with a planned send run the subqueries."""
    blocks = []
    for index, rule in enumerate(rules):
        params[f"max_touches_{index}"] = rule.limit(params["send_weight"])
        if never(rule, params):
            blocks.append(f"'infinity'::timestamptz AS block_{index}")
            continue
        grace_end = _grace_end(index, rule, params)
        counts = f"coalesce(t.count_{index}, 0) >= %(max_touches_{index})s"
        behind = [f"CASE WHEN {counts} THEN t.nth_{index} + %(window_{index})s END"]
        at_send = [counts, _full_ahead(index, rule, "%(at)s")]
        if grace_end:
            behind.insert(0, f"CASE WHEN %(at)s < {grace_end} THEN {grace_end} END")
            at_send.insert(0, f"%(at)s < {grace_end}")
        ends = " UNION ALL ".join(_block_ends(index, rule, params))
        free = (
            f"(SELECT min(cand) FROM ({ends}) AS block_end(cand) "
            f"WHERE cand > %(at)s AND NOT {_blocks(index, rule, 'cand', params)})"
        )
        blocks.append(
            f"CASE WHEN w.contact_id IS NULL THEN GREATEST({', '.join(behind)}) "
            f"WHEN {' OR '.join(at_send)} THEN {free} END AS block_{index}"
        )
    return ", ".join(blocks) if blocks else "NULL::timestamptz AS no_rule"


def next_eligible_sql(rules: Sequence[Rule], params: dict, *, start: str) -> str:
    """The earliest time from `start` at which no rule blocks (rules.free_from); NULL without a
    start or for a send a rule never allows. Without a touch after the send every block is an
    interval from the send on: the latest end, `r.longest`."""
    if not rules:
        return start
    ends = [end for index, rule in enumerate(rules) for end in _block_ends(index, rule, params)]
    blocked = " OR ".join(_blocks(index, rule, "cand", params) for index, rule in enumerate(rules))
    return (
        f"CASE WHEN {start} IS NULL THEN NULL "
        f"WHEN w.contact_id IS NULL THEN NULLIF(GREATEST({start}, r.longest), 'infinity') ELSE "
        f"(SELECT min(cand) FROM (SELECT {start} UNION ALL {' UNION ALL '.join(ends)}) AS block_end(cand) "
        f"WHERE cand >= {start} AND NOT ({blocked})) END"
    )
