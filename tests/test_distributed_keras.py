"""Data-parallel training of the generated Keras program: workers named by TF_CONFIG (MultiWorkerMirroredStrategy
on loopback) reach one process's weights, figures and files, stop together when one dies, and resume exactly.

The workers are real processes running the program as `__main__`, forked from one server that has imported
TensorFlow and Keras once: a fresh `python program.py` spends ~10 s importing them here, and two at once on two
cores ~25 s each, which would put this file far over its budget; one test starts the program as users do,
`python program.py`. The reference, one process, runs in this process.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from training_runs import assert_same_figures, weight_gaps

from backends.program.launch import free_ports
from backends.program.loader import emit_program, load_program
from compiler.frontend import load_model

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 150  # seconds one launch of workers may take; a hang fails its test, not the suite

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forks its workers")

# For each JSON line {"program", "argv", "env", "log"} on stdin it forks a child that runs the program as
# `__main__` with that environment, its stdout and stderr in "log", and prints {"pid": ...}; when a child ends it
# prints {"pid": ..., "code": exit status} (-9: SIGKILL). One thread, so that forking is safe.
FORK_SERVER = r"""
import json, os, runpy, select, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as the program sets it under TF_CONFIG
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot, numpy, safetensors.numpy, keras, tensorflow  # what every program imports

children, pending = set(), b""
while True:
    if select.select([0], [], [], 0.05)[0]:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            order = json.loads(line)
            pid = os.fork()
            if pid == 0:
                os.environ.update(order["env"])
                log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(log, 1)
                os.dup2(log, 2)
                sys.argv = [order["program"], *order["argv"]]
                runpy.run_path(order["program"], run_name="__main__")
                sys.exit(0)  # SystemExit and errors end the child as they end a program
            children.add(pid)
            print(json.dumps({"pid": pid}), flush=True)
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
            print(json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class ForkServer:
    """The test's side of FORK_SERVER; every wait has a timeout."""

    def __init__(self):
        environment = os.environ | {"PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-c", FORK_SERVER]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment
        )
        self.lines = queue.Queue()
        threading.Thread(target=self.read, daemon=True).start()
        self.codes = {}

    def read(self):
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next_line(self, deadline):
        try:
            return self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError("the workers did not end in time") from None

    def start(self, program, argv, env, log):
        self.process.stdin.write(
            json.dumps({"program": str(program), "argv": argv, "env": env, "log": str(log)}) + "\n"
        )
        self.process.stdin.flush()
        deadline = time.monotonic() + 60
        while "code" in (line := self.next_line(deadline)):  # an earlier child's end
            self.codes[line["pid"]] = line["code"]
        return line["pid"]

    def wait(self, pids, timeout=TIMEOUT):
        """Each pid's exit status, once all have ended; kills them all after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        try:
            while not all(pid in self.codes for pid in pids):
                line = self.next_line(deadline)
                self.codes[line["pid"]] = line["code"]
        except TimeoutError:
            for pid in pids:
                if pid not in self.codes:
                    os.kill(pid, signal.SIGKILL)
            raise
        return [self.codes[pid] for pid in pids]

    def close(self):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture(autouse=True)
def one_process_here(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)  # the reference runs in this process, as one process


@pytest.fixture(scope="module")
def server():
    forks = ForkServer()
    yield forks
    forks.close()


def tf_configs(workers):
    """TF_CONFIG for each of `workers` workers on free loopback ports (worker 0 is the chief)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": k}}) for k in range(workers)]


class Launch:
    """Workers of one program started together; their logs and exit statuses."""

    count = 0  # launches so far, naming their logs

    def __init__(self, server, program, out, argv, workers=2, extra=None):
        self.server, self.out = server, out
        Launch.count += 1
        self.logs = [out.parent / f"launch{Launch.count}.worker{k}.log" for k in range(workers)]
        # the chief's --out is `out`; each other worker gets a folder of its own, where it must write nothing
        self.others = [out.parent / f"{out.name}.worker{k}" for k in range(1, workers)]
        self.configs = tf_configs(workers)
        self.pids = [
            server.start(program, ["--out", str(folder), *argv, *(extra or {}).get(k, [])], {"TF_CONFIG": config}, log)
            for k, (config, log, folder) in enumerate(zip(self.configs, self.logs, [out, *self.others], strict=True))
        ]

    def wait(self, timeout=TIMEOUT):
        self.codes = self.server.wait(self.pids, timeout)
        self.outputs = [log.read_text() for log in self.logs]
        return self.codes


def compile_program(spec, folder, name):
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{name}.dl"
    source.write_text(spec)
    program = folder / f"train_{name}_keras.py"
    program.write_text(emit_program(load_model(source), "keras"))
    return program


def alone(program, out, argv, capsys):
    """One process's run, in this process (TF_CONFIG unset): its final figures and what it printed."""
    module = load_program(program, f"dlc_keras_alone_{program.stem}")
    final = module.main(["--out", str(out), *argv])
    return final, capsys.readouterr()


