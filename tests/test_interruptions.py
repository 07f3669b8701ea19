"""Nothing a run wrote is lost to an interruption: every file the generated programs write (checkpoints,
weights, history, curves) goes through a temporary file and one rename, so a Ctrl-C or a kill at any instant
leaves the last good checkpoint, and `--resume` from it ends where an uninterrupted run ends."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT

from backends.program.loader import emit_program, load_program
from compiler.frontend import load_model
from compiler.weights import load_safetensors

IRIS = ROOT / "examples/iris_mlp.dl"
CHECKPOINTS = {"pytorch": "checkpoint.pt", "keras": "checkpoint.keras"}


def program(target, tmp_path):
    path = tmp_path / f"iris_{target}.py"
    path.write_text(emit_program(load_model(IRIS), target))
    return path


def same_weights(a, b):
    first, _ = load_safetensors(a)
    second, _ = load_safetensors(b)
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def interrupt_the_writer(monkeypatch, target):
    """Make the checkpoint writer put half a file down and then be interrupted, as a Ctrl-C mid-save would."""
    if target == "pytorch":
        import torch

        owner, name = torch, "save"
    else:
        import keras

        owner, name = keras.Model, "save"

    def half_then_interrupted(*args, **kwargs):
        path = next(a for a in (*args, *kwargs.values()) if isinstance(a, os.PathLike | str))
        with open(path, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(owner, name, half_then_interrupted)


@pytest.mark.parametrize("target", ["pytorch", "keras"])
def test_an_interrupted_checkpoint_save_keeps_the_last_good_one(target, tmp_path, monkeypatch):
    module = load_program(program(target, tmp_path), f"interrupted_{target}")
    out = tmp_path / "run"
    module.main(["--out", str(out), "--epochs", "2"])
    checkpoint = out / CHECKPOINTS[target]
    before = checkpoint.read_bytes()
    with monkeypatch.context() as patched:
        interrupt_the_writer(patched, target)
        with pytest.raises(KeyboardInterrupt):
            module.main(["--out", str(out), "--epochs", "3", "--resume"])
    assert checkpoint.read_bytes() == before
    assert [p.name for p in out.iterdir() if "partial" in p.name] == []
    module.main(["--out", str(out), "--epochs", "4", "--resume"])
    module.main(["--out", str(tmp_path / "straight"), "--epochs", "4"])
    same_weights(out / "weights.safetensors", tmp_path / "straight/weights.safetensors")


def test_random_kills_during_training_lose_nothing(tmp_path):
    """SIGKILL at random instants, each followed by `--resume`: every checkpoint left behind loads, and the run
    ends with the weights of an uninterrupted one."""
    import torch

    path, out = program("pytorch", tmp_path), tmp_path / "run"
    command = [sys.executable, str(path), "--out", str(out), "--epochs", "20"]
    chance = random.Random(7)
    for _ in range(4):
        resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
        process = subprocess.Popen([*command, *resume], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(chance.uniform(3.0, 5.0))  # past the imports (~3 s here), into the epochs
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if (out / "checkpoint.pt").exists():
            torch.load(out / "checkpoint.pt", weights_only=True)  # loads whole, whenever the kill came
    resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
    finished = subprocess.run([*command, *resume], capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    straight = subprocess.run(
        [*command[:-4], "--out", str(tmp_path / "straight"), "--epochs", "20"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert straight.returncode == 0, straight.stderr
    same_weights(out / "weights.safetensors", tmp_path / "straight/weights.safetensors")


DROPOUT_SPEC = """
model Dropped {
  input x: f32[4]
  layers {
    Dense(16, activation=relu)
    Dropout(0.5)
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam()
  train { data = dataset("iris") batch_size = 16 }
}
"""


@pytest.mark.parametrize("target", ["pytorch", "keras"])
def test_resume_continues_dropouts_random_stream(target, tmp_path):
    """Dropout draws from a random stream that the checkpoint keeps: 2 epochs, then `--resume` to 4, equal
    4 straight epochs exactly (Keras once restarted its Dropout generators: 0.007 apart)."""
    from compiler.frontend import load_text

    (graph,) = load_text(DROPOUT_SPEC, str(tmp_path / "dropped.dl"))
    path = tmp_path / f"dropped_{target}.py"
    path.write_text(emit_program(graph, target))
    module = load_program(path, f"dropped_{target}")
    module.main(["--out", str(tmp_path / "run"), "--epochs", "2"])
    module.main(["--out", str(tmp_path / "run"), "--epochs", "4", "--resume"])
    module.main(["--out", str(tmp_path / "straight"), "--epochs", "4"])
    same_weights(tmp_path / "run/weights.safetensors", tmp_path / "straight/weights.safetensors")
