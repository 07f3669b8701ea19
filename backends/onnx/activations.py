"""Keras activations as ONNX nodes (opset 17 has no Gelu, Swish or Mish, so those are composed)."""

from __future__ import annotations

import math
from collections.abc import Callable

from .builder import GraphBuilder

# builder, input, name hint, channel axis (for softmax) -> output
Activation = Callable[[GraphBuilder, str, str, int], str]


def _unary(op: str) -> Activation:
    def apply(g: GraphBuilder, x: str, hint: str, axis: int) -> str:
        return g.add(op, [x], hint)

    return apply


def _gelu(g: GraphBuilder, x: str, hint: str, axis: int) -> str:
    # Keras' (and torch's) default gelu is the exact erf form: x * 0.5 * (1 + erf(x / sqrt(2)))
    erf = g.add("Erf", [g.add("Mul", [x, g.scalar(1 / math.sqrt(2))], hint)], hint)
    half = g.add("Mul", [x, g.scalar(0.5)], hint)
    return g.add("Mul", [half, g.add("Add", [erf, g.scalar(1.0)], hint)], hint)


def _swish(g: GraphBuilder, x: str, hint: str, axis: int) -> str:
    return g.add("Mul", [x, g.add("Sigmoid", [x], hint)], hint)


def _softmax(g: GraphBuilder, x: str, hint: str, axis: int) -> str:
    return g.add("Softmax", [x], hint, axis=axis)


def _log_softmax(g: GraphBuilder, x: str, hint: str, axis: int) -> str:
    return g.add("LogSoftmax", [x], hint, axis=axis)


def _relu6(g: GraphBuilder, x: str, hint: str, axis: int) -> str:
    return g.add("Clip", [x, g.scalar(0.0), g.scalar(6.0)], hint)


def _leaky_relu(g: GraphBuilder, x: str, hint: str, axis: int) -> str:
    return g.add("LeakyRelu", [x], hint, alpha=0.2)  # the activation's default slope (the LeakyReLU layer's is 0.3)


def _mish(g: GraphBuilder, x: str, hint: str, axis: int) -> str:
    return g.add("Mul", [x, g.add("Tanh", [g.add("Softplus", [x], hint)], hint)], hint)


def _hard_sigmoid(g: GraphBuilder, x: str, hint: str, axis: int) -> str:
    return g.add("HardSigmoid", [x], hint, alpha=1 / 6, beta=0.5)  # Keras 3's relu6(x + 3) / 6


ACTIVATIONS: dict[str, Activation] = {
    "linear": lambda g, x, hint, axis: x,
    "relu": _unary("Relu"),
    "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "softmax": _softmax,
    "gelu": _gelu,
    "elu": _unary("Elu"),  # alpha 1.0, as Keras
    "selu": _unary("Selu"),  # ONNX's default alpha and gamma are Keras' constants
    "softplus": _unary("Softplus"),
    "swish": _swish,
    "log_softmax": _log_softmax,
    "relu6": _relu6,
    "leaky_relu": _leaky_relu,
    "silu": _swish,
    "mish": _mish,
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": _unary("HardSwish"),  # x * max(0, min(1, x / 6 + 0.5)): Keras' x * relu6(x + 3) / 6
}

# Activations the fused ONNX RNN/LSTM/GRU ops accept, by their ONNX names. Any other makes a recurrent
# layer run as a Scan; that includes `linear`, whose ONNX form (Affine) ONNX Runtime runs with alpha 0.
RECURRENT_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "elu": "Elu", "softplus": "Softplus"}


def activate(g: GraphBuilder, name: str, x: str, hint: str, axis: int = -1) -> str:
    return ACTIVATIONS[name](g, x, hint, axis)
