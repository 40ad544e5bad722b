"""The gatekeeper: who may be surveyed now, who must wait and until when, who must never be asked.

The pure rules (rules.py) and their set-based SQL twin (screening.py, screening_sql.py); the locks
that make decisions race-free (locks.py, the lock order); frequency rules (frequency_rules.py,
active_rules.py); send requests and their audiences, pre-flight and decisions; single-contact
triggers and the eligibility question (triggers.py, eligibility.py, lookups.py)."""
