"""A `.dl` model as a standalone Keras 3 training program (TensorFlow backend, channels-last as written)."""

from __future__ import annotations

import builtins

from compiler.codegen import Writer, literal
from compiler.errors import DlError
from compiler.ir import Graph

from ..formatting import format_program, template_body
from ..program_parts import emit_constants, emit_docstring, emit_initial_weights
from ..spine import DTYPES, LAST, Context, Namer
from .lowerings import OPS
from .training import LOSSES, METRICS, OPTIMIZERS

# Names build_model() must still see: a layer called `keras` would otherwise shadow the module.
RESERVED = {"keras", "np", "model", "inputs"} | set(dir(builtins))


def emit_build_model(w: Writer, graph: Graph) -> list[tuple[str, str, int]]:
    """`build_model()`, the functional model; returns the canonical weight mapping (key, layer, index)."""
    variable = Namer(RESERVED)
    names: dict[str, str] = {}
    mapping = []
    w.line()
    w.line()
    with w.block("def build_model():"):
        w.line(literal(f"{graph.name} as a Keras functional model; layers carry the .dl names."))
        for value in graph.inputs:
            names[value.name] = variable(value.name)
            shape = literal(tuple(value.shape))
            dtype = literal(DTYPES[value.dtype])
            w.line(f"{names[value.name]} = keras.Input(shape={shape}, dtype={dtype}, name={literal(value.name)})")
        for node in graph.nodes:
            inputs = [names[v.name] for v in node.inputs]
            argument = f"[{', '.join(inputs)}]" if node.spec.is_merge else inputs[0]
            names[node.output.name] = variable(node.output.name)
            layer = OPS[node.op].lower(Context(node, inputs, LAST))
            w.line(f"{names[node.output.name]} = {layer}({argument})")
            mapping += [(f"{node.name}.{param.name}", node.name, index) for index, param in enumerate(node.params)]
        model_inputs = ", ".join(names[v.name] for v in graph.inputs)
        w.line(
            f"return keras.Model(inputs=[{model_inputs}], outputs={names[graph.output.name]}, "
            f"name={literal(graph.name)})"
        )
    return mapping


def emit_training_objects(w: Writer, graph: Graph) -> None:
    training = graph.training
    loss, optimizer = training.loss, training.optimizer
    loss_args = ", ".join(f"{k}={literal(v)}" for k, v in loss.args.items())
    optimizer_args = ", ".join(f"{k}={literal(v)}" for k, v in optimizer.args.items())
    w.line()
    w.line()
    with w.block("def build_optimizer():"):
        w.line(f"return {OPTIMIZERS[optimizer.name]}({optimizer_args})")
    w.line()
    w.line()
    with w.block("def build_loss():"):
        w.line(f"return {LOSSES[loss.name]}({loss_args})")
    w.line()
    w.line()
    w.line(f"METRICS = {literal([METRICS[m] for m in training.metrics])}")


def emit_program(graph: Graph) -> str:
    """A standalone Keras training program; needs keras, tensorflow, numpy, safetensors (scikit-learn for datasets)."""
    training = graph.training
    if training.loss is None or training.optimizer is None:
        raise DlError(f"model '{graph.name}' needs a loss and an optimizer to be trained", graph.span)
    w = Writer()
    emit_docstring(w, graph, "Keras")
    for line in (
        "import argparse",
        "import json",
        "import math",
        "import os",
        "import sys",
        "import time",
        "import zlib",
        "from pathlib import Path",
        "",
        "import numpy as np",
        "from safetensors.numpy import load_file, save_file",
        "",
        'os.environ.setdefault("KERAS_BACKEND", "tensorflow")',
        'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow start-up chatter',
        "import keras  # noqa: E402  (after the environment settings above)",
        "import tensorflow as tf  # noqa: E402",
    ):
        w.line(line)
    w.line()
    emit_constants(w, graph, DTYPES)
    mapping = emit_build_model(w, graph)
    emit_training_objects(w, graph)
    w.line("# canonical key, Keras layer, index in layer.weights")
    w.line("WEIGHTS = [")
    for entry in mapping:
        w.line(f"    {literal(entry)},")
    w.line("]")
    emit_initial_weights(w, graph)
    w.line()
    w.line()
    w.lines_of(template_body("backends", "program_common.py"))
    w.line()
    w.line()
    w.lines_of(template_body("backends.keras", "template.py"))
    return format_program(w.text())
