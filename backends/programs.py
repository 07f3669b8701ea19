"""The generated training programs as importable modules, for the commands that drive them in process.

`dlc convert` and `dlc verify` use the very code `dlc compile` writes (its `MODEL_CLASS`/`build_model`,
`load_canonical`, `to_canonical`, optimizer and loss), so what they prove is true of the programs users run.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from compiler.ir import Graph

TARGETS = ("pytorch", "keras")


def import_program(graph: Graph, target: str) -> ModuleType:
    """Generate `graph`'s program for `target` ("pytorch" or "keras") and import it as a fresh module."""
    if target == "keras":
        from .keras.emit import emit_program
    elif target == "pytorch":
        from .pytorch.emit import emit_program
    else:
        raise ValueError(f"unknown target {target!r}; expected one of {TARGETS}")
    source = emit_program(graph)
    with tempfile.TemporaryDirectory(prefix="dlc-program-") as folder:
        path = Path(folder) / f"{target}_{graph.name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(f"dlc_{target}_program_{graph.name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and pickling look modules up by name while executing
        try:
            spec.loader.exec_module(module)
        finally:
            sys.modules.pop(spec.name, None)
    return module
