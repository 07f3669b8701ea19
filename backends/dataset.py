"""The spec's data, split exactly as the generated programs split it, for tools outside a training run
(`dlc export --quantize` reports the accuracy change on the validation split).

The split code is the programs' own (backends/program_common.py), run on the constants the generators emit,
so there is one definition of loading and splitting.
"""

from __future__ import annotations

from compiler.codegen import Writer
from compiler.ir import Graph

from .formatting import template_body
from .program_parts import emit_constants

DTYPES = {"f16": "float32", "f32": "float32", "f64": "float32", "i32": "int32", "i64": "int64"}


def load_splits(graph: Graph, seed: int | None = None):
    """((train_x, train_y), (val_x, val_y), (test_x, test_y)), or None when the spec names no data."""
    if graph.training.settings.data is None:
        return None
    import numpy as np

    w = Writer()
    emit_constants(w, graph, DTYPES)
    namespace = {"np": np}
    exec(compile(w.text() + "\n" + template_body("backends", "program_common.py"), "<dlc data>", "exec"), namespace)
    xs, y = namespace["load_data"]()
    shaped = namespace["shape_inputs"](xs), namespace["shape_targets"](y)
    return namespace["split_data"](*shaped, graph.training.settings.seed if seed is None else seed)
