"""The PyTorch program's training tables: one entry per loss, metric kind and optimizer, each written as
Keras computes it (formulas in ../shared/EQUIVALENCE.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compiler.codegen import literal

# A loss's body: (its bound arguments, from logits, classes moved to dim 1 for torch) -> the lines of
# `compute_loss(output, target)`, the last one returning the batch mean.
LossBody = Callable[[dict[str, Any], bool, str], list[str]]


def _sparse_crossentropy(args: dict[str, Any], from_logits: bool, classes_to_dim1: str) -> list[str]:
    if from_logits:
        return [f"return F.cross_entropy(output{classes_to_dim1}, target)"]
    # Keras (TensorFlow) clips, takes the log, then normalises (a log-softmax of the logs): on outputs that
    # are not probabilities this differs from normalising first, as the dense form does
    return [
        "log_probabilities = torch.log(output.clamp(1e-7, 1 - 1e-7))",
        f"return F.cross_entropy(log_probabilities{classes_to_dim1}, target)",
    ]


def _categorical_crossentropy(args: dict[str, Any], from_logits: bool, classes_to_dim1: str) -> list[str]:
    smoothing = args["label_smoothing"]
    lines = (
        [f"target = target * {literal(1 - smoothing)} + {literal(smoothing)} / target.shape[-1]"] if smoothing else []
    )
    if from_logits:
        return [*lines, "return -(target * F.log_softmax(output, dim=-1)).sum(dim=-1).mean()"]
    return [
        *lines,
        "probabilities = output / output.sum(dim=-1, keepdim=True)",
        "probabilities = probabilities.clamp(1e-7, 1 - 1e-7)",
        "return -(target * torch.log(probabilities)).sum(dim=-1).mean()",
    ]


def _binary_crossentropy(args: dict[str, Any], from_logits: bool, classes_to_dim1: str) -> list[str]:
    smoothing = args["label_smoothing"]
    lines = [f"target = target * {literal(1 - smoothing)} + {literal(smoothing / 2)}"] if smoothing else []
    if from_logits:
        return [*lines, "return F.binary_cross_entropy_with_logits(output, target)"]
    return [
        *lines,
        "p = output.clamp(1e-7, 1 - 1e-7)",
        "return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()",
    ]


LOSSES: dict[str, LossBody] = {
    "mean_squared_error": lambda args, logits, dim1: ["return (output - target).square().mean()"],
    "mean_absolute_error": lambda args, logits, dim1: ["return (output - target).abs().mean()"],
    "huber": lambda args, logits, dim1: [f"return F.huber_loss(output, target, delta={literal(args['delta'])})"],
    "binary_crossentropy": _binary_crossentropy,
    "categorical_crossentropy": _categorical_crossentropy,
    "sparse_categorical_crossentropy": _sparse_crossentropy,
}

# metric kind (compiler.training.metric_kind) -> its batch value from `output` (probabilities) and `target`
METRICS: dict[str, str] = {
    "mean_absolute_error": "(output - target).abs().mean()",
    "mean_squared_error": "(output - target).square().mean()",
    "binary_accuracy": "((output > 0.5).float() == target).float().mean()",
    "sparse_categorical_accuracy": "(output.argmax(dim=-1) == target).float().mean()",
    "categorical_accuracy": "(output.argmax(dim=-1) == target.argmax(dim=-1)).float().mean()",
}

# optimizer -> the Keras-exact optimizer class the program copies in from runtime.py
OPTIMIZERS: dict[str, str] = {
    "SGD": "KerasSGD",
    "Adam": "KerasAdam",
    "AdamW": "KerasAdam",
    "RMSprop": "KerasRMSprop",
    "Adagrad": "KerasAdagrad",
}
