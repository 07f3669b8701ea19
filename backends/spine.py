"""The lowering spine every backend shares: one table shape, one context, the layout pass, names and dtypes.

Each backend (PyTorch, Keras, ONNX) lowers the IR with one `LoweringTable`: op name -> `Lowering`, a function
of a `Context` (the node, its inputs already in the layout the lowering asked for) returning what that backend
makes of the node. What all backends decide the same way lives here, written once:

- layouts: a value is channels-last (`LAST`, as the spec and Keras see it) or channels-first (`FIRST`, what
  torch's and ONNX's convolutions and pooling want). `Layouts` keeps each value in the layouts it has been
  asked for, converting once; `input_layout` is the rule that picks the layout a node's inputs are given in.
- names: `Namer` turns .dl names into identifiers that collide with nothing the output already defines.
- dtypes: `DTYPES` maps the language's dtypes to NumPy's names, which torch, Keras and ONNX share.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.codegen import identifier
from compiler.ir import Node, Value

LAST, FIRST = "last", "first"
DTYPES = {"f16": "float16", "f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64"}


class Context:
    """What a lowering sees: its node and the node's inputs, already in `layout`. Backends add their own state."""

    def __init__(self, node: Node, inputs: Sequence[Any], layout: str):
        self.node, self.inputs, self.layout = node, list(inputs), layout

    @property
    def args(self) -> dict[str, Any]:
        return self.node.args

    @property
    def in_shape(self) -> tuple[int | None, ...]:
        return self.node.inputs[0].shape

    @property
    def x(self) -> Any:
        return self.inputs[0]


@dataclass(frozen=True)
class Lowering:
    """One op's lowering: the layout its inputs must arrive in (None: whichever they are in) and the function."""

    wants: str | None
    lower: Callable[[Any], Any]  # Context -> what the backend makes of the node


class LoweringTable(dict[str, Lowering]):
    """op name -> Lowering, filled by `@table.lowering("Conv1D", "Conv2D", wants=FIRST)`."""

    def __init__(self, backend: str):
        super().__init__()
        self.backend = backend

    def lowering(self, *ops: str, wants: str | None = LAST):
        def register(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
            for op in ops:
                if op in self:
                    raise ValueError(f"{self.backend}: op {op} lowered twice")
                self[op] = Lowering(wants, function)
            return function

        return register


def input_layout(node: Node, wants: str | None, layouts: Callable[[str], str]) -> str:
    """The layout `node`'s inputs are given in: what its lowering wants; for a layout-agnostic lowering, the
    inputs' own layout when they agree. A vector per sample has its channels on axis 1 either way: `LAST`."""
    if wants == FIRST and len(node.inputs[0].shape) < 2:
        return LAST
    if wants is None:
        found = {layouts(value.name) for value in node.inputs}
        return found.pop() if len(found) == 1 else LAST
    return wants


def permutation(rank: int, layout: str) -> tuple[int, ...]:
    """The axis order that brings a tensor of `rank` (batch included) into `layout` from the other one."""
    return (0, rank - 1, *range(1, rank - 1)) if layout == FIRST else (0, *range(2, rank), 1)


class Layouts:
    """Each IR value under the names it has in each layout; `convert(name, value, layout, order)` makes the
    backend's transposition, once per value and layout."""

    def __init__(self, convert: Callable[[Any, Value, str, tuple[int, ...]], Any]):
        self.convert = convert
        self.names: dict[tuple[str, str], Any] = {}
        self.produced: dict[str, str] = {}  # value name -> the layout it was produced in

    def define(self, value: Value, name: Any, layout: str) -> None:
        self.names[(value.name, layout)] = name
        self.produced[value.name] = layout

    def fetch(self, value: Value, layout: str) -> Any:
        if (value.name, layout) not in self.names:
            source = self.names[(value.name, self.produced[value.name])]
            order = permutation(len(value.shape) + 1, layout)
            self.names[(value.name, layout)] = self.convert(source, value, layout, order)
        return self.names[(value.name, layout)]

    def inputs(self, node: Node, wants: str | None) -> tuple[str, list[Any]]:
        """The layout `node`'s inputs are given in, and their names in it."""
        layout = input_layout(node, wants, self.produced.__getitem__)
        return layout, [self.fetch(value, layout) for value in node.inputs]


class Namer:
    """Python identifiers for .dl names, unique within one generated scope.

    A name stays as written unless it is a keyword, one of `reserved` (what the scope already defines or
    imports) or taken; then `_` is appended until it is free. A leading underscore (private in Python, and
    where torch keeps a module's internals) gets a `v` in front, so every name ends up public and distinct.
    """

    def __init__(self, reserved: Iterable[str] = ()):
        self.reserved = set(reserved)
        self.taken: set[str] = set()

    def __call__(self, name: str) -> str:
        candidate = f"v{name}" if name.startswith("_") else name
        while keyword.iskeyword(candidate) or candidate in self.reserved or candidate in self.taken:
            candidate += "_"
        self.taken.add(candidate)
        return identifier(candidate)
