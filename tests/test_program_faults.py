"""A generated program run by hand answers its user's mistakes and a Ctrl-C with one line and an exit status,
never a traceback: `--resume` with no checkpoint or a broken one, `--weights` that do not read or hold NaN,
`--out` naming a file or under one, options out of range."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT
from safetensors.numpy import save_file

from backends.program.loader import emit_program, load_program
from compiler.frontend import load_model
from compiler.weights import initial_weights

IRIS = ROOT / "examples/iris_mlp.dl"
CHECKPOINTS = {"pytorch": "checkpoint.pt", "keras": "checkpoint.keras"}


@pytest.fixture(scope="module", params=["pytorch", "keras"])
def program(request, tmp_path_factory):
    path = tmp_path_factory.mktemp(request.param) / f"iris_{request.param}.py"
    path.write_text(emit_program(load_model(IRIS), request.param))
    return request.param, path


@pytest.fixture(scope="module")
def module(program):
    target, path = program
    return load_program(path, f"faults_{target}")


def refused(module, options, *phrases):
    """`main` ends with SystemExit(message): Python prints the message alone and exits with status 1."""
    with pytest.raises(SystemExit) as stopped:
        module.main([str(option) for option in options])
    message = stopped.value.code
    assert isinstance(message, str), message
    for phrase in phrases:
        assert phrase in message


def test_resume_without_a_checkpoint_says_so(program, module, tmp_path):
    target, _ = program
    refused(module, ["--out", tmp_path / "run", "--resume"], "no checkpoint at", CHECKPOINTS[target])


def test_resume_from_a_broken_checkpoint_says_which_file(program, module, tmp_path):
    target, _ = program
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / CHECKPOINTS[target]).write_bytes(b"not a checkpoint")
    refused(module, ["--out", tmp_path / "run", "--resume"], "does not load", CHECKPOINTS[target])
    with pytest.raises(SystemExit) as stopped:
        module.main(["--out", str(tmp_path / "run"), "--resume"])
    assert "not found" not in str(stopped.value.code)  # Keras' own word for a file that is there


def test_unreadable_or_nan_weights_are_refused_with_their_name(module, tmp_path):
    truncated = tmp_path / "truncated.safetensors"
    weights = initial_weights(load_model(IRIS), 0)
    save_file(weights, str(truncated))
    truncated.write_bytes(truncated.read_bytes()[:-10])
    refused(module, ["--out", tmp_path / "a", "--weights", truncated], "truncated.safetensors")
    poisoned = tmp_path / "nan.safetensors"
    key = sorted(weights)[0]
    save_file(weights | {key: np.full_like(weights[key], np.nan)}, str(poisoned))
    refused(module, ["--out", tmp_path / "b", "--weights", poisoned], f"'{key}'", "NaN")


def test_weights_of_another_model_are_refused_with_their_name(module, tmp_path):
    other = tmp_path / "other_model.safetensors"
    save_file(initial_weights(load_model(IRIS), 0) | {"extra.kernel": np.zeros((2, 2), np.float32)}, str(other))
    refused(module, ["--out", tmp_path / "run", "--weights", other], "other_model.safetensors", "do not fit")


def test_data_for_a_packaged_dataset_is_refused(tmp_path):
    """`--data` replaces a csv or npz source's file; given to a dataset("digits") spec it was ignored silently."""
    path = tmp_path / "digits.py"
    path.write_text(emit_program(load_model(ROOT / "examples/digits_mlp.dl"), "pytorch"))
    module = load_program(path, "digits_data")
    refused(module, ["--out", tmp_path / "run", "--data", "mine.csv"], "--data mine.csv", "dataset('digits')")


def test_out_naming_a_file_is_refused(module, tmp_path):
    (tmp_path / "taken").write_text("mine")
    refused(module, ["--out", tmp_path / "taken"], "is a file")
    assert (tmp_path / "taken").read_text() == "mine"


def test_out_under_a_file_is_refused(module, tmp_path):
    (tmp_path / "taken").write_text("mine")
    refused(module, ["--out", tmp_path / "taken" / "run"], "--out", "cannot create the folder")


@pytest.mark.parametrize(
    ("option", "value", "bounds"),
    [
        ("--epochs", 0, "at least 1"),
        ("--batch-size", 0, "at least 1"),
        ("--batch-size", -3, "at least 1"),  # PyTorch trained on silently
        ("--seed", -1, "from 0 to 4294967295"),
        ("--seed", 2**32, "from 0 to 4294967295"),  # Keras' seeds are 32-bit
        ("--threads", 0, "at least 1"),
    ],
)
def test_options_out_of_range_are_refused_before_training(module, tmp_path, option, value, bounds):
    """The spec's own settings have these ranges; before, out of them, matplotlib, a division or a seed
    function failed with a traceback, after training when it was the plot."""
    refused(module, ["--out", tmp_path / "run", option, value], f"{option} {value}: give {bounds}")
    assert not (tmp_path / "run").exists()


def interrupted(path, out, when) -> tuple[int, str]:
    """(exit status, stderr) of the program at `path` run as a user runs it, training into `out` for a long
    while, sent SIGINT once `when()` returns."""
    process = subprocess.Popen(
        [sys.executable, str(path), "--out", str(out), "--epochs", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background (nohup, `&`) hands its children SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        when()
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait(timeout=60)
    return process.returncode, errors


def test_ctrl_c_ends_with_one_line_and_status_130(program, tmp_path):
    """Run as a script, as a user runs it: Python's own handling would print a KeyboardInterrupt traceback."""
    target, path = program
    out = tmp_path / "run"

    def into_the_epochs():
        deadline = time.monotonic() + 120
        while not (out / CHECKPOINTS[target]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    status, errors = interrupted(path, out, into_the_epochs)
    assert status == 130, errors
    assert "Traceback" not in errors
    assert "interrupted" in errors


def test_ctrl_c_while_the_frameworks_load_ends_quietly(program, tmp_path):
    """torch and TensorFlow take seconds to import, a common moment to think better of a run: before, Ctrl-C
    then printed a KeyboardInterrupt traceback from deep inside an import. It ends the program as it ends any
    Unix tool, by the signal, with nothing written."""
    _, path = program
    out = tmp_path / "run"
    # past Python's own start (~50 ms), well inside the frameworks' imports (1.5 s and more)
    status, errors = interrupted(path, out, lambda: time.sleep(0.5))
    assert status == -signal.SIGINT, errors
    assert errors == ""
    assert not out.exists()


def test_a_hostile_file_name_reaches_help_intact(program, tmp_path):
    """The spec's file name is shown in the program's --help. argparse formats a `%(prog)s` in it and fails on
    a lone `%` after one; bytes that are not UTF-8 (kept by Python as lone surrogates) made any run fail in a
    UnicodeEncodeError. One name holding all three."""
    target, _ = program
    name = os.fsdecode(b"a%(prog)s 100% \xff.dl")
    source = tmp_path / name
    source.write_text(IRIS.read_text().replace('"data/iris.csv"', '"' + str(IRIS.parent / "data/iris.csv") + '"'))
    path = tmp_path / f"odd_{target}.py"
    path.write_text(emit_program(load_model(source), target), encoding="utf-8")
    done = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "generated by dlc from" in done.stdout and "a%(prog)s 100% \ufffd.dl" in " ".join(done.stdout.split())
