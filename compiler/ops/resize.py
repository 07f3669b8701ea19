"""Resizing and rearranging layers: up-sampling, zero-padding, cropping, Permute, RepeatVector, Identity.

Keras 3's layers, arguments and defaults (LANGUAGE.md, "Version 2 additions"); none has weights. Padding and
cropping amounts are held as Keras' `get_config()` holds them: `(before, after)` in 1-D, `((top, bottom),
(left, right))` in 2-D, whichever short form was written. `data_format` is accepted where Keras has it, in its
place among the arguments, but only as `channels_last`: the language is channels-last throughout. `?` sizes pass
through every layer here (they stay `?`).
"""

from __future__ import annotations

from ..argkinds import ArgSpec, Int, IntTuple, Kind
from ..errors import DlArgumentError
from ..values import Symbol
from .spec import OpSpec, Shape, ShapeProblem, TensorType, register, require_float, require_rank

INTERPOLATIONS = ("nearest", "bilinear")
KERAS_ONLY_INTERPOLATIONS = ("bicubic", "lanczos3", "lanczos5", "area")  # Keras has them; the language does not


def _natural(item) -> bool:
    return isinstance(item, int) and not isinstance(item, bool) and item >= 0


class ChannelsLast(Kind):
    """Keras' `data_format`, which here can only be `channels_last` (bare or quoted)."""

    label = "channels_last"

    def convert(self, value, span, where):
        name = value.name if isinstance(value, Symbol) else value
        if name != "channels_last":
            self.fail(value, span, where, "the language is channels-last throughout; leave data_format out")
        return name


class Interpolation(Kind):
    """UpSampling2D's `interpolation`: nearest or bilinear; Keras' other methods are named as missing."""

    label = "nearest or bilinear"

    def convert(self, value, span, where):
        name = value.name if isinstance(value, Symbol) else value
        if name in KERAS_ONLY_INTERPOLATIONS:
            raise DlArgumentError(
                f"Keras' {name} interpolation is not in the language yet ({where})", span, "use nearest or bilinear"
            )
        if name not in INTERPOLATIONS:
            self.fail(value, span, where)
        return name


class Pair(Kind):
    """A non-negative integer for both ends of one axis, or a tuple `(before, after)`."""

    label = "a non-negative integer or a tuple of 2 (before, after)"

    def convert(self, value, span, where):
        items = value if isinstance(value, tuple) else (value, value)
        if len(items) != 2 or not all(_natural(i) for i in items):
            self.fail(value, span, where)
        return tuple(items)


class Pairs2D(Kind):
    """Keras' 2-D padding and cropping: `n`, `(height, width)` or `((top, bottom), (left, right))`; each of the
    two entries may be a number or a pair, as Keras accepts. Held as `((top, bottom), (left, right))`."""

    label = "a non-negative integer, a tuple (height, width) or a tuple ((top, bottom), (left, right))"

    def convert(self, value, span, where):
        entries = value if isinstance(value, tuple) else (value, value)
        if len(entries) != 2:
            self.fail(value, span, where)
        pairs = []
        for entry in entries:
            pair = entry if isinstance(entry, tuple) else (entry, entry)
            if len(pair) != 2 or not all(_natural(i) for i in pair):
                self.fail(value, span, where)
            pairs.append(tuple(pair))
        return tuple(pairs)


class Permutation(Kind):
    """Permute's `dims`: the sample axes 1..n in their new order (the batch, axis 0, stays first)."""

    label = "a tuple of the axes 1..n in a new order, such as (2, 1)"

    def convert(self, value, span, where):
        if not isinstance(value, tuple) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
            self.fail(value, span, where)
        if sorted(value) != list(range(1, len(value) + 1)):
            self.fail(value, span, where, "number the axes from 1 (axis 0 is the batch), each once")
        return value


def _scaled(size: int | None, factor: int) -> int | None:
    return None if size is None else size * factor


def _padded(size: int | None, pair: tuple[int, int]) -> int | None:
    return None if size is None else size + pair[0] + pair[1]


def _cropped(size: int | None, pair: tuple[int, int], axis: str) -> int | None:
    if size is None:
        return None
    if pair[0] + pair[1] >= size:
        raise ShapeProblem(f"crops {pair[0]} + {pair[1]} from {axis} of {size}, leaving nothing")
    return size - pair[0] - pair[1]


def _sequence(inputs, name: str) -> tuple[str, Shape]:
    dtype = require_float(inputs, name)
    require_rank(inputs[0].shape, (2,), "steps and channels")
    return dtype, inputs[0].shape


