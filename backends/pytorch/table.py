"""The PyTorch lowering table and what its entries return, shared by every family's lowerings module.

A lowering turns one IR node into a `Lowered`: an optional submodule, its forward expression, the output layout
and the canonical -> torch weight mapping. Values flow in one of two layouts: `last` (channels-last, as the spec
and Keras see them) or `first` (NCHW/NCW, what torch's convolutions and pooling want).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.codegen import literal
from compiler.ir import Node
from compiler.ops.conv import same_padding

from ..spine import FIRST, LAST, LoweringTable
from ..spine import Context as BaseContext

ACTIVATIONS = {
    "linear": "{x}",
    "relu": "torch.relu({x})",
    "sigmoid": "torch.sigmoid({x})",
    "tanh": "torch.tanh({x})",
    "softmax": "torch.softmax({x}, dim={dim})",
    "gelu": "F.gelu({x})",
    "elu": "F.elu({x})",
    "selu": "F.selu({x})",
    "softplus": "F.softplus({x})",
    "swish": "F.silu({x})",
    "log_softmax": "F.log_softmax({x}, dim={dim})",
    "relu6": "F.relu6({x})",
    "leaky_relu": "F.leaky_relu({x}, 0.2)",  # Keras' activation default (the LeakyReLU layer's is 0.3)
    "silu": "F.silu({x})",
    "mish": "F.mish({x})",
    "hard_sigmoid": "F.hardsigmoid({x})",  # relu6(x + 3) / 6, as Keras 3
    "hard_silu": "F.hardswish({x})",  # x * relu6(x + 3) / 6
}


def activate(name: str, x: str, layout: str) -> str:
    """The expression applying activation `name` to `x` (softmax and log_softmax over the channels of `layout`)."""
    return ACTIVATIONS[name].format(x=x, dim=1 if layout == FIRST else -1)


@dataclass
class Lowered:
    """What one node becomes: an optional submodule, its forward expression, the output layout,
    the canonical -> torch weight mapping (name, torch attribute, transform) and runtime pieces used."""

    expr: str
    layout: str = LAST
    module: str | None = None
    weights: list[tuple[str, str, str]] = field(default_factory=list)
    pieces: tuple[str, ...] = ()


class Context(BaseContext):
    """The spine's context, and `attr`: the submodule's attribute name, `self.<attr>`."""

    def __init__(self, node: Node, inputs: list[str], layout: str, attr: str):
        super().__init__(node, inputs, layout)
        self.attr = attr


OPS = LoweringTable("pytorch")


def same_paddings(ctx: Context, kernels, strides, dilations):
    """Per spatial dim (before, after) for `same`, or None when a size is only known at run time."""
    sizes = ctx.in_shape[:-1]
    if any(s is None for s in sizes):
        return None
    return [same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernels, strides, dilations, strict=True)]


def pad_call(x: str, pads, value: str = "") -> str:
    flat = [p for before_after in reversed(pads) for p in before_after]  # F.pad lists the last dim first
    return f"F.pad({x}, {literal(tuple(flat))}{value})"
