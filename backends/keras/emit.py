"""A `.dl` model as a standalone Keras 3 training program (TensorFlow backend, channels-last as written)."""

from __future__ import annotations

import ast
import builtins
from importlib import resources
from typing import Any

from compiler.argkinds import REQUIRED, ArgSpec
from compiler.codegen import Writer, literal
from compiler.errors import DlError
from compiler.ir import Graph
from compiler.training import LOSSES as LOSS_SPECS
from compiler.training import METRIC_CALLS, SCHEDULES, configured_metrics, label_kind, metric_kind, optimizer_signature
from compiler.training_types import Configured

from ..program.constants import emit_docstring, emit_settings
from ..program.initial_weights import emit_initial_weights
from ..program.support import (
    emit_main_guard,
    emit_shared_support,
    program_source,
    section,
    template_names,
    template_section,
)
from ..spine import DTYPES, LAST, Context, Namer
from .lowerings import OPS, same
from .table import Lowered
from .training import LOSSES, METRIC_CLASSES, METRICS, OPTIMIZERS
from .training import SCHEDULES as SCHEDULE_MODULE

# Names build_model() must still see: a layer called `keras` would otherwise shadow the module, one called
# `PositionEmbedding` the class of layers.py.
LAYER_CLASSES = template_names("backends.keras", "layers.py")
RESERVED = {"keras", "np", "model", "inputs"} | LAYER_CLASSES | set(dir(builtins))


def keras_model_name(name: str) -> str:
    """The name Keras is given for the model: TensorFlow refuses a root name scope that begins with `_`."""
    return f"model{name}" if name.startswith("_") else name


def emit_build_model(w: Writer, graph: Graph) -> tuple[list[tuple[str, str, int]], list[str]]:
    """`build_model()`, the functional model; returns the rows of the canonical weight mapping and the layer
    classes of layers.py it uses."""
    variable = Namer(RESERVED)
    names: dict[str, str] = {}
    mapping = []  # canonical key, Keras layer, index in its weights, canonical shape, initializer
    classes: list[str] = []  # the layer classes of layers.py the model uses
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
            if isinstance(layer, Lowered):  # a layer called on more than its input, or one that layers.py defines
                argument = layer.arguments or argument
                classes += [name for name in layer.classes if name not in classes]
                layer = layer.constructor
            w.line(f"{names[node.output.name]} = {layer}({argument})")
            mapping += [
                (f"{node.name}.{param.name}", node.name, index, param.shape, param.initializer)
                for index, param in enumerate(node.params)
            ]
        model_inputs = ", ".join(names[v.name] for v in graph.inputs)
        w.line(
            f"return keras.Model(inputs=[{model_inputs}], outputs={names[graph.output.name]}, "
            f"name={literal(keras_model_name(graph.name))})"
        )
    return mapping, classes


def layer_classes(names: list[str]) -> list[str]:
    """The source of each named class of layers.py, its decorators included."""
    source = resources.files("backends.keras").joinpath("layers.py").read_text(encoding="utf-8")
    lines = source.splitlines()
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name in names:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found[node.name] = "\n".join(lines[first - 1 : node.end_lineno])
    return [found[name] for name in names]


def written_arguments(args: dict[str, Any], signature: tuple[ArgSpec, ...]) -> str:
    """`name=value, ...` for the arguments not at their (Keras') defaults; a learning-rate schedule as its Keras
    class called with its own."""
    defaults = {spec.name: spec.default for spec in signature}
    return ", ".join(f"{k}={written(v)}" for k, v in args.items() if not same(v, defaults.get(k, REQUIRED)))


def written(value: Any) -> str:
    if isinstance(value, Configured):  # a schedule
        return f"{SCHEDULE_MODULE}.{value.name}({written_arguments(value.args, SCHEDULES[value.name])})"
    return literal(value)


def keras_metric(metric: Configured, units: int | None, labels: str) -> str:
    """A metric as compile() takes it: the name Keras resolves itself when that is what the spec says (Keras'
    defaults, Keras' own key), else Keras' class with the arguments and the key as its name."""
    signature = METRIC_CALLS[metric.name][1]
    defaults = {spec.name: spec.default for spec in signature if spec.name != "name"}
    if (
        all(same(metric.args[key], value) for key, value in defaults.items())
        and METRICS[metric.name] == (metric.args["name"])
    ):
        return literal(METRICS[metric.name])
    arguments = written_arguments({k: v for k, v in metric.args.items() if k != "name"}, signature)
    named = f"name={literal(metric.args['name'])}"
    return f"{METRIC_CLASSES[metric_kind(metric.name, units, labels)]}({', '.join(filter(None, (arguments, named)))})"


def emit_training_objects(w: Writer, graph: Graph) -> None:
    training = graph.training
    loss, optimizer = training.loss, training.optimizer
    w.line()
    w.line()
    with w.block("def build_optimizer():"):
        arguments = written_arguments(optimizer.args, optimizer_signature(optimizer.name))
        w.line(f"return {OPTIMIZERS[optimizer.name]}({arguments})")
    w.line()
    w.line()
    with w.block("def build_loss():"):
        w.line(f"return {LOSSES[loss.name]}({written_arguments(loss.args, LOSS_SPECS[loss.name][2])})")
    w.line()
    w.line()
    units, labels = graph.output.shape[-1], label_kind(loss)
    metrics = [keras_metric(metric, units, labels) for metric in configured_metrics(training)]
    w.line(f"METRICS = [{', '.join(metrics)}]")


IMPORTS = (
    ("import keras", "keras"),
    ("import numpy as np", "np"),
    ("import tensorflow as tf", "tf"),
    ("from safetensors.numpy import load, load_file, save_file", "save_file"),
)
PREAMBLE = (  # read as keras and TensorFlow load, so before the imports
    'os.environ.setdefault("KERAS_BACKEND", "tensorflow")',
    "# TensorFlow's start-up chatter; on several workers (TF_CONFIG) also its C++ errors, which repeat the",
    "# one line a worker ends with when another is lost",
    'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3" if "TF_CONFIG" in os.environ else "2")',
)


def emit_program(graph: Graph) -> str:
    """A standalone Keras training program; needs keras, tensorflow, numpy, safetensors (scikit-learn for datasets).

    The model and the training loop come first; support code (the canonical weight mapping, initial weights,
    data and progress) follows under its own headings, only what this model uses.
    """
    training = graph.training
    if training.loss is None or training.optimizer is None:
        raise DlError(f"model '{graph.name}' needs a loss and an optimizer to be trained", graph.span)
    w = Writer()
    emit_settings(w, graph, DTYPES)
    mapping, classes = emit_build_model(w, graph)
    emit_training_objects(w, graph)
    section(w, "training")
    w.lines_of(template_section("backends.keras", "template.py", "training"))
    section(w, "support: canonical weights and initial weights")
    w.line("# canonical key, Keras layer, index in its weights, canonical shape, initializer")
    w.line("WEIGHTS = [")
    for entry in mapping:
        w.line(f"    {literal(entry)},")
    w.line("]")
    w.line()
    w.line()
    w.lines_of(template_section("backends.keras", "template.py", "canonical weights"))
    w.line()
    w.line()
    emit_initial_weights(w, graph)
    if classes:
        section(w, "support: layers that Keras lacks")
        for source in layer_classes(classes):
            w.line()
            w.line()
            w.lines_of(source)
    emit_shared_support(w)
    emit_main_guard(w)
    head = Writer()
    emit_docstring(head, graph, "Keras")
    return program_source(w, head, IMPORTS, PREAMBLE)
