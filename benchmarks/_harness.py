"""Shared helpers for the benchmark scripts: paths, timing, and goal lines.

Files starting with `_` are helpers; `run.py` runs every other `*.py` in this folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def dlc_command() -> list[str]:
    """The installed `dlc` script beside this interpreter, else `dlc` on PATH, else `python -m compiler`."""
    beside = Path(sys.executable).parent / "dlc"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("dlc")
    return [found] if found else [sys.executable, "-m", "compiler"]


def time_process(argv: Sequence[str], repeats: int, cwd: Path = REPO) -> float:
    """Best wall-clock seconds of `repeats` runs of a whole process; any failure stops the benchmark."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
        best = min(best, elapsed)
    return best


def time_call(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Best seconds of `repeats` calls, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def goal(description: str, ok: bool, measured: str) -> bool:
    """Print one goal line: PASS, or GOAL MISSED in capitals so it stands out."""
    verdict = "PASS" if ok else "GOAL MISSED  <<<"
    print(f"  goal: {description:<50} {measured:>12}   {verdict}")
    return ok


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"
