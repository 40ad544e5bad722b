"""The gatekeeper: who may be surveyed now, who must wait and until when, who must never be asked.

The pure rules (rules.py) and their set-based SQL twin (screening.py, screening_sql.py, with the
counted touches and blackouts in touches_sql.py and the rolling window in window_sql.py); blackouts
opened and closed by their external id (blackouts.py); the locks
that make decisions race-free (locks.py, the lock order); frequency rules (frequency_rules.py,
active_rules.py); send requests and their audiences, pre-flight and decisions; single-contact
triggers and the eligibility question (triggers.py, eligibility.py, lookups.py)."""
