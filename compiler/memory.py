"""How much memory a model's weights and one batch of its activations take, and whether this machine has it.

`dlc check` shows the weights' size; `train`, `export` and `verify` call `ensure_fits` before any framework
allocates, so a model that cannot fit is refused in a second with its largest layer named, not after minutes
of swapping or a MemoryError deep inside a framework. The estimate is a lower bound (it counts only the copies
of the weights each command holds at once, and leaves out the frameworks' own overheads), so a refusal is never
wrong, only possibly late. `export` and `verify` also refuse a model whose weights an ONNX file cannot hold.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DlError
from .ir import Graph, Node
from .training_types import Configured

try:
    import resource
except ImportError:  # not on Windows
    resource = None

BYTES_PER_VALUE = 4  # every weight, and the activations counted here, are float32
# An ONNX file is one protobuf message, and protobuf serialises no message of 2 GiB or more; dlc writes the
# weights inside it (as initializers), so their bytes alone must stay under this
ONNX_LIMIT = 2**31
# The arrays the size of each trainable weight that an optimizer keeps between steps, in Keras and PyTorch alike
# (SGD and RMSprop depend on their arguments: optimizer_slots)
OPTIMIZER_SLOTS = {"Adam": 2, "AdamW": 2, "Nadam": 2, "Adamax": 2, "Adagrad": 1, "Adadelta": 2, "Lion": 1}
# Copies of all the weights `export` and `verify` hold at once, at the least. export: the canonical arrays, the
# ONNX initializers and the serialised file (measured: 4.5 times the weights of 64 -> Dense(8000) -> Dense(8000)
# above the baseline, and 6.36 GB of RSS for 2.01 GiB of weights when serialising failed). verify: the canonical
# arrays, the PyTorch model, the Keras model, the ONNX initializers and the serialised ONNX model that ONNX Runtime
# is given (measured: 8.0 times).
WEIGHT_COPIES = {"export": 3, "verify": 5}


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


def optimizer_slots(optimizer: Configured | None) -> int:
    """How many arrays the size of each trainable weight `optimizer` keeps: Adam's m and v, SGD's momentum (none
    without), RMSprop's mean square, plus its momentum and, centered, its mean gradient."""
    if optimizer is None:  # a model without one is not trained: the program says so
        return 0
    if optimizer.name == "SGD":
        return int(optimizer.args.get("momentum", 0.0) != 0)
    if optimizer.name == "RMSprop":
        return 1 + int(optimizer.args.get("momentum", 0.0) > 0) + int(bool(optimizer.args.get("centered")))
    return OPTIMIZER_SLOTS[optimizer.name]


@dataclass(frozen=True)
class Estimate:
    """What `command` needs at the least: `held` bytes of copies of the weights (`what` says which) and `batch`
    bytes of one batch's activations."""

    held: int
    what: str
    batch: int

    @property
    def total(self) -> int:
        return self.held + self.batch


