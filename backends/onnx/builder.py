"""Assembling an ONNX graph: unique names, nodes, initializers, and each IR value kept per layout
(the spine's `Layouts`, transposing once): a conv stack transposes once at each end, not around every layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.ir import Node, Value

from ..spine import Context as BaseContext
from ..spine import Layouts, LoweringTable

OPS = LoweringTable("onnx")  # op -> lowering: recurrent.py registers the recurrent layers, lowerings.py the rest


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
        self.layouts = Layouts(self.transpose)  # IR values -> ONNX names, per layout

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

    def transpose(self, source: str, value: Value, layout: str, order: tuple[int, ...]) -> str:
        return self.add("Transpose", [source], f"{value.name}/to_{layout}", perm=list(order))

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


class Context(BaseContext):
    """The spine's context, with the graph builder `g` and the canonical weights."""

    def __init__(self, node: Node, inputs: list[str], layout: str, g: GraphBuilder, weights: Mapping[str, Any]):
        super().__init__(node, inputs, layout)
        self.g, self.weights = g, weights

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