def _image(inputs, name: str) -> tuple[str, Shape]:
    dtype = require_float(inputs, name)
    require_rank(inputs[0].shape, (3,), "2 spatial dims and channels")
    return dtype, inputs[0].shape


def up_sampling1d_infer(inputs, args):
    dtype, (steps, channels) = _sequence(inputs, "UpSampling1D")
    return TensorType(dtype, (_scaled(steps, args["size"]), channels))


def up_sampling2d_infer(inputs, args):
    dtype, (height, width, channels) = _image(inputs, "UpSampling2D")
    rows, cols = args["size"]
    return TensorType(dtype, (_scaled(height, rows), _scaled(width, cols), channels))


def zero_padding1d_infer(inputs, args):
    dtype, (steps, channels) = _sequence(inputs, "ZeroPadding1D")
    return TensorType(dtype, (_padded(steps, args["padding"]), channels))


def zero_padding2d_infer(inputs, args):
    dtype, (height, width, channels) = _image(inputs, "ZeroPadding2D")
    rows, cols = args["padding"]
    return TensorType(dtype, (_padded(height, rows), _padded(width, cols), channels))


def cropping1d_infer(inputs, args):
    dtype, (steps, channels) = _sequence(inputs, "Cropping1D")
    return TensorType(dtype, (_cropped(steps, args["cropping"], "a length"), channels))


def cropping2d_infer(inputs, args):
    dtype, (height, width, channels) = _image(inputs, "Cropping2D")
    rows, cols = args["cropping"]
    return TensorType(dtype, (_cropped(height, rows, "a height"), _cropped(width, cols, "a width"), channels))


def permute_infer(inputs, args):
    dtype = require_float(inputs, "Permute")
    shape, dims = inputs[0].shape, args["dims"]
    if len(dims) != len(shape):
        raise ShapeProblem(
            f"dims {dims} name {len(dims)} axes, but a sample has {len(shape)} (the batch, axis 0, is not listed)"
        )
    return TensorType(dtype, tuple(shape[d - 1] for d in dims))


def repeat_vector_infer(inputs, args):
    dtype = require_float(inputs, "RepeatVector")
    require_rank(inputs[0].shape, (1,), "a vector per sample")
    return TensorType(dtype, (args["n"], inputs[0].shape[0]))


def identity_infer(inputs, args):
    # Keras' Identity passes integers too; here, as every layer but Embedding, it takes floats, so that no model
    # can end in token ids (its loss, and the ONNX output, are float)
    return TensorType(require_float(inputs, "Identity"), inputs[0].shape)


DATA_FORMAT = ArgSpec("data_format", ChannelsLast(), "channels_last")

register(
    OpSpec("UpSampling1D", "resize", (ArgSpec("size", Int(low=1), 2),), up_sampling1d_infer, doc="repeats steps"),
    OpSpec(
        "UpSampling2D",
        "resize",
        (ArgSpec("size", IntTuple(2), (2, 2)), DATA_FORMAT, ArgSpec("interpolation", Interpolation(), "nearest")),
        up_sampling2d_infer,
        doc="nearest repeats pixels; bilinear is TensorFlow's half-pixel resize",
    ),
    OpSpec(
        "ZeroPadding1D",
        "resize",
        (ArgSpec("padding", Pair(), (1, 1)), DATA_FORMAT),
        zero_padding1d_infer,
        doc="zeros before and after the steps",
    ),
    OpSpec(
        "ZeroPadding2D",
        "resize",
        (ArgSpec("padding", Pairs2D(), ((1, 1), (1, 1))), DATA_FORMAT),
        zero_padding2d_infer,
        doc="zeros around the rows and columns",
    ),
    OpSpec(
        "Cropping1D",
        "resize",
        (ArgSpec("cropping", Pair(), (1, 1)),),
        cropping1d_infer,
        doc="drops steps at the start and end",
    ),
    OpSpec(
        "Cropping2D",
        "resize",
        (ArgSpec("cropping", Pairs2D(), ((0, 0), (0, 0))), DATA_FORMAT),
        cropping2d_infer,
        doc="drops rows and columns at the edges",
    ),
    OpSpec("Permute", "resize", (ArgSpec("dims", Permutation()),), permute_infer, doc="dims count from 1"),
    OpSpec("RepeatVector", "resize", (ArgSpec("n", Int(low=1)),), repeat_vector_infer, doc="a vector -> [n, d]"),
    OpSpec("Identity", "resize", (), identity_infer, doc="its input, unchanged"),
)
