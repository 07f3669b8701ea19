"""Huge dimensions: a tensor no machine holds is a check error with its span; `dlc check` shows the weights'
memory; `train`, `export` and `verify` refuse a model this machine cannot hold before any framework allocates."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from compiler import memory
from compiler.frontend import load_text
from compiler.memory import estimate, machine_memory, optimizer_slots, show_bytes, weight_bytes
from compiler.training import OPTIMIZERS
from compiler.training_types import Configured
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
# the same with two hidden layers and any optimizer: Dense(23200) twice holds 2.01 GiB of float32 weights
TWO = WIDE.replace("Dense({units})", "Dense({units})\n    Dense({units})").replace("Adam()", "{optimizer}")
FRAMEWORKS = ("torch", "tensorflow", "onnxruntime", "onnx")


def two(units: int, optimizer: str = "Adam()"):
    (graph,) = load_text(TWO.format(units=units, optimizer=optimizer), "two.dl")
    return graph


def loaded_frameworks() -> set[str]:
    return {name for name in FRAMEWORKS if name in sys.modules}


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


def test_a_model_beyond_this_machine_is_refused_before_allocating(wide, tmp_path, capsys):
    frameworks = loaded_frameworks()
    assert main(["train", str(wide), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "wide.dl:4:5: error: model 'Wide' needs at least" in err
    assert "279.40 GiB of float32 weights, held 6 times: the model, its canonical copy, and per trainable" in err
    assert "weight a gradient, Adam's 2 slots and a copy for the step and the checkpoint" in err
    assert f"this machine has {show_bytes(machine_memory())}" in err
    assert "its largest layer is 'dense' (Dense, 65,000,000,000 weights)" in err
    assert loaded_frameworks() == frameworks
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [["export", "-o", "{tmp}/w.onnx"], ["verify"]])
def test_export_and_verify_refuse_more_weights_than_an_onnx_file_holds(wide, tmp_path, capsys, command):
    """Both write the model to ONNX: one protobuf, which cannot reach 2 GiB; refused before the memory check."""
    frameworks = loaded_frameworks()
    options = [part.format(tmp=tmp_path) for part in command]
    assert main([options[0], str(wide), *options[1:]]) == 1
    err = capsys.readouterr().err
    assert "wide.dl:4:5: error: model 'Wide' has 279.40 GiB of float32 weights, too many for ONNX" in err
    assert "an ONNX file written by dlc holds its weights inside one protobuf, which is limited to 2.00 GiB" in err
    assert "its largest layer is 'dense' (Dense, 65,000,000,000 weights)" in err
    assert loaded_frameworks() == frameworks
    assert not (tmp_path / "w.onnx").exists()


@pytest.mark.parametrize(("command", "held"), [(["export", "-o", "{tmp}/w.onnx"], 3), (["verify"], 5)])
def test_export_and_verify_refuse_a_model_beyond_this_machine(tmp_path, capsys, monkeypatch, command, held):
    """Under the ONNX limit, the machine's memory decides: 64 -> Dense(1000) x2 -> 10, on a machine of 10 MiB."""
    spec = tmp_path / "two.dl"
    spec.write_text(TWO.format(units=1000, optimizer="Adam()"))
    monkeypatch.setattr(memory, "machine_memory", lambda: 10 * 2**20)
    frameworks = loaded_frameworks()
    options = [part.format(tmp=tmp_path) for part in command]
    assert main([options[0], str(spec), *options[1:]]) == 1
    err = capsys.readouterr().err
    need = show_bytes(held * 4_304_040 + 8040)  # 1,076,010 weights; 2,010 values of activations for one sample
    assert f"two.dl:5:5: error: model 'Wide' needs at least {need} to {options[0]}" in err
    assert f"(4.10 MiB of float32 weights, held {held} times, and 7.85 KiB of activations per batch)" in err
    assert "this machine has 10.00 MiB" in err
    assert loaded_frameworks() == frameworks
    assert not (tmp_path / "w.onnx").exists()


def test_the_train_estimate_counts_every_copy_training_holds():
    """The model, its canonical copy, and per trainable weight a gradient, Adam's 2 slots and a copy for the step
    and the checkpoint: 6 times the weights. 2 x Dense(30000), 3.36 GiB of weights, needs 20.17 GiB to train: the
    audit's run, accepted at 6.7 GiB, died at 14.4 GB of RSS under a 20 GiB address-space limit (exit 70)."""
    graph = two(30000)
    weights = weight_bytes(graph)
    assert show_bytes(weights) == "3.36 GiB"
    need = estimate(graph, "train")
    assert need.held >= weights * (1 + 1 + 2 + 1 + 1)
    assert need.total == need.held + need.batch and show_bytes(need.total) == "20.17 GiB"
    assert need.what.startswith("held 6 times:")


@pytest.mark.parametrize(
    ("optimizer", "slots"),
    [
        ("SGD()", 0),
        ("SGD(momentum=0.9)", 1),
        ("RMSprop()", 1),
        ("RMSprop(momentum=0.5, centered=true)", 3),
        ("Adagrad()", 1),
        ("Lion()", 1),
        ("Adadelta()", 2),
        ("Adam()", 2),
        ("AdamW()", 2),
        ("Nadam()", 2),
        ("Adamax()", 2),
    ],
)
def test_the_train_estimate_grows_with_the_optimizers_slots(optimizer, slots):
    graph = two(100, optimizer)
    assert optimizer_slots(graph.training.optimizer) == slots
    assert estimate(graph, "train").held == weight_bytes(graph) * (4 + slots)
    plain, adam = estimate(two(100, "SGD()"), "train"), estimate(two(100), "train")
    assert plain.held < adam.held and adam.held - plain.held == 2 * weight_bytes(graph)


