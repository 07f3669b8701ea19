"""Random inputs and targets shaped as a spec declares them, for checks and timings that need no data set.

Token ids are drawn below the smallest `input_dim` of the Embedding layers that read the input, so every
backend can look them up (in the input's dtype: a float input that an Embedding reads holds whole ids); targets
follow the loss (class ids, one-hot rows, 0/1 labels or real values). Every `?` dimension takes one length, which
`sample_length` chooses so that the model's own shape rules accept it (a PositionEmbedding's `sequence_length`, a
valid convolution's window); the targets take the output's shape at that length, by the same rules.
"""

from __future__ import annotations

import numpy as np

from compiler.ir import Graph, Value
from compiler.ops import Shape, ShapeProblem, TensorType
from compiler.ops.attention import longest_position_length
from compiler.training import label_kind

NUMPY_DTYPES = {"f16": "float16", "f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64"}
IDS_WITHOUT_EMBEDDING = 2  # an integer input no Embedding reads: keep ids small, any layer takes them
LONGEST_SEARCHED = 512  # sample_length looks no further for a length the shape rules accept


def shapes_at(graph: Graph, length: int) -> dict[str, Shape]:
    """Each value's shape (one sample's) when every `?` of the inputs is `length` long, by the ops' shape rules;
    raises ShapeProblem when a rule refuses that length."""
    types = {v.name: TensorType(v.dtype, tuple(length if d is None else d for d in v.shape)) for v in graph.inputs}
    for node in graph.nodes:
        types[node.output.name] = node.spec.infer([types[v.name] for v in node.inputs], node.args)
    return {name: value.shape for name, value in types.items()}


def accepts(graph: Graph, length: int) -> bool:
    try:
        shapes_at(graph, length)
    except ShapeProblem:
        return False
    return True


def sample_length(graph: Graph, preferred: int) -> int:
    """The length to give every `?` dimension: `preferred`, capped by the shortest `sequence_length` of the
    PositionEmbeddings on a `?` length; when the shape rules refuse it (a window longer than the sequence), the
    nearest length they accept, looking up first. Without any `?` dimension, `preferred` as it is."""
    if not any(d is None for value in graph.inputs for d in value.shape):
        return preferred
    cap = longest_position_length(graph.nodes)
    start = preferred if cap is None else min(preferred, cap)
    longest = LONGEST_SEARCHED if cap is None else cap
    for length in (*range(start, longest + 1), *range(start - 1, 0, -1)):
        if accepts(graph, length):
            return length
    return start  # nothing fits: the programs will say why


def token_limit(graph: Graph, value: Value) -> int:
    """One more than the largest id every Embedding reading `value` can look up."""
    limits = [node.args["input_dim"] for node in graph.nodes if node.op == "Embedding" and value in node.inputs]
    return min(limits, default=IDS_WITHOUT_EMBEDDING)


def random_inputs(graph: Graph, batch: int, length: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One array per model input, in order: `batch` rows, `?` dimensions `length` long."""
    arrays = []
    for value in graph.inputs:
        shape = (batch, *(length if d is None else d for d in value.shape))
        dtype = NUMPY_DTYPES[value.dtype]
        read_as_ids = any(node.op == "Embedding" and value in node.inputs for node in graph.nodes)
        if value.dtype.startswith("i") or read_as_ids:
            arrays.append(rng.integers(0, token_limit(graph, value), shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def random_targets(graph: Graph, batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Targets the spec's loss accepts, shaped as the generated programs shape them (backends/program/data.py) and
    as the model's output is when each `?` of the inputs is `length` long (a strided layer changes it)."""
    try:
        inferred = shapes_at(graph, length)[graph.output.name]
    except ShapeProblem:
        inferred = graph.output.shape
    shape = tuple(length if d is None else d for d in inferred)
    units, leading = shape[-1], (batch, *shape[:-1])
    kind = label_kind(graph.training.loss)
    if kind == "sparse":
        return rng.integers(0, units, leading).astype(np.int64)
    if kind == "onehot":
        return np.eye(units, dtype=np.float32)[rng.integers(0, units, leading)]
    if graph.training.loss is not None and graph.training.loss.name == "binary_crossentropy":
        return rng.integers(0, 2, (batch, *shape)).astype(np.float32)
    return rng.standard_normal((batch, *shape)).astype(np.float32)
