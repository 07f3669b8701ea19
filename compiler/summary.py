"""`dlc check` output: a Keras-summary-like table, or one JSON object per model."""

from __future__ import annotations

from .errors import as_json as diagnostic_json
from .ir import Graph, show_shape
from .lints import lint
from .memory import show_bytes, weight_bytes


def _row(cells: list[str], widths: list[int]) -> str:
    """Layer, shape and connections left-aligned; the parameter count right-aligned as Keras shows it."""
    name, shape, params, connected = cells
    return f"{name:<{widths[0]}}  {shape:<{widths[1]}}  {params:>{widths[2]}}  {connected}".rstrip()


def table(graph: Graph) -> str:
    """The model as Keras' `model.summary()` shows it, with a column for each layer's inputs."""
    header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    rows = [[f"{v.name} ({v.dtype} input)", show_shape(v.shape, batch=True), "0", ""] for v in graph.inputs]
    for node in graph.nodes:
        rows.append(
            [
                f"{node.name} ({node.op})",
                show_shape(node.output.shape, batch=True),
                f"{node.param_count:,}",
                ", ".join(v.name for v in node.inputs),
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    rule = "─" * (sum(widths) + 2 * (len(widths) - 1))
    total = graph.trainable_count + graph.non_trainable_count
    lines = [
        f'Model: "{graph.name}"  ({graph.source.path})',
        rule,
        _row(header, widths),
        rule,
        *(_row(r, widths) for r in rows),
        rule,
        f"Total params: {total:,}",
        f"Trainable params: {graph.trainable_count:,}",
        f"Non-trainable params: {graph.non_trainable_count:,}",
        f"Weight memory: {show_bytes(weight_bytes(graph))} (float32)",
    ]
    return "\n".join(lines)


def _dims(shape) -> list[int | None]:
    return list(shape)


def as_json(graph: Graph) -> dict:
    """The `dlc check --json` object for one model; shapes per sample, null for `?`."""
    return {
        "file": graph.source.path,
        "model": graph.name,
        "inputs": [{"name": v.name, "dtype": v.dtype, "shape": _dims(v.shape)} for v in graph.inputs],
        "outputs": [{"name": graph.output.name, "shape": _dims(graph.output.shape)}],
        "params": {
            "total": graph.trainable_count + graph.non_trainable_count,
            "trainable": graph.trainable_count,
            "non_trainable": graph.non_trainable_count,
            "bytes": weight_bytes(graph),
        },
        "layers": [
            {
                "name": node.name,
                "type": node.op,
                "inputs": [v.name for v in node.inputs],
                "output_shape": _dims(node.output.shape),
                "params": node.param_count,
            }
            for node in graph.nodes
        ],
        "warnings": [diagnostic_json(warning) for warning in lint(graph)],
    }
