"""How much memory a model's weights and one batch of its activations take, and whether this machine has it.

`dlc check` shows the weights' size; `train`, `export` and `verify` call `ensure_fits` before any framework
allocates, so a model that cannot fit is refused in a second with its largest layer named, not after minutes
of swapping or a MemoryError deep inside a framework. The estimate is a lower bound (it leaves out the
frameworks' own overheads), so a refusal is never wrong, only possibly late.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

from .errors import DlError
from .ir import Graph, Node

BYTES_PER_VALUE = 4  # every weight, and the activations counted here, are float32
# Copies of the weights each command holds at once, at the least: training keeps a gradient per weight;
# an export holds the canonical arrays and the ONNX initializers; verify one model per framework.
WEIGHT_COPIES = {"train": 2, "export": 2, "verify": 3}


def show_bytes(count: int) -> str:
    """1023 B, 1.5 KiB, 29.10 TiB: binary units, as `free -h` shows memory."""
    if count < 1024:
        return f"{count} B"
    exponent = min(int(math.log(count, 1024)), 6)
    return f"{count / 1024**exponent:.2f} {'KMGTPE'[exponent - 1]}iB"


def weight_bytes(graph: Graph) -> int:
    return (graph.trainable_count + graph.non_trainable_count) * BYTES_PER_VALUE


def activation_bytes(graph: Graph, batch_size: int) -> int:
    """Every layer's output for one batch, with each `?` counted as 1."""
    per_sample = sum(math.prod(d or 1 for d in node.output.shape) for node in graph.nodes)
    return per_sample * batch_size * BYTES_PER_VALUE


def machine_memory() -> int | None:
    """This machine's memory in bytes, or the container's limit when that is lower; None when unknown."""
    known = []
    with contextlib.suppress(AttributeError, OSError, ValueError):
        known.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            known.append(int(limit))
    except OSError:
        pass
    return min(known) if known else None


def ensure_fits(graph: Graph, command: str, batch_size: int | None = None) -> None:
    """Raise a DlError naming the model's largest layer when `command` needs more memory than this machine has."""
    available = machine_memory()
    weights = weight_bytes(graph) * WEIGHT_COPIES[command]
    batch = activation_bytes(graph, batch_size or graph.training.settings.batch_size)
    needed = weights + batch
    if available is None or needed <= available:
        return
    largest: Node = max(
        graph.nodes, key=lambda node: max(node.param_count, math.prod(d or 1 for d in node.output.shape))
    )
    raise DlError(
        f"model '{graph.name}' needs at least {show_bytes(needed)} to {command} "
        f"({show_bytes(weight_bytes(graph))} of float32 weights, held {WEIGHT_COPIES[command]} times, and "
        f"{show_bytes(batch)} of activations per batch); this machine has {show_bytes(available)}",
        largest.span,
        f"its largest layer is '{largest.name}' ({largest.op}, {largest.param_count:,} weights); make it smaller",
    )
