"""Nothing a run wrote is lost to an interruption: every file the generated programs write (checkpoints,
weights, history, curves) goes through a temporary file and one rename, so a Ctrl-C or a kill at any instant
leaves the last good checkpoint, and `--resume` from it ends where an uninterrupted run ends."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import ROOT, assert_resumed

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
def test_an_interrupted_checkpoint_save_keeps_the_last_good_one(target, tmp_path, monkeypatch, capsys):
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
    capsys.readouterr()
    module.main(["--out", str(out), "--epochs", "4", "--resume"])
    assert_resumed(out, 2, 4, capsys.readouterr().err)  # from the good checkpoint of epoch 2
    module.main(["--out", str(tmp_path / "straight"), "--epochs", "4"])
    same_weights(out / "weights.safetensors", tmp_path / "straight/weights.safetensors")


@pytest.mark.parametrize("target", ["pytorch", "keras"])
def test_ctrl_c_during_a_save_finishes_it_then_stops(target, tmp_path, monkeypatch, capsys):
    """A real SIGINT while the checkpoint is written, inside saving code that swallows the KeyboardInterrupt (as
    some library's cleanup did, 2 times in about 50: the run went on as if no Ctrl-C had come). The save is
    finished, then the run stops; --resume goes on from the epoch that was saved."""
    module = load_program(program(target, tmp_path), f"held_{target}")
    out = tmp_path / "run"
    module.main(["--out", str(out), "--epochs", "2"])
    if target == "pytorch":
        import torch

        owner = torch
    else:
        import keras

        owner = keras.Model
    original = owner.save

    def interrupted_midway(*args, **kwargs):
        with contextlib.suppress(KeyboardInterrupt):  # swallowed
            signal.raise_signal(signal.SIGINT)
        return original(*args, **kwargs)

    # Python's own Ctrl-C handling, as from a terminal: a suite started in the background ignores SIGINT
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(owner, "save", interrupted_midway)
            with pytest.raises(KeyboardInterrupt):
                module.main(["--out", str(out), "--epochs", "4", "--resume"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert [p.name for p in out.iterdir() if "partial" in p.name] == []
    capsys.readouterr()
    module.main(["--out", str(out), "--epochs", "4", "--resume"])
    assert_resumed(out, 3, 4, capsys.readouterr().err)


# Runs the training program in forked children with its imports paid once (torch alone takes ~3 s to import
# here, 20 fresh processes would spend a minute importing): for each JSON line {"argv": [...], "log": PATH} on
# stdin it forks a child that runs the program as `__main__`, its stdout and stderr in PATH, prints the child's
# pid, waits for it and prints its exit code (-9: SIGKILL). The children are real processes, killed for real.
FORK_SERVER = r"""
import json, os, runpy, sys, traceback
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot, numpy, safetensors.numpy, torch, torch._dynamo  # the program's (and its optimizer's)

program = sys.argv[1]
for line in sys.stdin:
    order = json.loads(line)
    pid = os.fork()
    if pid == 0:
        log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.argv = [program, *order["argv"]]
        code = 0
        try:
            runpy.run_path(program, run_name="__main__")
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class ForkServer:
    """The test's side of FORK_SERVER: start a run, kill it, read how it ended; every wait has a timeout."""

    def __init__(self, program):
        command = [sys.executable, "-c", FORK_SERVER, str(program)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.child: int | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)

    def _line(self, timeout):
        try:
            return int(self.lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"the fork server said nothing for {timeout} s") from None

    def start(self, argv, log) -> int:
        self.process.stdin.write(json.dumps({"argv": [str(a) for a in argv], "log": str(log)}) + "\n")
        self.process.stdin.flush()
        self.child = self._line(timeout=120)  # the first order waits for the server's imports
        return self.child

    def ended(self, timeout) -> int:
        code = self._line(timeout)
        self.child = None
        return code

    def close(self):
        if self.child is not None:
            os.kill(self.child, signal.SIGKILL)  # a failed test leaves no training behind
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()  # the server's loop ends
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


def stamp(path):
    """Which checkpoint file is there: each save is a new file renamed into place."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_ino, status.st_mtime_ns, status.st_size


def next_checkpoint(path, since, deadline):
    """Wait until a checkpoint other than `since` is in place (an epoch ended) and return its stamp."""
    while (now := stamp(path)) == since:
        assert time.monotonic() < deadline, "the run wrote no checkpoint"
        time.sleep(0.002)
    return now


def folder_stamps(folder):
    return {name: stamp(folder / name) for name in os.listdir(folder)}


def next_write(folder, deadline):
    """Wait until a file in `folder` appears or changes: a save has begun (the temporary file being written, or
    the file itself if it were written in place)."""
    settled = folder_stamps(folder)
    while folder_stamps(folder) == settled:
        assert time.monotonic() < deadline, "the run wrote nothing"
        time.sleep(0.0005)


KILLS = 20
NEVER_DONE = 1000  # the killed runs' --epochs: none can end by itself before its kill


def test_random_kills_during_training_lose_nothing(tmp_path):
    """20 SIGKILLs at random instants of training, each followed by `--resume`: every checkpoint left behind
    loads, each run continues where the last checkpoint stood, and the last run, resumed a few epochs further,
    trains only those and ends with the weights of an uninterrupted run of as many epochs. Every run trains at
    least an epoch (its first checkpoint); then half the runs are killed at a random instant of the epoch after
    their second (the time between them is an epoch here), in training, evaluation or a save alike, and half the
    instant their next save begins to write."""
    path, out = program("pytorch", tmp_path), tmp_path / "run"
    checkpoint = out / "checkpoint.pt"
    chance = random.Random(7)
    server = ForkServer(path)
    try:
        import torch  # while the server imports it too

        batch = ["--batch-size", 120]  # one step an epoch: short epochs, a save each
        reached = [0]
        for kill in range(KILLS):
            resume = ["--resume"] if checkpoint.exists() else []
            deadline = time.monotonic() + 120
            before = stamp(checkpoint)
            argv = ["--out", out, "--epochs", NEVER_DONE, *batch, *resume]
            child = server.start(argv, tmp_path / f"kill{kill}.log")
            first = next_checkpoint(checkpoint, before, deadline)
            if kill % 2:
                next_write(out, deadline)
            else:
                started = time.monotonic()
                next_checkpoint(checkpoint, first, deadline)
                time.sleep(chance.uniform(0.0, time.monotonic() - started))  # anywhere in the next epoch
            os.kill(child, signal.SIGKILL)
            assert server.ended(timeout=30) == -signal.SIGKILL
            state = torch.load(checkpoint, weights_only=True)  # whole, whenever the kill came
            assert state["epoch"] >= reached[-1] + (1 if kill % 2 else 2), (kill, reached, state["epoch"])
            reached.append(state["epoch"])  # each run resumed where the last one's checkpoint stood
        epochs = reached[-1] + 2  # `--epochs` only says where to stop: the epochs before it do not depend on it
        log = tmp_path / "finished.log"
        server.start(["--out", out, "--epochs", epochs, *batch, "--resume"], log)
        assert server.ended(timeout=300) == 0, log.read_text()[-3000:]
        assert_resumed(out, reached[-1], epochs, log.read_text())
        log = tmp_path / "straight.log"
        server.start(["--out", tmp_path / "straight", "--epochs", epochs, *batch], log)
        assert server.ended(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        server.close()
    same_weights(out / "weights.safetensors", tmp_path / "straight/weights.safetensors")


DROPOUT_SPEC = """
model Dropped {
  input x: f32[4]
  layers {
    Dense(16, activation=relu)
    Dropout(0.5)
    Dense(16, activation=relu)
    Dropout(0.3)
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam()
  train { data = dataset("iris") batch_size = 16 }
}
"""


@pytest.mark.parametrize("target", ["pytorch", "keras"])
def test_resume_continues_dropouts_random_stream(target, tmp_path, capsys):
    """Each Dropout draws from a random stream that the checkpoint keeps: 2 epochs, then `--resume` to 4, equal
    4 straight epochs exactly (Keras once restarted its Dropout generators: 0.007 apart; then two Dropouts
    shared one key in the checkpoint and resumed on one stream: 0.033 apart)."""
    from compiler.frontend import load_text

    (graph,) = load_text(DROPOUT_SPEC, str(tmp_path / "dropped.dl"))
    path = tmp_path / f"dropped_{target}.py"
    path.write_text(emit_program(graph, target))
    module = load_program(path, f"dropped_{target}")
    module.main(["--out", str(tmp_path / "run"), "--epochs", "2"])
    capsys.readouterr()
    module.main(["--out", str(tmp_path / "run"), "--epochs", "4", "--resume"])
    assert_resumed(tmp_path / "run", 2, 4, capsys.readouterr().err)
    module.main(["--out", str(tmp_path / "straight"), "--epochs", "4"])
    same_weights(tmp_path / "run/weights.safetensors", tmp_path / "straight/weights.safetensors")


def test_resume_refuses_another_models_checkpoint(tmp_path):
    """Keras loads whatever model an archive holds: resumed from another model's checkpoint, the Keras program
    trained that model and wrote its weights under this one's name. It is refused, as the PyTorch program's
    state_dict refuses it."""
    from compiler.frontend import load_text

    (small,) = load_text(DROPOUT_SPEC.replace("Dense(16", "Dense(8"), str(tmp_path / "small.dl"))
    (dropped,) = load_text(DROPOUT_SPEC, str(tmp_path / "dropped.dl"))
    for name, graph in (("small", small), ("dropped", dropped)):
        (tmp_path / f"{name}.py").write_text(emit_program(graph, "keras"))
    load_program(tmp_path / "small.py", "small_keras").main(["--out", str(tmp_path / "run"), "--epochs", "1"])
    other = load_program(tmp_path / "dropped.py", "dropped_keras")
    with pytest.raises(SystemExit) as stopped:
        other.main(["--out", str(tmp_path / "run"), "--epochs", "2", "--resume"])
    assert "not this program's" in str(stopped.value.code), stopped.value.code
