"""The PyTorch program generator: IR graph -> one standalone, readable training program."""

from __future__ import annotations

import inspect
from importlib import resources
from pathlib import Path

from compiler.codegen import Writer, comment, literal, shown_path
from compiler.errors import DlError
from compiler.ir import Graph, Value
from compiler.ops.conv import same_padding
from compiler.training import CLIPPING, configured_metrics, fused_logits, label_kind, metric_kind
from compiler.training_types import Configured

from ..program.constants import emit_docstring, emit_settings
from ..program.initial_weights import emit_initial_weights
from ..program.support import (
    SHARED_NAMES,
    emit_main_guard,
    emit_shared_support,
    program_source,
    section,
    template_names,
    template_section,
)
from ..spine import DTYPES, FIRST, LAST, Layouts, Namer
from .lowerings import OPS, Context, Lowered, activate
from .training import LOSSES, METRIC_PIECES, METRICS, OPTIMIZERS, SCHEDULE_PIECES

# What a submodule's attribute, a forward variable or the model's class must never be called: torch.nn.Module's
# own members, and every name the program defines or imports at module level.
# torch.nn.Module's public members in torch 2.13 (tests/test_pytorch_program.py holds this to torch itself): a
# submodule named `parameters` would hide the method the optimizer calls. Underscore names never reach here (the
# namer makes every name public). `finish` is the model's own.
MODULE_ATTRIBUTES = {
    *("T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile"),
    *("cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer"),
    *("get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia"),
    *("named_buffers", "named_children", "named_modules", "named_parameters", "parameters"),
    *("register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook"),
    *("register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook"),
    *("register_load_state_dict_pre_hook", "register_module", "register_parameter", "register_state_dict_post_hook"),
    *("register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule", "share_memory"),
    *("state_dict", "to", "to_empty", "train", "training", "type", "xpu", "zero_grad", "finish"),
}
PROGRAM_NAMES = (
    SHARED_NAMES
    | template_names("backends.pytorch", "template.py")
    | template_names("backends.pytorch", "runtime.py")
    | {"OPTIMIZER", "MODEL_CLASS", "OPTIMIZER_CLASS", "TO_CANONICAL", "FROM_CANONICAL"}
    | {"compute_loss", "compute_metrics", "regularization", "np", "torch", "F", "nn", "load", "load_file", "save_file"}
)
RESERVED = MODULE_ATTRIBUTES | PROGRAM_NAMES | {"self", "logits"}
TORCH_DTYPES = {dtype: "float32" if dtype == "f16" else name for dtype, name in DTYPES.items()}


