"""Loaded by pytest before Django (`-p cxfeedback.pytest_plugin` in pyproject.toml).

Tests run with production settings (DEBUG off); they only need a throwaway secret key.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("STATIC_MANIFEST", "false")
# The tests' embedded broker is their own, so a `make run` worker never takes their tasks; one per
# test database, so test runs side by side do not take each other's either.
_local = os.environ.get(
    "CXFEEDBACK_LOCAL_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".local")
)
os.environ.setdefault(
    "CXFEEDBACK_BROKER_DIR",
    os.path.join(_local, "broker-" + os.environ.get("TEST_DATABASE_NAME", "test_cxfeedback")),
)
