"""Loaded by pytest before Django (`-p cxfeedback.pytest_plugin` in pyproject.toml).

Tests run with production settings (DEBUG off); they only need a throwaway secret key.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("STATIC_MANIFEST", "false")
