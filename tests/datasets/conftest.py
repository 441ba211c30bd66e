"""The dataset tests' helper modules hold assertions: let pytest rewrite them for clear reports."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.datasets.affwild2_helpers")
