"""Personal-link tokens: 192 bits from `secrets`, only their SHA-256 stored.

A token is unguessable, so a fast hash is enough to keep a database leak from turning into working
links. Tokens never appear in logs (see cxfeedback.logging_filters).
"""

import hashlib
import secrets

TOKEN_BYTES = 24  # 192 bits; 32 URL-safe characters


def token_new() -> tuple[str, str]:
    """A new token and the hash to store for it."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
