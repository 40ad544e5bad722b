"""Surveys, frequency rules, send requests, decisions, invitations and responses."""
