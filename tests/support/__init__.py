"""What several test modules share: generated data and independent reference helpers.

Test modules and conftest.py files import from here; test modules never import each other.
"""

import os
import pkgutil
from pathlib import Path

import pytest

# The helpers hold assertions: rewrite them for pytest's clear reports (before they are imported).
pytest.register_assert_rewrite(*(f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__)))

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"  # recorded by scripts/record-fixtures.sh
# The research-only real data beside the checkout (never committed): only the real-data tests
# read it, and they skip, saying why, where it is absent.
SHARED = Path(os.environ.get("YOF_SHARED", ROOT.parent / "shared")).resolve()