def test_every_optimizer_has_its_slots_counted():
    """A new optimizer in compiler/training.py needs its slot count in compiler/memory.py (a KeyError otherwise)."""
    for name in OPTIMIZERS:
        assert optimizer_slots(Configured(name, {})) >= 0


def test_non_trainable_weights_get_no_gradient_or_slots():
    (graph,) = load_text(
        TWO.format(units=8, optimizer="Adam()").replace("Dense(10,", "BatchNormalization()\n    Dense(10,")
    )
    frozen = graph.non_trainable_count * 4
    assert frozen == 2 * 8 * 4  # BatchNormalization's moving mean and variance
    assert estimate(graph, "train").held == weight_bytes(graph) * 6 - frozen * 4  # only the model and canonical


def test_training_beyond_this_machine_is_refused_before_allocating(tmp_path, capsys, monkeypatch):
    """2 x Dense(1000) with Adam: 4.10 MiB of weights, 24.87 MiB to train; a 16 MiB machine held it under the
    old estimate (2 copies, 8.45 MiB) and cannot now."""
    spec = tmp_path / "two.dl"
    spec.write_text(TWO.format(units=1000, optimizer="Adam()"))
    monkeypatch.setattr(memory, "machine_memory", lambda: 16 * 2**20)
    frameworks = loaded_frameworks()
    assert main(["train", str(spec), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "two.dl:5:5: error: model 'Wide' needs at least 24.87 MiB to train" in err
    assert "(4.10 MiB of float32 weights, held 6 times:" in err and "this machine has 16.00 MiB" in err
    assert loaded_frameworks() == frameworks
    assert not (tmp_path / "run").exists()


def test_the_address_space_limit_counts_as_this_machines_memory(tmp_path):
    """`prlimit --as` (ulimit -v) caps what the process can hold: the audit's run died at 14.4 GB RSS under 20 GiB.
    2 x Dense(9000), 311.60 MiB of Adam weights, needs 1.83 GiB to train: refused at once under 1.5 GiB."""
    resource = pytest.importorskip("resource")
    spec = tmp_path / "two.dl"
    spec.write_text(TWO.format(units=9000, optimizer="Adam()"))
    cap = 3 * 2**29

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    command = [sys.executable, "-m", "dlc", "train", str(spec), "--out", str(tmp_path / "run")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert result.returncode == 1, result.stderr
    assert "error: model 'Wide' needs at least 1.83 GiB to train" in result.stderr
    assert "this machine has 1.50 GiB" in result.stderr
    assert not (tmp_path / "run").exists()


def test_export_refuses_a_model_beyond_one_onnx_file_at_once(tmp_path):
    """2 x Dense(23200), 2.01 GiB of weights: protobuf's limit is 2 GiB. Unchecked, `dlc export` drew the weights,
    built the ONNX model (6.36 GB of RSS) and failed to serialise it after 24 s, with exit 70."""
    spec = tmp_path / "two.dl"
    spec.write_text(TWO.format(units=23200, optimizer="Adam()"))
    command = [sys.executable, "-m", "dlc", "export", str(spec), "-o", str(tmp_path / "two.onnx")]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    seconds = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "two.dl:5:5: error: model 'Wide' has 2.01 GiB of float32 weights, too many for ONNX" in result.stderr
    assert "holds its weights inside one protobuf, which is limited to 2.00 GiB" in result.stderr
    assert "Traceback" not in result.stderr and "EncodeError" not in result.stderr
    assert seconds < 12, f"{seconds:.1f} s: the refusal came after building"
    assert not (tmp_path / "two.onnx").exists()


def test_train_export_refuses_too_many_weights_for_onnx_before_training(tmp_path, capsys, monkeypatch):
    """`dlc train --export` would train for the whole run, then fail to export: it is refused first."""
    monkeypatch.setattr(memory, "machine_memory", lambda: 2**50)  # only the ONNX limit is in question here
    spec = tmp_path / "two.dl"
    spec.write_text(TWO.format(units=23200, optimizer="Adam()"))
    assert main(["train", str(spec), "--out", str(tmp_path / "run"), "--export"]) == 1
    assert "too many for ONNX" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_exporter_refuses_too_many_weights_before_building(monkeypatch):
    """`dlc train --export` and other callers reach export_model without `dlc export`'s check: it checks first,
    before reading a weight (none are given here)."""
    pytest.importorskip("onnx")
    from backends.onnx import export_model
    from compiler.errors import DlError

    with pytest.raises(DlError, match="has 2.01 GiB of float32 weights, too many for ONNX"):
        export_model(two(23200), {})


def test_saving_an_onnx_model_over_the_limit_is_a_user_error(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from google.protobuf.message import EncodeError

    from backends.onnx import export_model, save
    from compiler.errors import DlError
    from compiler.weights import initial_weights

    graph = two(8)
    model = export_model(graph, initial_weights(graph, 0))

    def fail(*_):
        raise EncodeError("Failed to serialize proto")

    monkeypatch.setattr(type(model), "SerializeToString", fail)
    with pytest.raises(DlError, match="cannot write the ONNX model: .* limited to 2.00 GiB"):
        save(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


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
