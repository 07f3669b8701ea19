"""Shared test helpers: the repo root, Keras, what a resumed run must show."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

# Keras on TensorFlow for every test that builds Keras layers in this process, set before any imports it
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.dl"))


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def keras():
    """Keras itself. It is a core dependency: a broken install fails the tests that need it, never skips them."""
    import keras

    assert keras.backend.backend() == "tensorflow"
    return keras


def assert_resumed(out: Path, after: int, epochs: int, stderr: str) -> None:
    """The run in `out` was resumed from its checkpoint after epoch `after` and trained only epochs
    `after + 1 .. epochs`: it says so, its progress shows only those epochs, history.json holds every epoch and
    its timings (which are per run) only the ones this run trained. Equal weights alone cannot tell: training
    from scratch with the same seed reaches the very same weights, so a `--resume` that ignored the checkpoint
    would pass a test that compares weights only."""
    assert f"after epoch {after}" in stderr, stderr[-2000:]
    shown = {int(epoch) for epoch, total in re.findall(r"Epoch (\d+)/(\d+)", stderr) if int(total) == epochs}
    assert shown == set(range(after + 1, epochs + 1)), (after, epochs, sorted(shown))
    record = json.loads((out / "history.json").read_text())
    assert {len(values) for values in record["history"].values()} == {epochs}, record["history"]
    assert len(record["timing"]) == epochs - after, record["timing"]
