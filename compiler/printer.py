"""`dlc ir`: the elaborated graph as readable text, one line per value, stable for golden files."""

from __future__ import annotations

from .ir import Graph, show_shape
from .values import Regularizer


def _arg(value: object) -> str:
    if isinstance(value, Regularizer):
        return str(value)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
        inner, args = value
        return f"{inner}(" + ", ".join(f"{k}={_arg(v)}" for k, v in args.items()) + ")"
    return repr(value)


def print_ir(graph: Graph) -> str:
    lines = [f"model {graph.name} {{"]
    for value in graph.inputs:
        lines.append(f"  input %{value.name}: {value.dtype}{show_shape(value.shape)}")
    for node in graph.nodes:
        inputs = ", ".join(f"%{v.name}" for v in node.inputs)
        args = ", ".join(f"{k}={_arg(v)}" for k, v in node.args.items())
        out = f"{node.output.dtype}{show_shape(node.output.shape)}"
        lines.append(
            f"  %{node.name}: {out} = {node.op}({inputs}{', ' if args else ''}{args})  # line {node.span.line}"
        )
        for param in node.params:
            kind = "param" if param.trainable else "state"
            lines.append(f"    {kind} {node.name}.{param.name}: {list(param.shape)} init={param.initializer}")
    lines.append(f"  output %{graph.output.name}")
    training = graph.training
    if training.loss:
        lines.append(f"  loss {training.loss.name} {training.loss.args}")
    if training.optimizer:
        lines.append(f"  optimizer {training.optimizer.name} {training.optimizer.args}")
    if training.metrics:
        lines.append(f"  metrics {list(training.metrics)}")
    lines.append("}")
    return "\n".join(lines)
