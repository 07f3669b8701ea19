"""Shared test helpers: locating error carets, the repo root."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.dl"))


@pytest.fixture
def root() -> Path:
    return ROOT
