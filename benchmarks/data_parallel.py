"""Data-parallel training: 2 workers x 1 thread against 1 process x 1 thread and 1 process x 2 threads, for the
generated PyTorch and Keras programs, side by side in one run.

The digits convnet and LSTM examples, on the same global batch (the spec's), for EPOCHS epochs: samples/s is
the median over epochs 2.. of the chief's epoch rate (history.json's timing: the training steps of the whole
global batch, not validation or checkpoints). Two workers are started as `dlc train --nproc 2` starts them
(torchrun's engine for PyTorch, TF_CONFIG workers for Keras), one process as `python program.py`; every run
gets `--threads` explicitly. Rounds interleave the three set-ups so that a burst of other work hits them alike;
the best round counts.

Launch to first step: from starting the process (the launcher, for two workers) to the chief's first progress
line, which it prints after its first optimizer step: interpreter and framework start-up, joining the workers,
loading the data, building the model.

Goal: 2 workers >= 1.5x one single-threaded process on this 2-core machine, for each model and backend. Where
PyTorch has CUDA, the generated PyTorch program's samples/s on the GPU against the CPU is printed too.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import REPO, dlc_command, goal

EPOCHS = 6
ROUNDS = 2
GOAL_RATIO = 1.5
MODELS = [("convnet", "digits_convnet.dl"), ("LSTM", "digits_lstm.dl")]
BACKENDS = ["pytorch", "keras"]
SETUPS = [  # label, workers, threads per worker
    ("1 x 1 thread", 1, 1),
    ("2 workers x 1", 2, 1),
    ("1 x 2 threads", 1, 2),
]


def first_step_and_finish(argv: list[str], environment: dict[str, str]) -> float:
    """Run `argv`; the seconds from its start to the chief's first progress line. A failure stops the benchmark."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=environment, cwd=REPO)
    first_step, seen = None, b""
    while chunk := process.stderr.read1(4096):
        seen = (seen + chunk)[-20000:]
        if first_step is None and b"Epoch 1/" in seen:
            first_step = time.perf_counter() - started
    if process.wait() != 0 or first_step is None:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}:\n{seen.decode(errors='replace')[-2000:]}")
    return first_step


def run_setup(program: Path, spec: Path, backend: str, workers: int, threads: int, out: Path) -> tuple[float, float]:
    """(samples/s, seconds from launch to the first step) of one training run."""
    options = ["--out", str(out), "--epochs", str(EPOCHS), "--threads", str(threads)]
    if workers == 1:
        argv = [sys.executable, str(program), *options]
    else:
        argv = [*dlc_command(), "train", str(spec), "--backend", backend, "--nproc", str(workers), *options]
    environment = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    first_step = first_step_and_finish(argv, environment)
    timing = json.loads((out / "history.json").read_text())["timing"][1:]
    return statistics.median(epoch["train_samples"] / epoch["train_seconds"] for epoch in timing), first_step


def compile_program(spec: Path, backend: str, folder: Path) -> Path:
    program = folder / f"{spec.stem}_{backend}.py"
    argv = [*dlc_command(), "compile", str(spec), "--target", backend, "-o", str(program)]
    subprocess.run(argv, check=True, capture_output=True, cwd=REPO)
    return program


def gpu_line(program: Path, folder: Path) -> None:
    """The PyTorch program on the GPU against the CPU (1 thread), where PyTorch has CUDA."""
    import torch

    if not torch.cuda.is_available():
        print("  no CUDA device: GPU vs CPU not measured")
        return
    rates = {}
    for device in ("cpu", "cuda"):
        argv = [sys.executable, str(program), "--out", str(folder / device), "--epochs", str(EPOCHS)]
        subprocess.run([*argv, "--device", device, "--threads", "1"], check=True, capture_output=True)
        timing = json.loads((folder / device / "history.json").read_text())["timing"][1:]
        rates[device] = statistics.median(epoch["train_samples"] / epoch["train_seconds"] for epoch in timing)
    print(
        f"  {program.stem} on {torch.cuda.get_device_name()}: {rates['cuda']:,.0f} samples/s, CPU {rates['cpu']:,.0f}"
    )


def main() -> None:
    print(f"  {EPOCHS} epochs per run, the first dropped; best of {ROUNDS} interleaved rounds; samples/s")
    heading = "".join(f"{label:>16}" for label, _, _ in SETUPS)
    print(f"  {'model':<20}{heading}{'2w / 1x1':>10}{'1x2 / 1x1':>11}   launch to first step (1 x 1, 2 workers)")
    with tempfile.TemporaryDirectory(prefix="dlc-bench-parallel-") as tmp:
        folder = Path(tmp)
        for name, example in MODELS:
            spec = REPO / "examples" / example
            for backend in BACKENDS:
                program = compile_program(spec, backend, folder)
                rates = {label: [] for label, _, _ in SETUPS}
                starts = {label: [] for label, _, _ in SETUPS}
                for round_index in range(ROUNDS):
                    for label, workers, threads in SETUPS:
                        out = folder / f"{name}-{backend}-{workers}-{threads}-{round_index}"
                        rate, first_step = run_setup(program, spec, backend, workers, threads, out)
                        rates[label].append(rate)
                        starts[label].append(first_step)
                best = {label: max(values) for label, values in rates.items()}
                one, two, threaded = (best[label] for label, _, _ in SETUPS)
                row = "".join(f"{best[label]:>16,.0f}" for label, _, _ in SETUPS)
                launch = f"{min(starts['1 x 1 thread']):.1f} s, {min(starts['2 workers x 1']):.1f} s"
                print(f"  {name + ' ' + backend:<20}{row}{two / one:>9.2f}x{threaded / one:>10.2f}x   {launch}")
                goal(
                    f"{name} {backend}: 2 workers / 1 process >= {GOAL_RATIO}x",
                    two / one >= GOAL_RATIO,
                    f"{two / one:.2f}x",
                )
            gpu_line(compile_program(spec, "pytorch", folder), folder / f"{name}-gpu")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
