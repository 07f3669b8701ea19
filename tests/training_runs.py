"""What the data-parallel tests compare between two training runs' folders: canonical weights in units of the
contract's tolerance, and the figures history.json holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file


def relative_gap(expected: np.ndarray, actual: np.ndarray) -> float:
    """How far `actual` is from `expected` in units of the contract's 1e-5 relative + 1e-6 absolute."""
    return float(np.max(np.abs(actual - expected) / (1e-6 + 1e-5 * np.abs(expected)), initial=0.0))


def weights_of(one: Path, other: Path) -> tuple[dict, dict]:
    """Both runs' canonical weights, which must name the same tensors."""
    expected, actual = load_file(str(one / "weights.safetensors")), load_file(str(other / "weights.safetensors"))
    assert expected.keys() == actual.keys()
    return expected, actual


def weight_gaps(one: Path, other: Path) -> dict[str, float]:
    """Each weight's relative_gap between two runs."""
    expected, actual = weights_of(one, other)
    return {key: relative_gap(expected[key], actual[key]) for key in expected}


def assert_same_figures(one: Path, other: Path) -> None:
    """The same history and final figures (loss and metrics) in both runs."""
    expected, actual = (json.loads((run / "history.json").read_text()) for run in (one, other))
    for part in ("history", "final"):
        assert expected[part].keys() == actual[part].keys()
        for key, values in expected[part].items():
            np.testing.assert_allclose(actual[part][key], values, rtol=1e-5, atol=1e-7, err_msg=f"{part} {key}")