class ForwardBuilder:
    """Walks the graph once, choosing layouts and collecting submodules, forward lines and weight mappings."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.names = Namer(RESERVED)
        self.layouts = Layouts(self.permute)
        self.modules: list[tuple[str, str, str]] = []  # attribute, constructor, comment
        self.lines: list[str] = []
        self.weights: list[tuple[str, str, str]] = []
        self.pieces: list[str] = []
        self.attrs: dict[str, str] = {}
        self.input_args = [self.names(v.name) for v in graph.inputs]
        for value, arg in zip(graph.inputs, self.input_args, strict=True):
            if value.dtype in ("f16", "f64"):  # Keras' layers cast float inputs to float32, the ONNX export too
                self.lines.append(f"{arg} = {arg}.float()  {comment(f'{value.dtype} input, computed in float32')}")
            self.layouts.define(value, arg, LAST)

    def permute(self, source: str, value: Value, layout: str, order: tuple[int, ...]) -> str:
        variable = self.names(f"{source}_{'nc' if layout == FIRST else 'nl'}")
        self.lines.append(f"{variable} = {source}.permute{literal(order)}")
        return variable

    def build(self, fused: str | None) -> None:
        last = self.graph.nodes[-1]
        for node in self.graph.nodes:
            lowering = OPS[node.op]
            layout, inputs = self.layouts.inputs(node, lowering.wants)
            attr = self.names(node.name)
            self.attrs[node.name] = attr
            lowered: Lowered = lowering.lower(Context(node, inputs, layout, attr))
            expr = lowered.expr
            if node is last and fused:  # training stops at the logits; `finish` applies the activation
                self.final_activation = activate(fused, "{x}", LAST)
                if node.op in ("Softmax", "Activation"):
                    expr = inputs[0]
            elif node.op not in ("Softmax", "Activation") and node.spec.output_activation(node.args):
                expr = activate(node.args["activation"], expr, lowered.layout)
            self.lines.append(
                f"{attr} = {expr}  {comment(f'{shown_path(Path(node.span.source.path).name)}:{node.span.line}')}"
            )
            self.layouts.define(node.output, attr, lowered.layout)
            if lowered.module:
                self.modules.append((attr, lowered.module, f"{node.name} ({node.op})"))
            for canonical, torch_name, transform in lowered.weights:
                self.weights.append((f"{node.name}.{canonical}", f"{attr}.{torch_name}", transform))
            self.pieces += [p for p in lowered.pieces if p not in self.pieces]
        self.output = self.layouts.fetch(self.graph.output, LAST)


def emit_loss(w: Writer, graph: Graph, fused: str | None) -> None:
    loss = graph.training.loss
    from_logits = fused is not None or loss.args.get("from_logits", False)
    # torch wants classes on dim 1; a sequence's are last, as in Keras
    classes_to_dim1 = ".movedim(-1, 1)" if len(graph.output.shape) > 1 else ""
    w.line()
    with w.block("def compute_loss(output, target):"):
        w.line(
            f'"""{loss.name} as Keras computes it{" from logits" if from_logits else ""}, averaged over the batch."""'
        )
        for line in LOSSES[loss.name](loss.args, from_logits, classes_to_dim1):
            w.line(line)


def emit_metrics(w: Writer, graph: Graph) -> list[str]:
    """`compute_metrics(output, target)`; returns the runtime pieces it calls."""
    labels = label_kind(graph.training.loss)
    units = graph.output.shape[-1]
    pieces: list[str] = []
    w.line()
    with w.block("def compute_metrics(output, target):"):
        w.line('"""The spec\'s metrics on one batch of outputs (probabilities, as inference gives them), each as')
        w.line("its (total, count): an epoch's value is the sum of the totals over the sum of the counts, as Keras'")
        w.line('metrics compute it."""')
        w.line("metrics = {}")
        for metric in configured_metrics(graph.training):
            kind = metric_kind(metric.name, units, labels)
            w.line(f"metrics[{literal(metric.args['name'])}] = {METRICS[kind](metric.args)}")
            pieces += METRIC_PIECES.get(kind, ())
        w.line("return metrics")
    return pieces


def emit_optimizer(w: Writer, optimizer: Configured, runtime: dict[str, str]) -> None:
    """OPTIMIZER, the optimizer's Keras arguments (clipping only where set); a learning-rate schedule is an
    instance of its class, copied in just before."""
    clipping = {spec.name for spec in CLIPPING}
    args = {key: value for key, value in optimizer.args.items() if key not in clipping or value is not None}
    written = {key: literal(value) for key, value in args.items() if not isinstance(value, Configured)}
    rate = args["learning_rate"]
    if isinstance(rate, Configured):
        for piece in SCHEDULE_PIECES[rate.name]:
            w.line()
            w.line()
            w.lines_of(runtime[piece])
        w.line()
        w.line()
        arguments = ", ".join(f"{key}={literal(value)}" for key, value in rate.args.items() if key != "name")
        written["learning_rate"] = f"{rate.name}({arguments})"
    w.line(f"# {optimizer.name}: Keras' arguments, and its update formula in {OPTIMIZERS[optimizer.name]} below")
    w.line("OPTIMIZER = {" + ", ".join(f"{literal(key)}: {written[key]}" for key in args) + "}")


def regularization_terms(graph: Graph, weights: list[tuple[str, str, str]]) -> list[str]:
    """The spec's L1/L2 penalties as torch expressions on `model`, in the order Keras adds them."""
    torch_names = {canonical: torch_name for canonical, torch_name, _ in weights}
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
    return terms


def emit_regularization(w: Writer, terms: list[str]) -> None:
    w.line()
    with w.block("def regularization(model):"):
        w.line('"""The spec\'s L1/L2 penalties, added to the loss as Keras adds them."""')
        w.line("return (")
        w.level += 1
        for index, term in enumerate(terms):
            w.line(("+ " if index else "") + term)
        w.level -= 1
        w.line(")")


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


RUNTIME_NEEDS = {
    "pad_same": ("same_padding",),
    "avg_pool_same": ("same_padding",),
    "KerasEmbedding": ("SparseRowsLookup",),
    "KerasBatchNorm": ("WorkerSum",),
    "precision_counts": ("positives",),
    "recall_counts": ("positives",),
    **{name: ("KerasOptimizer",) for name in OPTIMIZERS.values()},
}


