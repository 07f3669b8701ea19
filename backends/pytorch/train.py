"""`dlc train --backend pytorch`."""

from __future__ import annotations

from pathlib import Path

from compiler.ir import Graph

from ..running import run_program
from .emit import emit_program


def train(
    graph: Graph, out: Path, epochs: int | None = None, seed: int | None = None, weights: Path | None = None
) -> dict:
    return run_program(emit_program(graph), f"train_{graph.name.lower()}", out, epochs, seed, weights)
