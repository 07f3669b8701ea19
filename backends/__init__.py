"""The backends: PyTorch and Keras generate training programs, ONNX builds inference graphs.

Each lowers the IR through the shared spine (`spine.py`) with tables of one shape, listed in its `tables.py`
by the vocabulary each covers. Nothing here imports a framework until a backend is used.
"""

from importlib import import_module
from typing import Any

BACKENDS = ("pytorch", "keras", "onnx")
PROGRAM_TARGETS = ("pytorch", "keras")  # the backends that write training programs


def tables(backend: str) -> dict[str, Any]:
    """The backend's tables by vocabulary: ops, activations and, for program targets, losses, metrics, optimizers."""
    return import_module(f"backends.{backend}.tables").TABLES
