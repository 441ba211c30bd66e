"""Why a test may be skipped, the skipped count by reason at the end of a run, and CI's refusal
of a skip it can fix (a pytest plugin: tests/conftest.py loads it).

A skip for a missing tool starts its message with one of the reasons below (other skips say
their own reason: no real ExpW slice, no tmpfs, not root). The summary groups the skipped tests
by their message; under CI (``CI=true``, which .ci/run sets) a skip whose reason is in
``CI_FIXABLE`` (.ci/run installs Debian's darknet, slurm-wlm, munge, chromium and npm;
``make test`` creates the OpenCV 5 environment) fails the run, so a broken installation cannot
pass as a green run.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from yof_darknet.tools.darknet import SUBMODULE_BINARY

NO_DEBIAN_DARKNET = "Debian's darknet is not installed (apt-get install darknet)"
NO_SLURM = "SLURM cannot start here"
NO_OPENCV5 = "the OpenCV 5 environment is missing"
NO_CHROMIUM = "Debian's chromium is not installed (apt-get install chromium)"
NO_NODE = "Node.js is not installed (it comes with npm: apt-get install npm)"
NO_ALEXEYAB = (
    "no AlexeyAB build: `make darknet` builds the pinned submodule, or set YOF_TEST_ALEXEYAB="
    "/path/to/darknet (CI cannot: it has no GitHub access to fetch the submodule)"
)
CI_FIXABLE = (NO_DEBIAN_DARKNET, NO_SLURM, NO_OPENCV5, NO_CHROMIUM, NO_NODE)
_SESSION = pytest.StashKey[pytest.Session]()


def debian_darknet() -> Path | None:
    """Debian's pjreddie ``darknet`` on PATH (.ci/run installs it)."""
    found = shutil.which("darknet")
    return Path(found) if found else None


def alexeyab_darknet() -> Path | None:
    """A real AlexeyAB build: $YOF_TEST_ALEXEYAB, else the submodule once `make darknet` ran."""
    candidate = Path(os.environ.get("YOF_TEST_ALEXEYAB", SUBMODULE_BINARY))
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def skip_reason(report: pytest.TestReport) -> str:
    """The message of a skipped test's report (without pytest's ``Skipped: ``)."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def count_by_reason(reports: Iterable[pytest.TestReport]) -> Counter[str]:
    return Counter(skip_reason(r) for r in reports if r.skipped)


def ci_can_fix(reason: str) -> bool:
    return reason.startswith(CI_FIXABLE)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION] = session


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    counts = count_by_reason(terminalreporter.stats.get("skipped", []))
    if not counts:
        return
    terminalreporter.write_sep("=", f"{sum(counts.values())} skipped, by reason")
    for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        terminalreporter.write_line(f"{count:5d}  {reason}")
    fixable = sorted(reason for reason in counts if ci_can_fix(reason))
    if os.environ.get("CI") == "true" and fixable:
        terminalreporter.write_line(
            "CI must run these tests (.ci/run installs what they need): failing the run", red=True
        )
        for reason in fixable:
            terminalreporter.write_line(f"  {reason}", red=True)
        session = config.stash[_SESSION]
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
