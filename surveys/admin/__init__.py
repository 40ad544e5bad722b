"""Surveys, frequency rules, send requests and the gatekeeper's history in the admin, scoped by role.

- Surveys: built with inline questions; every save goes through surveys.design.surveys, so the
  admin checks questions exactly as the API does. A sent (frozen) survey is view only; its "Edit as
  new version" button makes the next version. "New NPS / CSAT / CES survey" start from a template.
- Frequency rules: CX leads change them (each change is a new version, kept inline); department
  owners may only look.
- Send requests: created on a form of their own (department and survey limited to the user's), then
  a pre-flight page shows what submitting would do, with Submit and Cancel buttons. Everything that
  changes a request is a service call; the request's own page is view only.
- The send calendar (calendar.py, linked from the send request list): sends per day and department,
  and the contacts requests compete for; other departments are anonymous counts to an owner.
- Decisions and invitations: read-only history, each decision with its explanation.
- Rule drafts and their simulations (CX leads): rule changes saved without going live, replayed on
  the last days' decisions in the background, then published or discarded.
- Merges of two records of one person (CX leads): the merge page with its preview, Unmerge.
- Blackouts (blackouts.py): filtered open/closed, closed with an action; a department's own.
- Touch imports (touch_imports.py): a CSV of touches other tools sent, uploaded and run as a job.
- Overrides (overrides.py): a CX lead lets a request past a frequency rule; a second one approves.
"""

from surveys.admin import (
    blackouts,
    history,
    merges,
    overrides,
    rule_drafts,
    send_requests,
    surveys,
    touch_imports,
)
from surveys.admin import frequency_rules as rules

__all__ = [
    "blackouts",
    "history",
    "merges",
    "overrides",
    "rule_drafts",
    "rules",
    "send_requests",
    "surveys",
    "touch_imports",
]