# 35 samples: 3 test, 3 validation, 29 to train on: five batches of 7 (cut 3 + 4 between two workers), the
# last of one sample (none for the first worker); the validation batch of 3 is cut 1 + 2. Five steps an epoch:
# more compound the rounding (after ten SGD steps with momentum a residual convnet drifts 0.3 tolerance units
# from itself when only the order of the samples within each batch changes).
DATA_SPEC = """
  train {{
    data = npz("data.npz", x="x", y="y")
    epochs = {epochs}
    batch_size = 7
    validation_split = 0.1
    test_split = 0.1
    seed = 0{more}
  }}
"""

MLP = """
model Mlp {
  input x: f32[8]
  layers {
    Dense(16, activation=relu, kernel_regularizer=l2(1e-3))
    Dropout(0.0)
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(learning_rate=0.01, clipnorm=0.5)   # clipped after the workers' gradients are summed
  metrics [accuracy]
"""

# Convolutions, BatchNormalization on the global batch, a residual Add; Nesterov momentum.
RESIDUAL = """
block Residual(filters) {
  Conv2D(filters, 3, padding=same, use_bias=false)
  BatchNormalization()
  ReLU()
  Add(in)
}

model ResidualConvNet {
  input image: f32[2, 2, 2]
  layers {
    Conv2D(8, 3, padding=same, use_bias=false)
    BatchNormalization()
    ReLU()
    Residual(8)
    GlobalAvgPool2D()
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer SGD(learning_rate=0.05, momentum=0.9, nesterov=true)
  metrics [accuracy]
"""

# A variable-length time axis (8 features are 2 rows of 4).
LSTM = """
model Recurrent {
  input rows: f32[?, 4]
  layers {
    LSTM(8, kernel_regularizer=l1(1e-4))
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(learning_rate=0.01)
  metrics [accuracy]
"""

# Tokens seen on both workers: Nadam squares each row of an Embedding's gradient before summing them per token,
# so the rows of every worker must reach it as rows.
TOKENS = """
model TokenBag {
  input tokens: i64[8]
  layers {
    Embedding(6, 4)
    GlobalAvgPool1D()
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Nadam(learning_rate=0.05)
  metrics [accuracy]
"""

# Early stopping restores the best weights from the chief's file at the end; the learning rate is halved after
# every epoch (no validation accuracy rises by 1), from the second epoch on.
CALLBACKS = """
    early_stopping = EarlyStopping(monitor=val_loss, patience=2, restore_best_weights=true)
    reduce_lr_on_plateau = ReduceLROnPlateau(monitor=val_accuracy, factor=0.5, patience=0, min_delta=1.0)"""
SPECS = {
    "mlp": MLP + DATA_SPEC.format(epochs=1, more="") + "}\n",
    "residual": RESIDUAL + DATA_SPEC.format(epochs=1, more="") + "}\n",
    "lstm": LSTM + DATA_SPEC.format(epochs=3, more=CALLBACKS) + "}\n",
    "tokens": TOKENS + DATA_SPEC.format(epochs=1, more="") + "}\n",
}


def write_data(folder, tokens=False, samples=35):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 6, (samples, 8)) if tokens else rng.normal(0.5, 1.0, (samples, 8)).astype(np.float32)
    np.savez(folder / "data.npz", x=x, y=rng.integers(0, 3, samples))


def progress_figures(text):
    """Each progress line's figures (the throughput left out), and the final line's."""
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.startswith(("Epoch ", "final: "))]
    return [[float(figure) for figure in re.findall(r"(?:: |=)(-?\d+\.\d+)", line)] for line in lines]


@pytest.mark.parametrize("name", list(SPECS))
def test_two_workers_train_as_one_process(name, server, tmp_path, capsys):
    """Weights within the contract's tolerance of one process's, the same history, final figures and progress
    lines; the other worker prints and writes nothing."""
    write_data(tmp_path, tokens=name == "tokens")
    program = compile_program(SPECS[name], tmp_path, name)
    launch = Launch(server, program, tmp_path / "workers", [])
    _, printed = alone(program, tmp_path / "alone", [], capsys)
    assert launch.wait() == [0, 0], launch.outputs
    gaps = weight_gaps(tmp_path / "alone", tmp_path / "workers")
    print(f"{name}: worst weight gap {max(gaps.values()):.3f} tolerance units", file=sys.stderr)
    assert max(gaps.values()) <= 1.0, gaps
    assert_same_figures(tmp_path / "alone", tmp_path / "workers")
    chief, other = launch.outputs
    assert re.search(r"^training on .+, \d+ CPU thread\(s\), 2 workers$", chief, re.MULTILINE), chief
    shown, expected = progress_figures(chief), progress_figures(printed.err + printed.out)
    assert len(shown) == len(expected) > 1, (chief, printed)
    for line, reference in zip(shown, expected, strict=True):
        np.testing.assert_allclose(line, reference, atol=1.01e-4)  # printed to 4 decimals
    assert other == "", other  # only the chief prints, and only the chief writes
    assert not any(folder.exists() for folder in launch.others)


