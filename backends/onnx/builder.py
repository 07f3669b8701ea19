"""Assembling an ONNX graph: unique names, nodes, initializers, and each IR value kept per layout.

Values live in one of two layouts: `last` (channels-last, as the spec, Keras and the graph's inputs see
them) or `first` (NCHW/NCW, what ONNX's Conv and pooling want). Spatial ops keep `first` between each other,
so a conv stack transposes once at each end instead of around every layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.ir import Node, Value

LAST, FIRST = "last", "first"


def to_first(rank: int) -> list[int]:
    """Transpose permutation from channels-last to channels-first for a rank including the batch."""
    return [0, rank - 1, *range(1, rank - 1)]


def to_last(rank: int) -> list[int]:
    return [0, *range(2, rank), 1]


class GraphBuilder:
    """Collects nodes and initializers under names unique across the graph and its subgraphs."""

    def __init__(self, opset: int, parent: GraphBuilder | None = None):
        self.opset = opset
        self.taken: set[str] = parent.taken if parent is not None else set()
        # names kept for the layers' outputs, so that no intermediate value takes one first
        self.reserved: set[str] = parent.reserved if parent is not None else set()
        self.nodes: list[onnx.NodeProto] = []
        # a subgraph (a Scan body) puts its constants in the outer graph, which it may read by name
        self.root = parent.root if parent is not None else self
        self.initializers: list[TensorProto] = []
        self.scalars: dict[float, str] = {} if parent is None else parent.root.scalars
        self.values: dict[tuple[str, str], str] = {}  # (IR value name, layout) -> ONNX name
        self.layouts: dict[str, str] = {}  # IR value name -> layout it was produced in
        self.ranks: dict[str, int] = {}  # IR value name -> rank including the batch

    def child(self) -> GraphBuilder:
        return GraphBuilder(self.opset, self)

    def fresh(self, hint: str) -> str:
        name, counter = hint, 0
        while name in self.taken or name in self.reserved:
            counter += 1
            name = f"{hint}_{counter}"
        self.taken.add(name)
        return name

    def add(self, op: str, inputs: Sequence[str], hint: str, outputs: int = 1, **attrs) -> str | list[str]:
        """Append one node; returns its output name, or the list of names when `outputs` > 1."""
        names = [self.fresh(f"{hint}/{op}" + (f"_{k}" if k else "")) for k in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), names, name=self.fresh(f"{hint}/{op}_node"), **attrs))
        return names[0] if outputs == 1 else names

    def initializer(self, name: str, array: np.ndarray) -> str:
        name = self.fresh(name)
        self.root.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def ints(self, hint: str, values: Sequence[int]) -> str:
        return self.initializer(f"{hint}/shape", np.asarray(values, dtype=np.int64))

    def scalar(self, value: float) -> str:
        """A float32 scalar constant, shared by every use of the same value."""
        if value not in self.scalars:
            self.scalars[value] = self.initializer(f"const/{value!r}", np.asarray(value, dtype=np.float32))
        return self.scalars[value]

    def reduce(self, op: str, x: str, axes: Sequence[int], keepdims: bool, hint: str) -> str:
        """A Reduce* node; its axes became an input in opset 18 (ReduceSum in 13)."""
        if self.opset >= 18 or op == "ReduceSum":
            return self.add(op, [x, self.ints(hint, axes)], hint, keepdims=int(keepdims))
        return self.add(op, [x], hint, axes=list(axes), keepdims=int(keepdims))

    # ---------------------------------------------------------------- IR values in layouts

    def define(self, value: Value, name: str, layout: str) -> None:
        self.values[(value.name, layout)] = name
        self.layouts[value.name] = layout
        self.ranks[value.name] = len(value.shape) + 1

    def fetch(self, value: Value, layout: str) -> str:
        """The ONNX name holding `value` in `layout`, transposing once and remembering the result."""
        if (value.name, layout) in self.values:
            return self.values[(value.name, layout)]
        source = self.values[(value.name, self.layouts[value.name])]
        rank = self.ranks[value.name]
        perm = to_first(rank) if layout == FIRST else to_last(rank)
        name = self.add("Transpose", [source], f"{value.name}/to_{layout}", perm=perm)
        self.values[(value.name, layout)] = name
        return name

    def rename_last_output(self, current: str, wanted: str) -> str:
        """Give the value `current` the readable name `wanted` when the newest node produced it."""
        if current == wanted:
            return current
        if self.nodes and self.nodes[-1].output[0] == current and wanted in self.reserved:
            self.reserved.remove(wanted)
            self.taken.add(wanted)
            self.nodes[-1].output[0] = wanted
            return wanted
        return current


class Context:
    """What a lowering sees: its node, the builder, its inputs (already in the layout it asked for), weights."""

    def __init__(self, node: Node, g: GraphBuilder, inputs: list[str], layout: str, weights: Mapping[str, Any]):
        self.node, self.g, self.inputs, self.layout, self.weights = node, g, inputs, layout, weights

    @property
    def args(self) -> dict[str, Any]:
        return self.node.args

    @property
    def in_shape(self) -> tuple[int | None, ...]:
        return self.node.inputs[0].shape

    @property
    def x(self) -> str:
        return self.inputs[0]

    def add(self, op: str, inputs: Sequence[str], outputs: int = 1, **attrs) -> str | list[str]:
        return self.g.add(op, inputs, self.node.name, outputs, **attrs)

    def weight(self, name: str) -> np.ndarray:
        """A canonical weight of this layer (`kernel`, `forward.bias`) as float32, in Keras' layout."""
        return np.asarray(self.weights[f"{self.node.name}.{name}"], dtype=np.float32)

    def param(self, name: str, array: np.ndarray | None = None) -> str:
        """An initializer named after the canonical weight; `array` when the layout had to change."""
        value = self.weight(name) if array is None else np.asarray(array, dtype=np.float32)
        return self.g.initializer(f"{self.node.name}.{name}", value)

    def ints(self, values: Sequence[int]) -> str:
        return self.g.ints(self.node.name, values)
