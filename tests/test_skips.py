"""The skip summary (tests/support/skips.py): counts by reason at the end of a run, and under CI
a failed run when a test was skipped for a reason CI can fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.skips import CI_FIXABLE, NO_ALEXEYAB, NO_DEBIAN_DARKNET, NO_SLURM, ci_can_fix

SUITE = f"""
import pytest

def test_runs():
    assert True

@pytest.mark.parametrize("n", range(3))
def test_no_alexeyab(n):
    pytest.skip({NO_ALEXEYAB!r})

def test_no_debian():
    pytest.skip({NO_DEBIAN_DARKNET!r})
"""


def _run(tmp_path: Path, suite: str, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_suite.py").write_text(suite)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.skips", "-p", "no:cacheprovider",
         "-q", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip


def _summary(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "4 skipped, by reason" in line)
    return lines[start + 1 : start + 3]


def test_the_summary_counts_skips_by_reason(tmp_path):
    done = _run(tmp_path, SUITE, ci=None)
    assert done.returncode == 0, done.stdout
    assert _summary(done.stdout) == [f"    3  {NO_ALEXEYAB}", f"    1  {NO_DEBIAN_DARKNET}"]
    assert "CI must run these tests" not in done.stdout


def test_ci_fails_a_run_that_skipped_for_a_reason_it_can_fix(tmp_path):
    done = _run(tmp_path, SUITE, ci="true")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    assert "CI must run these tests" in done.stdout
    assert f"  {NO_DEBIAN_DARKNET}" in done.stdout.split("CI must run these tests")[1]
    assert NO_ALEXEYAB not in done.stdout.split("CI must run these tests")[1]


def test_ci_accepts_skips_it_cannot_fix(tmp_path):
    suite = SUITE.replace(f"pytest.skip({NO_DEBIAN_DARKNET!r})", "pass")
    done = _run(tmp_path, suite, ci="true")
    assert done.returncode == 0, done.stdout
    assert f"    3  {NO_ALEXEYAB}" in done.stdout


def test_which_reasons_ci_can_fix():
    assert ci_can_fix(NO_DEBIAN_DARKNET) and ci_can_fix(f"{NO_SLURM} (uid 0): no munged")
    assert not ci_can_fix(NO_ALEXEYAB)
    assert len(CI_FIXABLE) == len(set(CI_FIXABLE))
