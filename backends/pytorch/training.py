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


def _confusion(counts: str) -> Callable[[dict[str, Any]], str]:
    """Precision's or recall's counts (runtime.py's `precision_counts`/`recall_counts`) with Keras' arguments:
    the threshold is 0.5, or with top_k every one of the top k (Keras' NEG_INF threshold, -1e10)."""

    def expression(args: dict[str, Any]) -> str:
        threshold = args["thresholds"]
        if threshold is None:
            threshold = 0.5 if args["top_k"] is None else -1e10
        options = "".join(f", {key}={literal(args[key])}" for key in ("top_k", "class_id") if args[key] is not None)
        return f"{counts}(output, target, {literal(threshold)}{options})"

    return expression


# metric kind (compiler.training.metric_kind) -> its batch's (total, count) from `output` (probabilities) and
# `target`, given the metric's arguments; the epoch's value is the sum of totals over the sum of counts, as Keras'
# stateful metrics compute it (precision and recall are not means of per-batch values)
METRICS: dict[str, Callable[[dict[str, Any]], str]] = {
    "mean_absolute_error": lambda args: "counted((output - target).abs())",
    "mean_squared_error": lambda args: "counted((output - target).square())",
    "binary_accuracy": lambda args: (
        f"counted(((output > {literal(args.get('threshold', 0.5))}).float() == target).float())"
    ),
    "sparse_categorical_accuracy": lambda args: "counted((output.argmax(dim=-1) == target).float())",
    "categorical_accuracy": lambda args: "counted((output.argmax(dim=-1) == target.argmax(dim=-1)).float())",
    "top_k_categorical_accuracy": lambda args: f"counted(in_top_k(output, target.argmax(dim=-1), {args['k']}))",
    "sparse_top_k_categorical_accuracy": lambda args: f"counted(in_top_k(output, target, {args['k']}))",
    "precision": _confusion("precision_counts"),
    "recall": _confusion("recall_counts"),
}
# the runtime.py pieces a metric kind's expression calls
METRIC_PIECES: dict[str, tuple[str, ...]] = {
    "top_k_categorical_accuracy": ("in_top_k",),
    "sparse_top_k_categorical_accuracy": ("in_top_k",),
    "precision": ("precision_counts",),
    "recall": ("recall_counts",),
}

# optimizer -> the Keras-exact optimizer class the program copies in from runtime.py
OPTIMIZERS: dict[str, str] = {
    "SGD": "KerasSGD",
    "Adam": "KerasAdam",
    "AdamW": "KerasAdam",
    "RMSprop": "KerasRMSprop",
    "Adagrad": "KerasAdagrad",
    "Adadelta": "KerasAdadelta",
    "Nadam": "KerasNadam",
    "Adamax": "KerasAdamax",
    "Lion": "KerasLion",
}
# learning-rate schedules: the runtime.py classes have Keras' names; they take Keras' arguments but `name`
SCHEDULE_PIECES: dict[str, tuple[str, ...]] = {
    name: ("float32", name)
    for name in ("ExponentialDecay", "PolynomialDecay", "InverseTimeDecay", "CosineDecay", "PiecewiseConstantDecay")
}
