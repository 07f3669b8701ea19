"""`dlc train`: write the generated program into the run folder and run it in this process.

Running the very program `dlc compile` writes makes `dlc train` and `python program.py` one code path:
the same seed gives the same weights either way.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def run_program(
    source: str,
    name: str,
    out: Path,
    epochs: int | None = None,
    seed: int | None = None,
    weights: Path | None = None,
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    program = out / f"{name}.py"
    program.write_text(source)
    spec = importlib.util.spec_from_file_location(f"dlc_program_{name}", program)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        argv = ["--out", str(out)]
        if epochs is not None:
            argv += ["--epochs", str(epochs)]
        if seed is not None:
            argv += ["--seed", str(seed)]
        if weights is not None:
            argv += ["--weights", str(weights)]
        print(f"training with {program}", file=sys.stderr)
        return module.main(argv)
    finally:
        sys.modules.pop(spec.name, None)
