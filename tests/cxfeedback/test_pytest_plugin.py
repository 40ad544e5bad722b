"""The test run's own plugin (cxfeedback/pytest_plugin.py): a run that skipped browser tests for want
of Chromium ends by saying so, how many, and how to install it."""

import os
import subprocess
import sys

import pytest

from tests.workers import ROOT

pytestmark = pytest.mark.slow

PROBE = """
from tests.browser import browser_session


def test_first_in_a_browser(monkeypatch):
    next(browser_session(monkeypatch))


def test_second_in_a_browser(monkeypatch):
    next(browser_session(monkeypatch))


def test_without_a_browser():
    assert True
"""


def run_pytest(path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-c",
            str(ROOT / "pyproject.toml"),
            str(path),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_run_without_chromium_ends_counting_the_skipped_browser_tests(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)

    run = run_pytest(probe, CHROMIUM_PATH=str(tmp_path / "no-chromium-here"))

    last_lines = run.stdout.strip().splitlines()[-2:]
    assert "1 passed, 2 skipped" in last_lines[-1], run.stdout + run.stderr
    assert last_lines[0] == (
        "2 browser tests skipped: no Chromium found. Install it with `apt-get install chromium` "
        "(or set CHROMIUM_PATH to a Chromium binary)."
    )


def test_a_run_that_skipped_no_browser_test_says_nothing_of_chromium(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text("def test_without_a_browser():\n    assert True\n")

    run = run_pytest(probe, CHROMIUM_PATH=str(tmp_path / "no-chromium-here"))

    assert "1 passed" in run.stdout, run.stdout + run.stderr
    assert "Chromium" not in run.stdout
