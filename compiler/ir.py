"""The IR: a flat graph of typed values and layer nodes, with parameters; no framework types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Source, Span
from .ops import REGISTRY, OpSpec, ParamSpec, Shape, TensorType
from .training_types import Training


@dataclass(frozen=True, slots=True)
class Value:
    """A tensor in the graph, named after the input or layer that produces it."""

    name: str
    type: TensorType

    @property
    def shape(self) -> Shape:
        return self.type.shape

    @property
    def dtype(self) -> str:
        return self.type.dtype


@dataclass(frozen=True, slots=True)
class Node:
    """One layer: its unique name, op, inputs, bound arguments, parameters and source span."""

    name: str
    op: str
    inputs: tuple[Value, ...]
    output: Value
    args: dict[str, Any] = field(hash=False)
    params: tuple[ParamSpec, ...]
    span: Span = field(compare=False)

    @property
    def spec(self) -> OpSpec:
        return REGISTRY[self.op]

    @property
    def param_count(self) -> int:
        return sum(p.size for p in self.params)


@dataclass(frozen=True)
class Graph:
    """A model: inputs, nodes in topological order, its output, and how to train it."""

    name: str
    source: Source = field(repr=False)
    inputs: tuple[Value, ...]
    nodes: tuple[Node, ...]
    output: Value
    training: Training
    span: Span = field(compare=False)

    @property
    def params(self) -> list[tuple[Node, ParamSpec]]:
        return [(node, param) for node in self.nodes for param in node.params]

    @property
    def trainable_count(self) -> int:
        return sum(p.size for _, p in self.params if p.trainable)

    @property
    def non_trainable_count(self) -> int:
        return sum(p.size for _, p in self.params if not p.trainable)

    def weight_names(self) -> list[str]:
        """Canonical `.safetensors` keys: `LAYER.WEIGHT`, wrappers nesting (`bidirectional.forward.kernel`)."""
        return [f"{node.name}.{param.name}" for node, param in self.params]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)


def show_shape(shape: Shape, batch: bool = False) -> str:
    dims = ["?" if d is None else str(d) for d in shape]
    return ("(None, " + ", ".join(dims) + ")") if batch else "[" + ", ".join(dims) + "]"
