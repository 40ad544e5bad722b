"""Reads of the results app, each scoped by the Actor who asks (results/filters.py)."""
