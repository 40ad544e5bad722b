"""Duplicate suggestions: probabilistic record linkage over the whole contact book (issue 13).

- fields.py: a person's record in the form two records are compared in (names split, dates of
  birth read, addresses found in attributes). Pure.
- records.py: reading those records from PostgreSQL in chunks; the persons an import wrote.
- comparisons.py: what the model compares, in which levels, with which starting m values.
- linkage.py: the splink model on DuckDB: blocking, training, scoring, the evidence of a pair.
- search.py: one run of a search, step by step (loads splink: imported only where a search runs).
- services.py: start, queue for an import, run, cancel, run again; reject a suggestion.
- selectors.py: the review queue, a search's progress, a suggestion's evidence (CX leads only).

Accepting a suggestion is a merge (surveys/merges.py, through the merge page of the admin).
"""