# A longer run with Dropout (each worker its own masks), to be killed: 162 samples to train on in batches of 4,
# 41 steps an epoch.
KILLED = (
    MLP.replace("Dropout(0.0)", "Dropout(0.3)")
    + DATA_SPEC.replace("batch_size = 7", "batch_size = 4").format(epochs=4, more="")
    + "}\n"
)


def test_a_killed_worker_stops_the_other_and_resume_ends_as_an_uninterrupted_run(server, tmp_path):
    """Worker 1 killed once the first epoch's checkpoint is written: the chief ends within a minute with one line
    naming it, and `--resume` on two workers ends with the very weights of a run never interrupted (Dropout's
    streams, the optimizer's state and the shuffling go on where the checkpoint left them)."""
    write_data(tmp_path, samples=200)
    program = compile_program(KILLED, tmp_path, "killed")
    straight = Launch(server, program, tmp_path / "straight", [])
    assert straight.wait() == [0, 0], straight.outputs
    killed = Launch(server, program, tmp_path / "run", [])
    checkpoint = tmp_path / "run" / "checkpoint.keras"
    deadline = time.monotonic() + TIMEOUT
    while not checkpoint.exists() and time.monotonic() < deadline:  # after the first epoch, into the second
        time.sleep(0.02)
    os.kill(killed.pids[1], signal.SIGKILL)
    killed_at = time.monotonic()
    assert killed.wait(timeout=60) == [1, -signal.SIGKILL], killed.outputs
    stopped_after = time.monotonic() - killed_at
    print(f"the chief stopped {stopped_after:.1f} s after worker 1 was killed", file=sys.stderr)
    chief = killed.outputs[0]
    address = json.loads(killed.configs[1])["cluster"]["worker"][1]
    last = chief.strip().splitlines()[-1]
    assert last == f"training stopped: lost worker 1 ({address}); --resume continues from the last checkpoint", chief
    assert "Traceback" not in chief and "final:" not in chief, chief
    resumed = Launch(server, program, tmp_path / "run", ["--resume"])
    assert resumed.wait() == [0, 0], resumed.outputs
    assert "resumed from" in resumed.outputs[0], resumed.outputs[0]
    gaps = weight_gaps(tmp_path / "straight", tmp_path / "run")
    assert max(gaps.values()) == 0.0, gaps  # the same arithmetic on the same workers: the very same weights
    assert_same_figures(tmp_path / "straight", tmp_path / "run")


def without_gpu():
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")


NO_GPU = "--device cuda: TensorFlow sees no GPU here (tensorflow-cpu has none); use cpu or auto"


def test_a_gpu_asked_of_tensorflow_without_one_is_one_line(tmp_path):
    """`--device cuda` (PyTorch's word, taken as gpu) where TensorFlow sees no GPU: exit status 1 and one line,
    from a program started as users start it."""
    without_gpu()
    write_data(tmp_path)
    program = compile_program(SPECS["mlp"], tmp_path, "mlp")
    command = [sys.executable, str(program), "--out", str(tmp_path / "run"), "--device", "cuda"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == NO_GPU, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_a_worker_refusing_its_device_stops_the_others(server, tmp_path):
    """A worker whose machine lacks the device asked refuses once it has joined, so that the others stop (and
    name it) instead of waiting for it to join."""
    without_gpu()
    write_data(tmp_path)
    program = compile_program(SPECS["mlp"], tmp_path, "mlp")
    launch = Launch(server, program, tmp_path / "run", [], extra={1: ["--device", "cuda"]})
    assert launch.wait(timeout=60) == [1, 1], launch.outputs
    chief, refusing = (output.strip().splitlines()[-1] for output in launch.outputs)
    assert refusing == NO_GPU, launch.outputs
    assert chief.startswith("training stopped: lost worker 1 (127.0.0.1:"), launch.outputs


def test_dlc_train_nproc_starts_keras_workers_as_one_process_trains(tmp_path, capsys):
    """`dlc train --backend keras --nproc 2`, as users run it: TF_CONFIG workers on free loopback ports, one
    progress bar (the chief's), one process's weights."""
    write_data(tmp_path)
    program = compile_program(SPECS["mlp"], tmp_path, "mlp")
    alone(program, tmp_path / "alone", [], capsys)
    command = [sys.executable, "-m", "dlc", "train", str(tmp_path / "mlp.dl"), "--backend", "keras", "--nproc", "2"]
    done = subprocess.run([*command, "--out", str(tmp_path / "workers")], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert max(weight_gaps(tmp_path / "alone", tmp_path / "workers").values()) <= 1.0
    assert_same_figures(tmp_path / "alone", tmp_path / "workers")
    assert done.stderr.count("training on ") == 1 and "2 workers" in done.stderr
