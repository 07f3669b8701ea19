"""Huge dimensions: a tensor no machine holds is a check error with its span; `dlc check` shows the weights'
memory; `train`, `export` and `verify` refuse a model this machine cannot hold before any framework allocates."""

from __future__ import annotations

import json
import sys

import pytest

from compiler.frontend import load_text
from compiler.memory import machine_memory, show_bytes
from dlc.cli import main

# 64 inputs into Dense(10**9) then Dense(10): 75e9 weights, 279 GiB of float32 (a test machine has less)
WIDE = """model Wide {{
  input x: f32[64]
  layers {{
    Dense({units})
    Dense(10, activation=softmax)
  }}
  loss sparse_categorical_crossentropy
  optimizer Adam()
  train {{ data = dataset("digits") }}
}}
"""


@pytest.fixture
def wide(tmp_path):
    path = tmp_path / "wide.dl"
    path.write_text(WIDE.format(units=10**9))
    return path


def test_machine_memory_is_known_here():
    """Without it the refusal below could not happen; /proc-less platforms fall back to allowing."""
    assert machine_memory() > 2**28


@pytest.mark.parametrize(
    ("count", "shown"), [(0, "0 B"), (1023, "1023 B"), (1024, "1.00 KiB"), (3 * 2**30 // 2, "1.50 GiB")]
)
def test_bytes_are_shown_in_binary_units(count, shown):
    assert show_bytes(count) == shown


def test_check_shows_the_weight_memory(wide, capsys):
    assert main(["check", str(wide)]) == 0
    out = capsys.readouterr().out
    assert "Total params: 75,000,000,010" in out
    assert "Weight memory: 279.40 GiB (float32)" in out
    assert main(["check", "--json", str(wide)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["params"]["bytes"] == 4 * 75_000_000_010


@pytest.mark.parametrize(
    ("command", "held"),
    [
        (["train", "--out", "{tmp}/run"], "held 2 times"),
        (["export", "-o", "{tmp}/w.onnx"], "held 2 times"),
        (["verify"], "held 3 times"),
    ],
)
def test_a_model_beyond_this_machine_is_refused_before_allocating(wide, tmp_path, capsys, command, held):
    frameworks = {name for name in ("torch", "tensorflow", "onnxruntime") if name in sys.modules}
    options = [part.format(tmp=tmp_path) for part in command]
    assert main([options[0], str(wide), *options[1:]]) == 1
    err = capsys.readouterr().err
    assert "wide.dl:4:5: error: model 'Wide' needs at least" in err
    assert held in err and "279.40 GiB of float32 weights" in err
    assert f"this machine has {show_bytes(machine_memory())}" in err
    assert "its largest layer is 'dense' (Dense, 65,000,000,000 weights)" in err
    assert {name for name in ("torch", "tensorflow", "onnxruntime") if name in sys.modules} == frameworks
    assert not (tmp_path / "run").exists() and not (tmp_path / "w.onnx").exists()


@pytest.mark.parametrize(
    ("units", "where"),
    [
        (2**40, "layer 'dense' (Dense) makes a tensor of 70,368,744,177,664 values"),  # its kernel, 64 * 2**40
        (2**63 - 1, "layer 'dense' (Dense) makes a tensor of 590,295,810,358,705,651,648 values"),
    ],
)
def test_a_tensor_no_machine_holds_is_a_check_error_at_its_layer(units, where):
    from compiler.errors import DlShapeError

    with pytest.raises(DlShapeError) as error:
        load_text(WIDE.format(units=units), "wide.dl")
    assert where in error.value.message
    assert (error.value.span.line, error.value.span.column) == (4, 5)


def test_an_input_beyond_the_limit_is_a_check_error():
    from compiler.errors import DlShapeError

    with pytest.raises(DlShapeError, match="input 'x' holds more than 2\\*\\*40 values"):
        load_text(WIDE.format(units=10).replace("f32[64]", "f32[1048576, 1048577]"), "wide.dl")