# a weight's layout conversion -> (canonical to torch, torch to canonical), on a NumPy array `a`
LAYOUT_CONVERSIONS = {
    "same": ("a", "a"),
    "transpose": ("a.T", "a.T"),
    "conv1d": ("a.transpose(2, 1, 0)", "a.transpose(2, 1, 0)"),
    "conv2d": ("a.transpose(3, 2, 0, 1)", "a.transpose(2, 3, 1, 0)"),
    "depthwise1d": ("a.transpose(1, 2, 0)", "a.transpose(2, 0, 1)"),  # [k, in, m] <-> [in, m, k]
    "depthwise2d": ("a.transpose(2, 3, 0, 1)", "a.transpose(2, 3, 0, 1)"),  # [kh, kw, in, m] <-> [in, m, kh, kw]
}


def emit_layout_conversions(w: Writer, used: set[str]) -> None:
    for name, column in (("FROM_CANONICAL", 0), ("TO_CANONICAL", 1)):
        w.line(f"{name} = {{")
        for conversion in sorted(used):
            w.line(f"    {literal(conversion)}: lambda a: {LAYOUT_CONVERSIONS[conversion][column]},")
        w.line("}")


IMPORTS = (
    ("import numpy as np", "np"),
    ("import torch", "torch"),
    ("import torch.nn.functional as F", "F"),
    ("from safetensors.numpy import load, load_file, save_file", "save_file"),
    ("from torch import nn", "nn"),
)


def emit_program(graph: Graph) -> str:
    """A standalone PyTorch training program; needs torch, numpy, safetensors (scikit-learn for datasets).

    The model class and the training loop come first; support code (the canonical weight mapping, initial
    weights, Keras semantics in torch, data and progress) follows under its own headings, only what this
    model uses.
    """
    training = graph.training
    if training.loss is None or training.optimizer is None:
        raise DlError(f"model '{graph.name}' needs a loss and an optimizer to be trained", graph.span)
    fused = fused_logits(graph)
    builder = ForwardBuilder(graph)
    builder.build(fused)
    class_name = Namer(builder.names.taken | RESERVED)(graph.name)
    optimizer = training.optimizer
    runtime = _definitions("runtime.py") | {"same_padding": inspect.getsource(same_padding)}
    w = Writer()
    emit_settings(w, graph, TORCH_DTYPES)
    emit_optimizer(w, optimizer, runtime)
    emit_model(w, graph, builder, class_name, fused)
    w.line()
    w.line(f"MODEL_CLASS = {class_name}")
    emit_loss(w, graph, fused)
    metric_pieces = emit_metrics(w, graph)
    terms = regularization_terms(graph, builder.weights)
    if terms:
        emit_regularization(w, terms)
    section(w, "training")
    loop = template_section("backends.pytorch", "template.py", "training")
    w.lines_of(loop if terms else loop.replace(" + regularization(model)", ""))

    section(w, "support: canonical weights and initial weights")
    w.line()
    w.line("# canonical key, torch state_dict key, layout conversion, canonical shape, initializer")
    w.line("WEIGHTS = [")
    shapes = {f"{node.name}.{param.name}": (param.shape, param.initializer) for node, param in graph.params}
    for entry in builder.weights:
        w.line(f"    {literal((*entry, *shapes[entry[0]]))},")
    w.line("]")
    w.line()
    w.line()
    w.lines_of(template_section("backends.pytorch", "template.py", "canonical weights"))
    w.line()
    w.line()
    emit_layout_conversions(w, {transform for _, _, transform in builder.weights})
    w.line()
    w.line()
    emit_initial_weights(w, graph)
    section(w, "support: devices and workers")
    w.lines_of(template_section("backends.pytorch", "template.py", "workers"))
    section(w, "support: Keras semantics in PyTorch")
    for piece in _with_needs([*builder.pieces, *metric_pieces, OPTIMIZERS[optimizer.name]], RUNTIME_NEEDS):
        w.line()
        w.line()
        w.lines_of(runtime[piece])
    w.line()
    w.line()
    w.line(f"OPTIMIZER_CLASS = {OPTIMIZERS[optimizer.name]}")
    emit_shared_support(w)
    emit_main_guard(w)
    head = Writer()
    emit_docstring(head, graph, "PyTorch")
    return program_source(w, head, IMPORTS)


def emit_model(w: Writer, graph: Graph, builder: ForwardBuilder, class_name: str, fused: str | None) -> None:
    w.line()
    w.line()
    with w.block(f"class {class_name}(nn.Module):"):
        declared = shown_path(Path(graph.source.path).name)
        w.line(literal(f"{graph.name}, as declared in {declared}; inputs are channels-last."))
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
