"""`dlc train --backend pytorch`: write the generated program into the run folder and run it in-process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from compiler.ir import Graph

from .emit import emit_program


def train(graph: Graph, out: Path, epochs: int | None = None, seed: int | None = None) -> dict:
    """Train with the generated program itself, so `dlc train` and `python program.py` are one code path."""
    out.mkdir(parents=True, exist_ok=True)
    program = out / f"train_{graph.name.lower()}.py"
    program.write_text(emit_program(graph))
    spec = importlib.util.spec_from_file_location(f"dlc_program_{graph.name.lower()}", program)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        argv = ["--out", str(out)]
        if epochs is not None:
            argv += ["--epochs", str(epochs)]
        if seed is not None:
            argv += ["--seed", str(seed)]
        print(f"training {graph.name} with {program}", file=sys.stderr)
        return module.main(argv)
    finally:
        sys.modules.pop(spec.name, None)
