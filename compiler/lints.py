"""Warnings: specs that are valid and equivalent everywhere, but most likely not what their author meant.

Each is a value with a span and a fix, printed by `dlc check` (and by the commands that load a model) without
failing it. A warning never changes what the backends compute.
"""

from __future__ import annotations

from .errors import DlError, clip
from .ir import Graph, Node
from .training import CROSS_ENTROPIES

# Activations whose every output lies in [0, 1]: what a cross-entropy without from_logits reads as probabilities
PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "hard_sigmoid")
# Layers that pass their input's values through unchanged (in inference), so the activation before them counts
VALUE_PRESERVING = ("Dropout", "Reshape", "Flatten")
# Layers with a bias added per output channel (the last axis) when `use_bias` is on
BIASED = (
    "Dense",
    "Conv1D",
    "Conv2D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "SeparableConv1D",
    "SeparableConv2D",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
)


class DlWarning(DlError):
    """A warning: rendered as an error is, under the word "warning"; never raised."""

    kind = "warning"


def lint(graph: Graph) -> list[DlWarning]:
    """Every warning for `graph`, in source order."""
    found = [
        *_raw_outputs_into_a_probability_loss(graph),
        *_biases_a_batch_normalization_cancels(graph),
        *_regression_on_named_classes(graph),
    ]
    return sorted(found, key=lambda w: (w.span.line, w.span.column) if w.span else (0, 0))


def _producer(graph: Graph, name: str) -> Node | None:
    return next((node for node in graph.nodes if node.output.name == name), None)


def _raw_outputs_into_a_probability_loss(graph: Graph) -> list[DlWarning]:
    loss = graph.training.loss
    if loss is None or loss.name not in CROSS_ENTROPIES or loss.args.get("from_logits"):
        return []
    node = _producer(graph, graph.output.name)
    while node is not None and node.op in VALUE_PRESERVING:
        node = _producer(graph, node.inputs[0].name)
    if node is None or node.spec.output_activation(node.args) in PROBABILITY_ACTIVATIONS:
        return []
    activation = "sigmoid" if loss.name == "binary_crossentropy" else "softmax"
    return [
        DlWarning(
            f"{loss.name} reads the model's outputs as probabilities, but layer '{node.name}' ({node.op}) "
            "gives raw values (negative or above one)",
            node.span,
            f"set from_logits=true on the loss, or end with activation={activation}",
        )
    ]


def _regression_on_named_classes(graph: Graph) -> list[DlWarning]:
    """A regression loss on targets the source names as classes: they are fitted as the numbers 0, 1, 2, ...,
    as if the classes were ordered and evenly spaced."""
    loss, data = graph.training.loss, graph.training.settings.data
    if loss is None or loss.name in CROSS_ENTROPIES or data is None or not data.class_names:
        return []
    shown = ", ".join(clip(name, 40) for name in data.class_names[:3]) + (", ..." if len(data.class_names) > 3 else "")
    return [
        DlWarning(
            f"{loss.name} fits the targets as numbers, but they are {len(data.class_names)} classes ({shown}), "
            f"read as the class ids 0 to {len(data.class_names) - 1}",
            data.span,
            f"for classes, use sparse_categorical_crossentropy with {len(data.class_names)} outputs and "
            "activation=softmax",
        )
    ]


def biases_a_batch_normalization_cancels(graph: Graph) -> list[tuple[Node, Node]]:
    """Each layer whose bias the BatchNormalization reading it cancels, with that normalization: a bias added right
    before BatchNormalization over its channels is subtracted again with the batch mean. It never changes the
    outputs, its true gradient is zero, and Adam-type optimizers turn the frameworks' rounding noise in that
    gradient into learning-rate-sized steps that differ between backends (`dlc verify` judges such biases apart)."""
    readers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for value in node.inputs:
            readers.setdefault(value.name, []).append(node)
    found = []
    for node in graph.nodes:
        if node.op not in BIASED or not node.args.get("use_bias") or node.spec.output_activation(node.args):
            continue
        following = readers.get(node.output.name, [])
        if node.output.name == graph.output.name or len(following) != 1:
            continue
        (norm,) = following
        if norm.op == "BatchNormalization" and norm.args["axis"] in (-1, len(norm.output.shape)):
            found.append((node, norm))
    return found


def _biases_a_batch_normalization_cancels(graph: Graph) -> list[DlWarning]:
    cancelled: dict[tuple[int, int], list[Node]] = {}  # by span: a block used twice is written once
    for node, _ in biases_a_batch_normalization_cancels(graph):
        cancelled.setdefault((node.span.line, node.span.column), []).append(node)
    warnings = []
    for nodes in cancelled.values():
        names = ", ".join(f"'{node.name}'" for node in nodes)
        layers = f"layer {names}" if len(nodes) == 1 else f"layers {names}"
        warnings.append(
            DlWarning(
                f"the bias of {layers} ({nodes[0].op}) is cancelled by the BatchNormalization that follows "
                "(it subtracts the batch mean): the bias never changes the outputs",
                nodes[0].span,
                f"write {nodes[0].op}(..., use_bias=false)",
            )
        )
    return warnings
