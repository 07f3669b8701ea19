"""Shared helpers for the benchmark scripts: paths, timing, and goal lines.

Files starting with `_` are helpers; `run.py` runs every other `*.py` in this folder.
Every timing is the best of several runs, as wall-clock time (what goals are judged on) and CPU time
(user + system; less disturbed when other work shares the machine).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Every goal line printed in this process: (benchmark description, passed, measured).
GOALS: list[tuple[str, bool, str]] = []


@dataclass(frozen=True)
class Timing:
    wall: float  # seconds, best run
    cpu: float  # seconds of user + system time, best run


def dlc_command() -> list[str]:
    """The installed `dlc` script beside this interpreter, else `dlc` on PATH, else `python -m dlc`."""
    beside = Path(sys.executable).parent / "dlc"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("dlc")
    return [found] if found else [sys.executable, "-m", "dlc"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_process(argv: Sequence[str], repeats: int, cwd: Path = REPO) -> Timing:
    """Best of `repeats` runs of a whole process, output captured; a failing run stops the benchmark."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        cpu_before = _children_cpu()
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, _children_cpu() - cpu_before)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return Timing(wall, cpu)


def time_call(function: Callable[[], object], repeats: int) -> tuple[Timing, object]:
    """Best of `repeats` calls in this process, and the last call's result."""
    wall = cpu = float("inf")
    result = None
    for _ in range(repeats):
        cpu_start, start = time.process_time(), time.perf_counter()
        result = function()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - cpu_start)
    return Timing(wall, cpu), result


def goal(description: str, ok: bool, measured: str) -> bool:
    """Print one goal line, PASS or GOAL MISSED, and remember it for run.py's summary."""
    GOALS.append((description, ok, measured))
    verdict = "PASS" if ok else "GOAL MISSED  <<<"
    print(f"  goal: {description:<48} {measured:>11}   {verdict}")
    return ok


def machine_note() -> str:
    """One line on how busy the machine is: timings are inflated when the load exceeds the cores."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    busy = "  (BUSY: other work is running, timings are inflated)" if load > cores * 0.75 else ""
    return f"machine: {cores} cores, load average {load:.2f}{busy}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"
