"""The PyTorch program generator: IR graph -> one standalone, readable training program."""

from __future__ import annotations

import keyword
from importlib import resources
from pathlib import Path

from compiler.codegen import Writer, comment, identifier, literal
from compiler.ir import Graph, Value
from compiler.training import fused_logits

from ..formatting import format_program, template_body
from ..program_parts import emit_constants, emit_docstring, emit_initial_weights, label_kind
from . import lowerings
from .lowerings import FIRST, LAST, Context, Lowered

TORCH_DTYPES = {"f16": "float16", "f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64"}
MODULE_ATTRIBUTES = {"forward", "finish", "training", "to", "eval", "train", "cuda", "cpu", "apply", "half", "float"}


def safe_name(name: str, taken: set[str]) -> str:
    """A Python identifier for a .dl name: the name itself unless it is a keyword or a torch.nn.Module member."""
    candidate = name
    while (
        keyword.iskeyword(candidate)
        or candidate in MODULE_ATTRIBUTES
        or candidate.startswith("_")
        or candidate in taken
    ):
        candidate = f"{candidate}_"
    taken.add(candidate)
    return identifier(candidate)


class ForwardBuilder:
    """Walks the graph once, choosing layouts and collecting submodules, forward lines and weight mappings."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.taken: set[str] = {"self", "logits", "torch", "F", "nn", "math", "np"}
        self.vars: dict[tuple[str, str], str] = {}  # (value name, layout) -> variable
        self.modules: list[tuple[str, str, str]] = []  # attribute, constructor, comment
        self.lines: list[str] = []
        self.weights: list[tuple[str, str, str]] = []
        self.pieces: list[str] = []
        self.layout: dict[str, str] = {}
        self.attrs: dict[str, str] = {}
        self.input_args = [safe_name(v.name, self.taken) for v in graph.inputs]
        for value, arg in zip(graph.inputs, self.input_args, strict=True):
            self.vars[(value.name, LAST)] = arg
            self.layout[value.name] = LAST

    def fetch(self, value: Value, layout: str) -> str:
        """The variable holding `value` in `layout`, permuting once and remembering the result."""
        if (value.name, layout) in self.vars:
            return self.vars[(value.name, layout)]
        source = self.vars[(value.name, self.layout[value.name])]
        rank = len(value.shape) + 1
        order = (0, rank - 1, *range(1, rank - 1)) if layout == FIRST else (0, *range(2, rank), 1)
        variable = safe_name(f"{source}_{'nc' if layout == FIRST else 'nl'}", self.taken)
        self.lines.append(f"{variable} = {source}.permute{literal(order)}")
        self.vars[(value.name, layout)] = variable
        return variable

    def build(self, fused: str | None) -> None:
        last = self.graph.nodes[-1]
        for node in self.graph.nodes:
            wants, lower = lowerings.TABLE[node.op]
            rank = len(node.inputs[0].shape)
            if wants == FIRST and rank < 2:
                wants = LAST
            if wants is None:  # layout-agnostic: keep the inputs' layout when they agree
                layouts = {self.layout[v.name] for v in node.inputs}
                wants = layouts.pop() if len(layouts) == 1 else LAST
            inputs = [self.fetch(v, wants) for v in node.inputs]
            attr = safe_name(node.name, self.taken)
            self.attrs[node.name] = attr
            lowered: Lowered = lower(Context(node, attr, inputs), wants)
            expr = lowered.expr
            if node is last and fused:  # training stops at the logits; `finish` applies the activation
                self.final_activation = lowerings.activate(fused, "{x}", LAST)
                if node.op in ("Softmax", "Activation"):
                    expr = inputs[0]
            elif node.op not in ("Softmax", "Activation") and node.spec.output_activation(node.args):
                expr = lowerings.activate(node.args["activation"], expr, lowered.layout)
            self.lines.append(f"{attr} = {expr}  {comment(f'{Path(node.span.source.path).name}:{node.span.line}')}")
            self.vars[(node.output.name, lowered.layout)] = attr
            self.layout[node.output.name] = lowered.layout
            if lowered.module:
                self.modules.append((attr, lowered.module, f"{node.name} ({node.op})"))
            for canonical, torch_name, transform in lowered.weights:
                self.weights.append((f"{node.name}.{canonical}", f"{attr}.{torch_name}", transform))
            self.pieces += [p for p in lowered.pieces if p not in self.pieces]
        self.output = self.fetch(self.graph.output, LAST)


def emit_loss(w: Writer, graph: Graph, fused: str | None) -> None:
    loss = graph.training.loss
    name, args = loss.name, loss.args
    from_logits = fused is not None or args.get("from_logits", False)
    w.line()
    with w.block("def compute_loss(output, target):"):
        w.line(f'"""{name} as Keras computes it{" from logits" if from_logits else ""}, averaged over the batch."""')
        smoothing = args.get("label_smoothing", 0.0)
        if name == "sparse_categorical_crossentropy":
            # torch wants classes on dim 1; a sequence's are last, as in Keras
            classes_last = ".movedim(-1, 1)" if len(graph.output.shape) > 1 else ""
            if from_logits:
                w.line(f"return F.cross_entropy(output{classes_last}, target)")
            else:
                w.line("probabilities = output / output.sum(dim=-1, keepdim=True)")
                w.line("probabilities = probabilities.clamp(1e-7, 1 - 1e-7)")
                w.line(f"return F.nll_loss(torch.log(probabilities){classes_last}, target)")
        elif name == "categorical_crossentropy":
            if smoothing:
                w.line(f"target = target * {literal(1 - smoothing)} + {literal(smoothing)} / target.shape[-1]")
            if from_logits:
                w.line("return -(target * F.log_softmax(output, dim=-1)).sum(dim=-1).mean()")
            else:
                w.line("probabilities = output / output.sum(dim=-1, keepdim=True)")
                w.line("probabilities = probabilities.clamp(1e-7, 1 - 1e-7)")
                w.line("return -(target * torch.log(probabilities)).sum(dim=-1).mean()")
        elif name == "binary_crossentropy":
            if smoothing:
                w.line(f"target = target * {literal(1 - smoothing)} + {literal(smoothing / 2)}")
            if from_logits:
                w.line("return F.binary_cross_entropy_with_logits(output, target)")
            else:
                w.line("p = output.clamp(1e-7, 1 - 1e-7)")
                w.line("return -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()")
        elif name == "huber":
            w.line(f"return F.huber_loss(output, target, delta={literal(args['delta'])})")
        elif name == "mean_absolute_error":
            w.line("return (output - target).abs().mean()")
        else:
            w.line("return (output - target).square().mean()")


def emit_metrics(w: Writer, graph: Graph) -> None:
    labels = label_kind(graph)
    units = graph.output.shape[-1]
    w.line()
    with w.block("def compute_metrics(output, target):"):
        w.line('"""The spec\'s metrics on one batch of outputs (probabilities, as inference gives them)."""')
        w.line("metrics = {}")
        for metric in graph.training.metrics:
            key = literal(metric)
            if metric in ("mae", "mean_absolute_error"):
                w.line(f"metrics[{key}] = (output - target).abs().mean()")
            elif metric in ("mse", "mean_squared_error"):
                w.line(f"metrics[{key}] = (output - target).square().mean()")
            elif metric == "binary_accuracy" or (metric == "accuracy" and units == 1):
                w.line(f"metrics[{key}] = ((output > 0.5).float() == target).float().mean()")
            elif labels == "sparse" and metric in ("accuracy", "sparse_categorical_accuracy"):
                w.line(f"metrics[{key}] = (output.argmax(dim=-1) == target).float().mean()")
            else:
                w.line(f"metrics[{key}] = (output.argmax(dim=-1) == target.argmax(dim=-1)).float().mean()")
        w.line("return metrics")