def estimate(graph: Graph, command: str, batch_size: int | None = None) -> Estimate:
    """The memory `command` ("train", "export" or "verify") needs for `graph` at the least.

    train holds, at once:
      - the weights in the framework (all of them, non-trainable ones too),
      - the canonical NumPy copy (all of them): the initial weights the program starts from, and the copy each
        weights file (weights.safetensors, ModelCheckpoint's) is written from while all below is still held,
      - a gradient per trainable weight (PyTorch keeps `.grad` from the last step; Keras the step's gradients),
      - the optimizer's slots per trainable weight (optimizer_slots: Adam 2, SGD without momentum 0, ...),
      - one more copy per trainable weight, for the step and the checkpoint: the generated PyTorch optimizers
        (backends/pytorch/runtime.py) keep an update buffer as large as the weights and concatenate the gradients
        into one flat tensor every step; Keras' steps make temporaries as large as the weights, and it builds its
        .keras checkpoint archive (weights and slots) in memory when it judges memory ample. (torch.save writes
        the tensors straight to the file: the PyTorch checkpoint costs no copy of its own.)
    So training an Adam model needs 6 times its weights, SGD without momentum 4. Measured on `dlc train` of 241 to
    258 MB of Adam weights (64 -> Dense(8000) -> Dense(8000), and 16 x Dense(2000)), the peak above the program's
    own was 8.4 to 9.5 times the weights with PyTorch (6 while it writes weights.safetensors) and 7.7 to 8.7 times
    with Keras: the count leaves out the steps' elementwise temporaries, the allocators' slack and the frameworks'
    workspaces, so it stays a lower bound.
    export and verify hold WEIGHT_COPIES copies of all the weights. Every command adds one batch of every layer's
    output.
    """
    weights = weight_bytes(graph)
    batch = activation_bytes(graph, batch_size or graph.training.settings.batch_size)
    if command != "train":
        copies = WEIGHT_COPIES[command]
        return Estimate(weights * copies, f"held {copies} times", batch)
    optimizer = graph.training.optimizer
    slots = optimizer_slots(optimizer)
    trainable = graph.trainable_count * BYTES_PER_VALUE
    held = weights * 2 + trainable * (2 + slots)
    kept = f"{optimizer.name}'s {slots} slot{'s' if slots != 1 else ''}" if optimizer else "no optimizer slots"
    what = (
        f"held {held / weights:.3g} times: the model, its canonical copy, and per trainable weight a gradient, "
        f"{kept} and a copy for the step and the checkpoint"
        if weights
        else "none"
    )
    return Estimate(held, what, batch)


def machine_memory() -> int | None:
    """This machine's memory in bytes, or the container's limit or this process's address-space limit (ulimit -v,
    prlimit --as) when that is lower; None when unknown."""
    known = []
    with contextlib.suppress(AttributeError, OSError, ValueError):
        known.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            known.append(int(limit))
    except OSError:
        pass
    with contextlib.suppress(AttributeError, OSError, ValueError):  # AttributeError: no resource module
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            known.append(soft)
    return min(known) if known else None


def largest_layer(graph: Graph) -> Node:
    return max(graph.nodes, key=lambda node: max(node.param_count, math.prod(d or 1 for d in node.output.shape)))


def ensure_exportable(graph: Graph) -> None:
    """Raise a DlError naming the model's largest layer when its weights are too many for one ONNX file."""
    weights = weight_bytes(graph)
    if weights < ONNX_LIMIT:
        return
    largest = largest_layer(graph)
    raise DlError(
        f"model '{graph.name}' has {show_bytes(weights)} of float32 weights, too many for ONNX: an ONNX file "
        f"written by dlc holds its weights inside one protobuf, which is limited to {show_bytes(ONNX_LIMIT)}",
        largest.span,
        f"its largest layer is '{largest.name}' ({largest.op}, {largest.param_count:,} weights); make it smaller",
    )


def ensure_fits(graph: Graph, command: str, batch_size: int | None = None) -> None:
    """Raise a DlError naming the model's largest layer when `command` needs more memory than this machine has,
    or, for `export` and `verify` (which writes the model to ONNX too), when an ONNX file cannot hold its weights."""
    if command in ("export", "verify"):
        ensure_exportable(graph)
    available = machine_memory()
    need = estimate(graph, command, batch_size)
    if available is None or need.total <= available:
        return
    largest = largest_layer(graph)
    raise DlError(
        f"model '{graph.name}' needs at least {show_bytes(need.total)} to {command} "
        f"({show_bytes(weight_bytes(graph))} of float32 weights, {need.what}, and "
        f"{show_bytes(need.batch)} of activations per batch); this machine has {show_bytes(available)}",
        largest.span,
        f"its largest layer is '{largest.name}' ({largest.op}, {largest.param_count:,} weights); make it smaller",
    )
