"""Data-parallel training of the generated PyTorch program under torchrun: N workers give one process's weights.

Every run is real: the program `dlc compile` writes, started by `python -m torch.distributed.run` (torchrun) or
by `dlc train --nproc`, with gloo on loopback. The specs are the examples' models with dropout off (each worker
draws its own masks), trained for about five steps on 200 digits, so that the comparison is of the arithmetic.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from training_runs import assert_same_figures, weight_gaps, weights_of

from backends.program.launch import free_ports

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 240  # seconds for one launch; a hang fails the test instead of the suite

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="torchrun's gloo on loopback, as CI runs it")


def assert_same_weights(one: Path, other: Path, program: Path, inputs: np.ndarray) -> None:
    """Every weight within 1e-5 relative + 1e-6 absolute; a weight outside is judged as `dlc verify` judges
    the weights Adam steps on rounding noise (a gradient that is zero but for one sample, or a ReLU kink one
    rounding flips): by its effect, the model's outputs on `inputs` within the contract's 1e-5."""
    expected, actual = weights_of(one, other)
    gaps = weight_gaps(one, other)
    outside = [key for key, gap in gaps.items() if gap > 1.0]
    if outside:
        swapped = expected | {key: actual[key] for key in outside}
        reference, judged = (outputs(program, weights, inputs) for weights in (expected, swapped))
        np.testing.assert_allclose(judged, reference, rtol=1e-5, atol=1e-5, err_msg=f"outside: {outside}, {gaps}")
        worst = max(float(np.max(np.abs(expected[key] - actual[key]))) for key in outside)
        assert worst <= 1e-4, gaps  # `dlc verify`'s bound on weights after steps: rounding, not another update


def outputs(program: Path, weights: dict, inputs: np.ndarray) -> np.ndarray:
    """The program's model's inference outputs with these canonical weights."""
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location(f"judged_{program.stem}", program)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        model = module.MODEL_CLASS()
        module.load_canonical(model, weights)
        model.eval()
        with torch.inference_mode():
            return model(torch.from_numpy(inputs)).numpy()
    finally:
        sys.modules.pop(spec.name)


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory) -> Path:
    """200 digits: 144 to train on (20% test, then 10% validation), 16 validation, 40 test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    path = tmp_path_factory.mktemp("data") / "digits200.npz"
    np.savez(path, x=data.data[:200].astype(np.float32), y=data.target[:200])
    return path


def variant(text: str, data: Path, batch_size: int, epochs: int = 1) -> str:
    """An example's spec on `data`, with dropout off and the given batch size and epochs."""
    text = re.sub(r"Dropout\([^)]*\)", "Dropout(0.0)", text)
    text = re.sub(r'data = dataset\("digits"\)', f'data = npz("{data}", x="x", y="y")', text)
    text = re.sub(r"batch_size = \d+", f"batch_size = {batch_size}", text)
    return re.sub(r"epochs = \d+", f"epochs = {epochs}", text)


CONVNET_WITH_BATCH_NORM = """
model DigitsBatchNormConvNet {
  input image: f32[8, 8, 1]
  layers {
    Conv2D(16, 3, padding=same, use_bias=false)
    BatchNormalization()
    ReLU()
    MaxPool2D(2)
    Conv2D(32, 3, padding=same, activation=relu)
    Flatten()
    Dense(10, activation=softmax)
  }
  loss categorical_crossentropy
  optimizer Adam(learning_rate=0.003)
  metrics [accuracy]
  train {
    data = dataset("digits")
    epochs = 1
    batch_size = 32
    validation_split = 0.1
    test_split = 0.2
    seed = 0
  }
}
"""

TOKENS = """
model TokenBag {
  input tokens: i64[6]
  layers {
    Embedding(12, 4)
    GlobalAvgPool1D()
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(learning_rate=0.05)
  metrics [accuracy]
  train {
    data = npz("DATA", x="x", y="y")
    epochs = 2
    batch_size = 7
    validation_split = 0.0
    test_split = 0.0
    seed = 0
  }
}
"""