def emit_regularization(w: Writer, graph: Graph, attrs: dict[str, str], weights: list) -> None:
    torch_names = dict((canonical, torch_name) for canonical, torch_name, _ in weights)
    terms = []
    for node, param in graph.params:
        regularizer = param.regularizer
        if regularizer is None:
            continue
        tensor = f"model.{torch_names[f'{node.name}.{param.name}']}"
        if regularizer.l1:
            terms.append(f"{literal(regularizer.l1)} * {tensor}.abs().sum()")
        if regularizer.l2:
            terms.append(f"{literal(regularizer.l2)} * {tensor}.square().sum()")
    w.line()
    with w.block("def regularization(model):"):
        w.line('"""The spec\'s L1/L2 penalties, added to the loss as Keras adds them."""')
        if not terms:
            w.line("return 0.0")
            return
        w.line("return (")
        w.level += 1
        for index, term in enumerate(terms):
            w.line(("+ " if index else "") + term)
        w.level -= 1
        w.line(")")


OPTIMIZER_CLASSES = {
    "SGD": "KerasSGD",
    "Adam": "KerasAdam",
    "AdamW": "KerasAdam",
    "RMSprop": "KerasRMSprop",
    "Adagrad": "KerasAdagrad",
}


def _definitions(package_file: str) -> dict[str, str]:
    """Top-level functions and classes of one of our own source files, by name, without importing it."""
    import ast

    source = resources.files("backends.pytorch").joinpath(package_file).read_text()
    tree = ast.parse(source)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            found[node.name] = ast.get_source_segment(source, node)
    return found


