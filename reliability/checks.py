"""The checks every part of the run ends with, in SQL that shares no code with the app: the
gatekeeper's promises read straight from the rules' definition (PRODUCT.md §3, §4) and the
delivery promise read from what the SMTP server received.

A check returns numbers, never raises: the orchestrator adds them up and prints them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# Over a rule: for every active rule and every counted touch in its scope (not cancelled or failed,
# matching its department, survey kind and channel where the rule names one), the same contact's
# touches in the rule's window that ends at that touch — (clock − window, clock] — number at most
# max_touches. The clock is the invitation's time, or its answer's for rules counted from answers.
OVER_RULE_SQL = """
WITH counted AS MATERIALIZED (
    SELECT r.id AS rule_id, r.max_touches, r."window", i.id AS touch_id, i.contact_id,
           CASE r.clock WHEN 'response' THEN i.responded_at ELSE i.touched_at END AS clock
    FROM surveys_frequencyrule r
    JOIN surveys_invitation i
      ON (r.scope_department_id IS NULL OR r.scope_department_id = i.department_id)
     AND (r.scope_survey_kind = '' OR r.scope_survey_kind = i.survey_kind)
     AND (r.scope_channel = '' OR r.scope_channel = i.channel)
    WHERE r.is_active AND i.status NOT IN ('cancelled', 'failed')
)
SELECT count(DISTINCT contact_id) FROM (
    SELECT x.contact_id
    FROM counted x
    JOIN counted y ON y.rule_id = x.rule_id AND y.contact_id = x.contact_id
     AND y.clock > x.clock - x."window" AND y.clock <= x.clock
    GROUP BY x.rule_id, x.contact_id, x.touch_id, x.max_touches
    HAVING count(*) > x.max_touches
) crowded
"""

# Two open invitations (queued, sending, sent, delivered, opened) for one survey family and contact.
TWO_OPEN_SQL = """
SELECT count(*) FROM (
    SELECT 1 FROM surveys_invitation
    WHERE status IN ('queued', 'sending', 'sent', 'delivered', 'opened')
    GROUP BY contact_id, survey_family_id HAVING count(*) > 1
) twice
"""

DELIVERED = ("sent", "delivered", "opened", "answered")


@dataclass
class Tally:
    """What one check found. `problems` are short sentences for the report."""

    violations: int = 0
    lost: int = 0
    duplicates: int = 0
    server_errors: int = 0
    half_screened: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.violations += other.violations
        self.lost += other.lost
        self.duplicates += other.duplicates
        self.server_errors += other.server_errors
        self.half_screened += other.half_screened
        self.problems += other.problems

    @property
    def failures(self) -> int:
        return self.violations + self.lost + self.duplicates + self.server_errors + self.half_screened


def rules_kept(stack) -> Tally:
    """No contact over any active rule in any window; no second open invitation for a survey."""
    [(over,)] = stack.sql(OVER_RULE_SQL)
    [(twice,)] = stack.sql(TWO_OPEN_SQL)
    tally = Tally(violations=over + twice)
    if over:
        tally.problems.append(f"{over} contacts over a frequency rule")
    if twice:
        tally.problems.append(f"{twice} contacts with two open invitations for one survey")
    return tally


def delivered_once(stack, request_ids: list[int]) -> Tally:
    """For these requests: screened (not left submitted), every allowed decision has its invitation,
    every invitation was delivered, and the SMTP server received each one exactly once."""
    tally = Tally()
    rows = stack.sql(
        "SELECT id FROM surveys_sendrequest WHERE id = ANY(%s) AND status = 'submitted'", [request_ids]
    )
    if rows:
        tally.lost += len(rows)
        tally.problems.append(f"{len(rows)} requests never screened (left submitted): {_few(rows)}")
    [(orphans,)] = stack.sql(
        """SELECT count(*) FROM surveys_decision d
           WHERE d.send_request_id = ANY(%s) AND d.allowed AND NOT EXISTS (
               SELECT 1 FROM surveys_invitation i
               WHERE i.send_request_id = d.send_request_id AND i.contact_id = d.contact_id)""",
        [request_ids],
    )
    if orphans:
        tally.lost += orphans
        tally.problems.append(f"{orphans} allowed decisions without an invitation")
    invitations = stack.sql(
        "SELECT id, status FROM surveys_invitation WHERE send_request_id = ANY(%s)", [request_ids]
    )
    counts = stack.smtp_counts()
    undelivered = [(pk, status) for pk, status in invitations if status not in DELIVERED]
    unreceived = [pk for pk, status in invitations if status in DELIVERED and counts[pk] == 0]
    twice = [pk for pk, _ in invitations if counts[pk] > 1]
    if undelivered:
        tally.lost += len(undelivered)
        tally.problems.append(f"{len(undelivered)} invitations not delivered: {_few(undelivered)}")
    if unreceived:
        tally.lost += len(unreceived)
        tally.problems.append(
            f"{len(unreceived)} invitations marked sent that SMTP never got: {_few(unreceived)}"
        )
    if twice:
        tally.duplicates += len(twice)
        tally.problems.append(
            f"{len(twice)} invitations received more than once: "
            + ", ".join(f"#{pk}×{counts[pk]}" for pk in twice[:5])
        )
    return tally


def screened_whole(stack, request_ids: list[int]) -> Tally:
    """No request half-screened: a submitted request has a decision for exactly the contacts of its
    committed batches (its progress, surveys/gatekeeper/screening_batches.py) and an invitation for
    every allowed one, and a screened one has a decision for every contact its summary counted and an
    invitation for every allowed one."""
    tally = Tally()
    rows = stack.sql(
        """SELECT r.id, r.status, r.screening_summary, r.screening_done,
                  (SELECT count(*) FROM surveys_decision d WHERE d.send_request_id = r.id),
                  (SELECT count(*) FROM surveys_decision d WHERE d.send_request_id = r.id AND d.allowed),
                  (SELECT count(*) FROM surveys_invitation i WHERE i.send_request_id = r.id)
           FROM surveys_sendrequest r WHERE r.id = ANY(%s)""",
        [request_ids],
    )
    half = []
    for pk, status, summary, done, decisions, allowed, invitations in rows:
        if status in ("draft", "submitted", "cancelled"):
            whole = status == "cancelled" or (decisions == done and allowed == invitations)
        else:
            summary = json.loads(summary) if isinstance(summary, str) else summary or {}
            whole = decisions == summary.get("contacts") and allowed == summary.get("allowed") == invitations
        if not whole:
            half.append((pk, status, decisions, invitations))
    if half:
        tally.half_screened += len(half)
        tally.problems.append(f"{len(half)} requests half-screened: {_few(half)}")
    return tally


def _few(items: list, n: int = 5) -> str:
    shown = ", ".join(str(item) for item in items[:n])
    return shown + (f" … ({len(items)} in all)" if len(items) > n else "")