def compile_program(spec: str, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"{name}.dl"
    source.write_text(spec)
    program = folder / f"train_{name}.py"
    done = run([sys.executable, "-m", "dlc", "compile", str(source), "--target", "pytorch", "-o", str(program)])
    assert done.returncode == 0, done.stderr
    return program


def run(argv: list[str], **options) -> subprocess.CompletedProcess:
    environment = os.environ | {"PYTHONPATH": str(ROOT)} | options.pop("env", {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=environment, **options)


def torchrun(program: Path, out: Path, *options: str, workers: int = 2) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={workers}"]
    return run([*launcher, str(program), "--out", str(out), *options])


def alone(program: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    return run([sys.executable, str(program), "--out", str(out), *options])


CASES = {
    # name: the spec (an example with dropout off, or one above), batch size, one input's shape
    "mlp": (lambda: (EXAMPLES / "digits_mlp.dl").read_text(), 32, (64,)),  # 5 steps, the last of 16
    "convnet_batch_norm": (lambda: CONVNET_WITH_BATCH_NORM, 32, (8, 8, 1)),
    "lstm": (lambda: (EXAMPLES / "digits_lstm.dl").read_text(), 32, (8, 8)),
    "residual": (lambda: (EXAMPLES / "digits_resnet.dl").read_text(), 30, (8, 8, 1)),  # 30 split 15 + 15
}


def digits_inputs(shape: tuple[int, ...]) -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().data[:64].astype(np.float32).reshape(-1, *shape)


@pytest.mark.parametrize("case", CASES)
def test_two_workers_train_the_weights_of_one_process(case, digits_npz, tmp_path):
    spec, batch_size, shape = CASES[case]
    program = compile_program(variant(spec(), digits_npz, batch_size), tmp_path, case)
    single, pair = alone(program, tmp_path / "one"), torchrun(program, tmp_path / "two")
    assert single.returncode == 0, single.stderr[-3000:]
    assert pair.returncode == 0, pair.stderr[-3000:]
    assert_same_weights(tmp_path / "one", tmp_path / "two", program, digits_inputs(shape))
    assert_same_figures(tmp_path / "one", tmp_path / "two")
    # one progress bar: only the chief prints its lines
    assert pair.stderr.count("Epoch 1/1 [====") == single.stderr.count("Epoch 1/1 [====") > 0


def test_uneven_parts_a_last_batch_of_one_and_embedding_rows(tmp_path):
    """Batches of 7 cut 3 + 4; 29 samples leave a last batch of 1, so one worker has none; Adam squares an
    embedding's rows before summing them, so every worker's rows must reach every optimizer as rows. Three
    workers cut 7 as 2 + 2 + 3 and the last batch as 0 + 0 + 1."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 12, (29, 6))
    np.savez(tmp_path / "tokens.npz", x=tokens.astype(np.float32), y=tokens[:, 0] % 3)
    program = compile_program(TOKENS.replace("DATA", str(tmp_path / "tokens.npz")), tmp_path, "tokens")
    assert alone(program, tmp_path / "one").returncode == 0
    for workers in (2, 3):
        done = torchrun(program, tmp_path / f"{workers}", workers=workers)
        assert done.returncode == 0, done.stderr[-3000:]
        assert_same_weights(tmp_path / "one", tmp_path / f"{workers}", program, tokens.astype(np.int64))
        assert_same_figures(tmp_path / "one", tmp_path / f"{workers}")


def test_resume_works_with_any_worker_count(digits_npz, tmp_path):
    """One epoch on two workers, the second alone, the third on three: one process's three epochs."""
    program = compile_program(variant(CONVNET_WITH_BATCH_NORM, digits_npz, 32, epochs=3), tmp_path, "convnet")
    run_folder = tmp_path / "run"
    steps = [
        torchrun(program, run_folder, "--epochs", "1"),
        alone(program, run_folder, "--epochs", "2", "--resume"),
        torchrun(program, run_folder, "--epochs", "3", "--resume", workers=3),
    ]
    for done in steps:
        assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in steps[2].stderr and "after epoch 2" in steps[2].stderr
    assert alone(program, tmp_path / "straight").returncode == 0
    assert_same_weights(tmp_path / "straight", run_folder, program, digits_inputs((8, 8, 1)))
    assert len(json.loads((run_folder / "history.json").read_text())["history"]["loss"]) == 3


def machines(program: Path, outs: list[Path], *options: str) -> list[subprocess.Popen]:
    """Two torchrun launches, one worker each, meeting at a c10d rendezvous on loopback: two "machines".

    The first machine starts alone until its agent listens at the endpoint, so that it keeps the rendezvous
    store, as the machine at `--rdzv-endpoint` does on a real cluster (on loopback either could)."""
    (port,) = free_ports(1)
    endpoint = f"127.0.0.1:{port}"
    launches = []
    for rank, out in enumerate(outs):
        if rank == 1:
            wait_for(lambda: listening(port), 60, "rendezvous store of the first machine")
        argv = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1"]
        argv += [f"--node-rank={rank}", "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}", "--rdzv-id=dlc-test"]
        argv += [str(program), "--out", str(out), *options]
        environment = os.environ | {"PYTHONPATH": str(ROOT)}
        launches.append(
            subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment)
        )
    return launches


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def finish(launch: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[int, str]:
    try:
        _, stderr = launch.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stderr = stop(launch)
        pytest.fail(f"still running after {timeout} s:\n{stderr[-3000:]}")
    return launch.returncode, stderr


def stop(launch: subprocess.Popen) -> str:
    """Kill a launcher and its workers, and return what it wrote to stderr. torchrun starts its workers in
    sessions of their own, so killing the launcher alone leaves them holding its pipes open."""
    if launch.poll() is None:
        with contextlib.suppress(OSError):
            for pid in worker_pids(launch.pid).values():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        launch.kill()
    try:
        return launch.communicate(timeout=30)[1] or ""
    except subprocess.TimeoutExpired:  # a worker we could not see still holds a pipe: stop reading it
        for stream in (launch.stdout, launch.stderr):
            if stream:
                stream.close()
        launch.wait(timeout=30)
        return ""


def test_two_machines_on_loopback_train_the_weights_of_one_process(digits_npz, tmp_path):
    program = compile_program(variant(CONVNET_WITH_BATCH_NORM, digits_npz, 32, epochs=2), tmp_path, "convnet")
    assert alone(program, tmp_path / "one").returncode == 0
    outs = [tmp_path / "machine0", tmp_path / "machine1"]
    for launch in machines(program, outs):
        status, stderr = finish(launch)
        assert status == 0, stderr[-3000:]
    assert_same_weights(tmp_path / "one", outs[0], program, digits_inputs((8, 8, 1)))
    assert not outs[1].exists()  # the other machine's worker writes nothing


def worker_pids(launcher_pid: int) -> dict[int, int]:
    """The worker processes under a launcher, by their RANK."""
    found = {}
    for child in Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split():
        try:
            environment = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ranks = [entry.split(b"=", 1)[1] for entry in environment if entry.startswith(b"RANK=")]
        if ranks:
            found[int(ranks[0])] = int(child)
    return found


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {seconds} s")
        time.sleep(0.05)


def test_a_killed_worker_is_named_and_resume_ends_where_an_uninterrupted_run_does(digits_npz, tmp_path):
    spec = variant(CONVNET_WITH_BATCH_NORM, digits_npz, 16, epochs=40)  # 9 steps an epoch
    program = compile_program(spec, tmp_path, "convnet")
    outs = [tmp_path / "machine0", tmp_path / "machine1"]
    launches = machines(program, outs)
    try:
        wait_for(lambda: (outs[0] / "checkpoint.pt").exists(), TIMEOUT, "checkpoint after the first epoch")
        wait_for(lambda: 1 in worker_pids(launches[1].pid), 10, "worker of rank 1")
        time.sleep(0.3)  # into a later epoch
        os.kill(worker_pids(launches[1].pid)[1], signal.SIGKILL)
        killed = time.monotonic()
        status, stderr = finish(launches[0], timeout=90)
        assert time.monotonic() - killed < 60
    finally:
        for launch in launches:
            stop(launch)
    assert status != 0
    # the survivor's own line, on a line of its own after the progress bar
    assert re.search(r"^worker rank 1 of 2 was lost \(its connection closed\): stopping", stderr, re.M), stderr[-3000:]
    assert not (outs[0] / "history.json").exists()  # written when a run ends
    resumed = [finish(launch) for launch in machines(program, outs, "--resume")]
    assert [status for status, _ in resumed] == [0, 0], resumed[0][1][-3000:] + resumed[1][1][-3000:]
    assert re.search(r"resumed from .*checkpoint.pt after epoch [1-9]", resumed[0][1])
    assert alone(program, tmp_path / "straight").returncode == 0
    assert_same_weights(tmp_path / "straight", outs[0], program, digits_inputs((8, 8, 1)))


def test_dlc_train_nproc_launches_workers_and_names_a_lost_one(digits_npz, tmp_path):
    spec = variant(CONVNET_WITH_BATCH_NORM, digits_npz, 16, epochs=40)
    (tmp_path / "convnet.dl").write_text(spec)
    argv = [sys.executable, "-m", "dlc", "train", str(tmp_path / "convnet.dl"), "--nproc", "2", "--out"]
    environment = os.environ | {"PYTHONPATH": str(ROOT)}
    launch = subprocess.Popen([*argv, str(tmp_path / "run")], stderr=subprocess.PIPE, text=True, env=environment)
    try:
        wait_for(lambda: (tmp_path / "run" / "checkpoint.pt").exists(), TIMEOUT, "checkpoint after the first epoch")
        os.kill(worker_pids(launch.pid)[1], signal.SIGKILL)
        killed = time.monotonic()
        status, stderr = finish(launch, timeout=90)
        assert time.monotonic() - killed < 60
    finally:
        stop(launch)
    assert status == 1
    assert "worker 1 was killed by SIGKILL" in stderr
    assert "Traceback" not in stderr


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(cuda_available(), reason="this machine has CUDA: tests/test_gpu.py runs there")
def test_device_cuda_without_cuda_is_a_clear_error(digits_npz, tmp_path):
    program = compile_program(variant(CONVNET_WITH_BATCH_NORM, digits_npz, 32), tmp_path, "convnet")
    done = alone(program, tmp_path / "run", "--device", "cuda")
    assert done.returncode == 1
    assert "--device cuda: this PyTorch is built without CUDA; train with --device cpu" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()
    for wrong in ("gpu", "cuda:x"):
        done = alone(program, tmp_path / "run", "--device", wrong)
        assert done.returncode == 1 and "expected auto, cpu, cuda or cuda:N" in done.stderr