def _with_needs(names: list[str], needs: dict[str, tuple[str, ...]]) -> list[str]:
    ordered: list[str] = []
    for name in names:
        for need in (*needs.get(name, ()), name):
            if need not in ordered:
                ordered.append(need)
    return ordered


def _template_body() -> str:
    return template_body("backends", "program_common.py") + "\n\n" + template_body("backends.pytorch", "template.py")


RUNTIME_NEEDS = {
    "pad_same": ("same_padding",),
    "avg_pool_same": ("same_padding",),
    "KerasEmbedding": ("SparseRowsLookup",),
    **{name: ("KerasOptimizer",) for name in OPTIMIZER_CLASSES.values()},
}


def emit_program(graph: Graph) -> str:
    """A standalone PyTorch training program; needs torch, numpy, safetensors (scikit-learn for datasets)."""
    training = graph.training
    if training.loss is None or training.optimizer is None:
        from compiler.errors import DlError

        raise DlError(f"model '{graph.name}' needs a loss and an optimizer to be trained", graph.span)
    fused = fused_logits(graph)
    builder = ForwardBuilder(graph)
    builder.build(fused)
    class_name = safe_name(graph.name, set(builder.taken) | {"MODEL_CLASS"})
    optimizer = training.optimizer
    w = Writer()
    emit_docstring(w, graph, "PyTorch")
    for line in (
        "import argparse",
        "import json",
        "import math",
        "import sys",
        "import time",
        "import zlib",
        "from pathlib import Path",
        "",
        "import numpy as np",
        "import torch",
        "import torch.nn.functional as F",
        "from safetensors.numpy import load_file, save_file",
        "from torch import nn",
    ):
        w.line(line)
    w.line()
    emit_constants(w, graph, {d: TORCH_DTYPES[d] if d != "f16" else "float32" for d in TORCH_DTYPES})
    optimizer_args = {k: v for k, v in optimizer.args.items()}
    w.line(f"OPTIMIZER = {literal(optimizer_args)}  # {optimizer.name}, Keras' arguments and update formula")
    runtime = _definitions("runtime.py")
    pieces = _with_needs([*builder.pieces, OPTIMIZER_CLASSES[optimizer.name]], RUNTIME_NEEDS)
    for piece in pieces:
        w.line()
        w.line()
        w.lines_of(runtime[piece])
    emit_model(w, graph, builder, class_name, fused)
    w.line()
    w.line(f"MODEL_CLASS = {class_name}")
    w.line(f"OPTIMIZER_CLASS = {OPTIMIZER_CLASSES[optimizer.name]}")
    w.line("# canonical key, torch state_dict key, layout conversion")
    w.line("WEIGHTS = [")
    for entry in builder.weights:
        w.line(f"    {literal(entry)},")
    w.line("]")
    emit_initial_weights(w, graph)
    emit_loss(w, graph, fused)
    emit_metrics(w, graph)
    emit_regularization(w, graph, builder.attrs, builder.weights)
    w.line()
    w.line()
    w.lines_of(_template_body())
    return format_program(w.text())


def emit_model(w: Writer, graph: Graph, builder: ForwardBuilder, class_name: str, fused: str | None) -> None:
    w.line()
    w.line()
    with w.block(f"class {class_name}(nn.Module):"):
        w.line(literal(f"{graph.name}, as declared in {Path(graph.source.path).name}; inputs are channels-last."))
        w.line()
        with w.block("def __init__(self):"):
            w.line("super().__init__()")
            for attr, constructor, what in builder.modules:
                w.line(f"self.{attr} = {constructor}  {comment(what)}")
        w.line()
        args = ", ".join(builder.input_args)
        with w.block(f"def forward(self, {args}, logits=False):"):
            w.line(
                '"""Probabilities (or whatever the last layer gives); `logits=True` stops before a fused activation."""'
            )
            for line in builder.lines:
                w.line(line)
            if fused:
                w.line(f"return {builder.output} if logits else self.finish({builder.output})")
            else:
                w.line(f"return {builder.output}")
        w.line()
        with w.block("def finish(self, x):"):
            w.line('"""The activation that training fuses into the loss; identity when there is none."""')
            final = getattr(builder, "final_activation", None) if fused else None
            w.line(f"return {final.format(x='x') if final else 'x'}")
