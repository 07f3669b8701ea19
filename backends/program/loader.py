"""Generated programs run in this process: one loader for every command that drives them.

`dlc convert` and `dlc verify` import the very code `dlc compile` writes (its `MODEL_CLASS`/`build_model`,
`load_canonical`, `to_canonical`, optimizer and loss), so what they prove is true of the programs users run;
`dlc train` writes the program into the run folder and runs its `main`, so `dlc train` and
`python program.py` are one code path and give the same weights for the same seed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from compiler.ir import Graph

from .. import PROGRAM_TARGETS
from .launch import launch_workers
from .reporting import replace_atomically


def emit_program(graph: Graph, target: str) -> str:
    """The source of `graph`'s training program for `target` ("pytorch" or "keras")."""
    if target not in PROGRAM_TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {PROGRAM_TARGETS}")
    return importlib.import_module(f"backends.{target}.emit").emit_program(graph)


@contextmanager
def loaded(path: Path, name: str) -> Iterator[ModuleType]:
    """The program at `path` imported as module `name`, registered while the block runs (dataclasses and
    pickling look modules up by name while they execute)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def load_program(path: Path, name: str) -> ModuleType:
    """The program at `path`, executed as module `name` (a program's `main` runs only when called)."""
    with loaded(path, name) as module:
        return module


def import_program(graph: Graph, target: str) -> ModuleType:
    """Generate `graph`'s program for `target` and import it as a fresh module."""
    source = emit_program(graph, target)
    with tempfile.TemporaryDirectory(prefix="dlc-program-") as folder:
        path = Path(folder) / f"{target}_{graph.name}.py"
        path.write_text(source)
        return load_program(path, f"dlc_{target}_program_{graph.name}")


def train(
    graph: Graph,
    target: str,
    out: Path,
    epochs: int | None = None,
    seed: int | None = None,
    weights: Path | None = None,
    resume: bool = False,
    device: str | None = None,
    threads: int | None = None,
    workers: int = 1,
) -> dict:
    """`dlc train`: write the program into `out` and run its `main` here, or as `workers` local workers
    (launch.py); returns its final figures."""
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if target == "pytorch" else f"_{target}"
    program = out / f"train_{graph.name.lower()}{suffix}.py"
    replace_atomically(program, lambda partial: partial.write_text(emit_program(graph, target)))
    argv = ["--out", str(out)]
    options = (("--epochs", epochs), ("--seed", seed), ("--weights", weights), ("--device", device))
    for option, value in (*options, ("--threads", threads)):
        if value is not None:
            argv += [option, str(value)]
    if resume:
        argv.append("--resume")
    print(f"training with {program}" + (f" on {workers} workers" if workers > 1 else ""), file=sys.stderr)
    if workers > 1:
        launch_workers(program, argv, workers, target)
        record = json.loads((out / "history.json").read_text())
        return {key: values[-1] for key, values in record["history"].items()} | record["final"]
    with loaded(program, f"dlc_program_{program.stem}") as module:
        return module.main(argv)
