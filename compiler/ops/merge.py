"""Merge layers: element-wise Add, Subtract, Multiply, Average, Maximum, Minimum, and Concatenate."""

from __future__ import annotations

from ..argkinds import ArgSpec, Int
from .spec import OpSpec, ShapeProblem, TensorType, register, require_float, sample_axis


def _show(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def common_dtype(name: str, inputs) -> str:
    dtype = require_float(inputs, name)
    if any(i.dtype != dtype for i in inputs):
        raise ShapeProblem("needs inputs of one dtype, got " + ", ".join(i.dtype for i in inputs))
    return dtype


def elementwise(name: str):
    def infer(inputs, args):
        dtype = common_dtype(name, inputs)
        first = inputs[0].shape
        for other in inputs[1:]:
            if other.shape != first:
                shapes = ", ".join(_show(i.shape) for i in inputs)
                raise ShapeProblem(f"needs inputs of one shape, got {shapes}")
        return TensorType(dtype, first)

    return infer


def concatenate_infer(inputs, args):
    dtype = common_dtype("Concatenate", inputs)
    rank = len(inputs[0].shape)
    if any(len(i.shape) != rank for i in inputs):
        raise ShapeProblem("needs inputs of one rank, got " + ", ".join(_show(i.shape) for i in inputs))
    axis = sample_axis(args["axis"], rank)
    for other in inputs[1:]:
        if any(a != b for k, (a, b) in enumerate(zip(inputs[0].shape, other.shape, strict=True)) if k != axis):
            shapes = ", ".join(_show(i.shape) for i in inputs)
            raise ShapeProblem(f"needs inputs equal on every axis but {args['axis']}, got {shapes}")
    sizes = [i.shape[axis] for i in inputs]
    joined = None if None in sizes else sum(sizes)
    return TensorType(dtype, inputs[0].shape[:axis] + (joined,) + inputs[0].shape[axis + 1 :])


register(
    *(
        OpSpec(name, "merge", (), elementwise(name), arity=(2, None))
        for name in ("Add", "Multiply", "Average", "Maximum", "Minimum")
    ),
    OpSpec("Subtract", "merge", (), elementwise("Subtract"), arity=(2, 2), doc="first minus second"),
    OpSpec("Concatenate", "merge", (ArgSpec("axis", Int(), -1),), concatenate_infer, arity=(2, None)),
)
