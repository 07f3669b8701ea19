"""Elaboration: surface syntax to IR graphs (blocks inlined, repeats unrolled, labels scoped, shapes inferred)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import syntax as s
from .argkinds import Int, bind
from .errors import (
    DlArgumentError,
    DlError,
    DlErrors,
    DlNameError,
    DlShapeError,
    DlSyntaxError,
    Span,
    did_you_mean,
    every_error,
    unknown_name,
)
from .ir import Graph, Node, Value, show_shape
from .keras_names import LAYERS as KERAS_LAYERS
from .ops import ALIASES, FLOAT_DTYPES, INT_DTYPES, REGISTRY, OpSpec, ShapeProblem, TensorType, lookup
from .training import build_loss, build_metrics, build_optimizer, build_settings, build_training
from .values import CallValue, call_value, evaluate

DTYPES = FLOAT_DTYPES + INT_DTYPES
MAX_LAYERS = 200_000
# One tensor (a weight, or one sample's output) holds at most this many values (4 TiB of float32): far beyond any
# published model, and 200,000 layers of them still count in int64.
MAX_TENSOR_VALUES = 2**40
MAX_PASSES = 1_000_000  # repeat passes per model, empty ones included
BLOCK_INPUT = "in"
MAX_ERRORS = 50  # independent errors reported from one file before checking stops

# The stream after a statement that failed: the statements after it still check their names and arguments,
# but nothing is inferred from it, so one mistake is reported once, not again by every layer it reaches.
FAILED = Value("<failed>", TensorType("f32", ()))


class DlLimitError(DlArgumentError):
    """A size limit was passed: checking stops at once (going on could only repeat it, or take too long)."""


@dataclass
class Scope:
    """Labels visible to a run of statements; a repeat pass opens a child scope, a block use a fresh one."""

    parent: Scope | None = None
    labels: dict[str, Value] = field(default_factory=dict)

    def lookup(self, name: str) -> Value | None:
        scope: Scope | None = self
        while scope is not None:
            if name in scope.labels:
                return scope.labels[name]
            scope = scope.parent
        return None

    def visible(self) -> Iterator[str]:
        scope: Scope | None = self
        while scope is not None:
            yield from scope.labels
            scope = scope.parent


def _labels_in(stmts) -> Iterator[str]:
    for stmt in stmts:
        if isinstance(stmt, s.LayerStmt) and stmt.label:
            yield stmt.label
        elif isinstance(stmt, s.RepeatStmt):
            yield from _labels_in(stmt.body)


class ModelBuilder:
    """Builds one model's graph; holds layer naming state and the block call stack."""

    def __init__(self, model: s.ModelDecl, blocks: dict[str, s.BlockDecl], reserved: set[str]):
        self.model = model
        self.blocks = blocks
        self.reserved = reserved
        self.nodes: list[Node] = []
        self.taken: set[str] = set()
        self.counters: dict[str, int] = {}
        self.label_uses: dict[str, int] = {}
        self.block_stack: list[str] = []
        self.uses: list[str] = []  # for each block entered: "in block 'X', used at file:line:col"
        self.passes = 0
        self.errors: list[DlError] = []
        self.failed_at: set[tuple[int, int]] = set()

    def record(self, error: DlError) -> None:
        """Keep an error and go on checking; a block's statement that fails in every use is reported once."""
        if error.span is not None:
            where = (error.span.line, error.span.column)
            if where in self.failed_at:
                return
            self.failed_at.add(where)
        error.notes += reversed(self.uses)
        self.errors.append(error)
        if len(self.errors) >= MAX_ERRORS:
            raise DlErrors(self.errors) from None

    # naming
    def auto_name(self, spec: OpSpec) -> str:
        return self.next_name(spec.default_name)

    def next_name(self, base: str) -> str:
        index = self.counters.get(base, 0)
        while (name := base if index == 0 else f"{base}_{index}") in self.taken or name in self.reserved:
            index += 1
        self.counters[base] = index + 1
        return name

    def label_name(self, label: str, span: Span) -> str:
        uses = self.label_uses.get(label, 0)
        while (name := label if uses == 0 else f"{label}_{uses}") in self.taken:
            if uses == 0:
                raise DlNameError(f"label '{label}' is already the name of an input or layer", span)
            uses += 1
        self.label_uses[label] = uses + 1
        return name

    # statements
    def run(self, stmts, scope: Scope, env: dict[str, object], stream: Value) -> Value:
        for stmt in stmts:
            if isinstance(stmt, s.FromStmt):
                try:
                    stream = self.resolve(stmt.name, stmt.span, scope)
                except DlError as error:
                    self.record(error)
                    stream = FAILED
            elif isinstance(stmt, s.RepeatStmt):
                try:
                    count = Int(low=0, high=100_000).convert(evaluate(stmt.count, env), stmt.count.span, "repeat count")
                except DlLimitError:
                    raise
                except DlError as error:
                    self.record(error)
                    count = 1  # check the body once
                for _ in range(count):
                    self.passes += 1
                    if self.passes > MAX_PASSES:
                        raise DlLimitError(f"the repeats expand to more than {MAX_PASSES:,} passes", stmt.span)
                    stream = self.run(stmt.body, Scope(scope), env, stream)
            else:
                try:
                    stream = self.layer(stmt, scope, env, stream)
                except DlLimitError:
                    raise
                except DlErrors:
                    raise
                except DlError as error:
                    self.record(error)
                    stream = FAILED
                    if stmt.label is not None and stmt.label != BLOCK_INPUT:
                        scope.labels.setdefault(stmt.label, FAILED)
        return stream

    def resolve(self, name: str, span: Span, scope: Scope) -> Value:
        value = scope.lookup(name)
        if value is None:
            visible = list(scope.visible())
            hint = did_you_mean(name, visible) or (
                f"labels here: {', '.join(visible)}" if visible else "label a layer first: `skip: Dense(8)`"
            )
            raise DlNameError(f"unknown label '{name}'", span, hint)
        return value

    def layer(self, stmt: s.LayerStmt, scope: Scope, env: dict[str, object], stream: Value) -> Value:
        call = stmt.call
        if call.callee in self.blocks:
            output = self.use_block(call, env, stream)
        elif (spec := lookup(call.callee)) is not None:  # the op's name or Keras' class name (MaxPooling2D)
            output = self.apply_op(spec, call, stmt, scope, env, stream)
        else:
            known = [*REGISTRY, *ALIASES, *self.blocks]
            raise unknown_name("layer", call.callee, call.callee_span, known, KERAS_LAYERS)
        if stmt.label is not None:
            if stmt.label == BLOCK_INPUT:
                raise DlNameError(f"'{BLOCK_INPUT}' is the block input and cannot be a label", stmt.label_span)
            if stmt.label in scope.labels:
                raise DlNameError(f"label '{stmt.label}' is defined twice here", stmt.label_span)
            scope.labels[stmt.label] = output
        return output

    def apply_op(self, spec, call, stmt, scope, env, stream) -> Value:
        if len(self.nodes) >= MAX_LAYERS:
            raise DlLimitError(f"the model has more than {MAX_LAYERS} layers", call.span)
        inputs = [stream]
        if spec.is_merge:
            call, inputs = self.merge_inputs(spec, call, scope, stream)
        elif spec.label_args:
            call, inputs = self.labelled_inputs(spec, call, scope, stream)
        value = call_value(call, env)
        args = bind(spec.args, value, spec.name, KERAS_LAYERS.get(spec.keras_class, ()))
        if any(value is FAILED for value in inputs):
            return FAILED  # its arguments are checked; its shapes cannot be
        name = self.label_name(stmt.label, stmt.label_span) if stmt.label else self.auto_name(spec)
        for inner in spec.inner_layers:  # Keras names the layers it makes inside this one next (a MultiHeadAttention's)
            self.next_name(inner)
        types = [i.type for i in inputs]
        try:
            out_type = spec.infer(types, args)
            params = tuple(spec.params(types, args))
        except ShapeProblem as problem:
            shapes = " and ".join(show_shape(i.shape) for i in inputs)
            word = "shapes" if len(inputs) > 1 else "shape"
            message = f"layer '{name}' ({spec.name}) {problem}; its input {word}: {shapes}"
            raise DlShapeError(message, call.span, self.shape_hint(spec, inputs)) from None
        largest = max((p.size for p in params), default=0)
        largest = max(largest, math.prod(d or 1 for d in out_type.shape))
        if largest > MAX_TENSOR_VALUES:
            raise DlShapeError(
                f"layer '{name}' ({spec.name}) makes a tensor of {largest:,} values, beyond the limit of 2**40",
                call.span,
                "no machine holds it: make the layer smaller",
            )
        self.taken.add(name)
        output = Value(name, out_type)
        self.nodes.append(Node(name, spec.name, tuple(inputs), output, args, params, call.span))
        return output

    @staticmethod
    def shape_hint(spec: OpSpec, inputs: list[Value]) -> str | None:
        rank = len(inputs[0].shape)
        if spec.family == "recurrent" and rank > 2:
            return "reshape to [timesteps, features] first, e.g. Reshape((8, 8))"
        if spec.name == "Dense" and inputs[0].shape and inputs[0].shape[-1] is None:
            return "add a recurrent or global pooling layer first"
        if spec.family == "conv" and rank < 3 and spec.name == "Conv2D":
            return "Conv2D needs [height, width, channels]; use Conv1D on sequences"
        return None

    def merge_inputs(self, spec, call, scope, stream) -> tuple[s.Call, list[Value]]:
        listed: list[Value] = []
        for arg in call.args:
            if arg.name is None:
                if not isinstance(arg.value, s.Name):
                    raise DlArgumentError(
                        f"{spec.name} takes labels to merge, got {type(arg.value).__name__.lower()}",
                        arg.span,
                        f"write {spec.name}(skip) to merge the current stream with `skip`",
                    )
                listed.append(self.resolve(arg.value.id, arg.value.span, scope))
        inputs = listed if any(v is stream for v in listed) else [stream, *listed]
        low, high = spec.arity
        if len(inputs) < low or (high is not None and len(inputs) > high):
            wanted = f"exactly {low}" if low == high else f"at least {low}"
            raise DlArgumentError(
                f"{spec.name} needs {wanted} inputs, got {len(inputs)} (the current stream and the labels listed)",
                call.span,
                f"name the other input: {spec.name}(skip)" if len(inputs) < low else None,
            )
        options = tuple(a for a in call.args if a.name is not None)
        return s.Call(call.callee, options, call.span, call.callee_span), inputs

    def labelled_inputs(self, spec, call, scope, stream) -> tuple[s.Call, list[Value]]:
        """The stream, then one input per label argument (`value=enc`): an absent one is the input before it,
        as Keras' key defaults to its value and a self-attention's value to its query."""
        named = {}
        for arg in call.args:
            if arg.name in spec.label_args:
                if not isinstance(arg.value, s.Name):
                    raise DlArgumentError(
                        f"{spec.name}'s {arg.name}= takes a label, got {type(arg.value).__name__.lower()}",
                        arg.span,
                        f"label the layer to read and write {arg.name}=that_label",
                    )
                if arg.name in named:
                    raise DlArgumentError(f"{spec.name} got {arg.name}= twice", arg.span)
                named[arg.name] = self.resolve(arg.value.id, arg.value.span, scope)
        inputs = [stream]
        for name in spec.label_args:
            inputs.append(named.get(name, inputs[-1]))
        options = tuple(a for a in call.args if a.name not in spec.label_args)
        return s.Call(call.callee, options, call.span, call.callee_span), inputs

    def use_block(self, call: s.Call, env: dict[str, object], stream: Value) -> Value:
        block = self.blocks[call.callee]
        if block.name in self.block_stack:
            chain = " -> ".join([*self.block_stack, block.name])
            raise DlNameError(f"block '{block.name}' uses itself ({chain})", call.callee_span)
        bound = self.bind_block(block, call_value(call, env))
        self.block_stack.append(block.name)
        self.uses.append(f"in block '{block.name}', used at {call.span.location}")
        try:
            return self.run(block.body, Scope(labels={BLOCK_INPUT: stream}), bound, stream)
        finally:
            self.block_stack.pop()
            self.uses.pop()

    @staticmethod
    def bind_block(block: s.BlockDecl, value: CallValue) -> dict[str, object]:
        names = [p.name for p in block.params]
        given: dict[str, object] = {}
        if len(value.positional) > len(names):
            extra = value.positional[len(names)]
            raise DlArgumentError(f"block {block.name} takes {len(names)} argument(s) ({', '.join(names)})", extra.span)
        for name, located in zip(names, value.positional, strict=False):
            given[name] = located.value
        for name, located, name_span in value.keyword:
            if name not in names:
                raise DlNameError(f"block {block.name} has no parameter '{name}'", name_span, did_you_mean(name, names))
            if name in given:
                raise DlArgumentError(f"block {block.name} got parameter '{name}' twice", name_span)
            given[name] = located.value
        env: dict[str, object] = {}
        for param in block.params:
            if param.name in given:
                env[param.name] = given[param.name]
            elif param.default is not None:
                env[param.name] = evaluate(param.default, env)
            else:
                raise DlArgumentError(f"block {block.name} needs parameter '{param.name}'", value.span)
        return env

    # the model
    def check_every_layer_reaches(self, output: Value) -> None:
        """A layer whose output reaches no model output is an error, as an unused input is: Keras would leave
        it out of the model (and out of its parameter count), so the spec would not say what runs."""
        producers = {node.output.name: node for node in self.nodes}
        reaching, pending = set(), [output.name]
        while pending:
            name = pending.pop()
            if name in producers and name not in reaching:
                reaching.add(name)
                pending += [value.name for value in producers[name].inputs]
        read = {value.name for node in self.nodes for value in node.inputs}
        for node in self.nodes:
            if node.output.name not in reaching and node.output.name not in read:
                raise DlNameError(
                    f"layer '{node.name}' ({node.op}): its output reaches no model output",
                    node.span,
                    f"use it (`from {node.name}`, or list it in a merge), or remove it",
                )

    def check_training_sections(self, sections: dict[str, s.Section]) -> None:
        """Each training section on its own, so that a wrong loss and a wrong optimizer are both reported."""
        metrics = ()
        for kind, build in (("loss", build_loss), ("optimizer", build_optimizer), ("metrics", build_metrics)):
            if kind in sections:
                try:
                    built = build(sections[kind])
                    metrics = built if kind == "metrics" else metrics
                except DlError as error:
                    self.record(error)
        try:
            build_settings(sections.get("train"), metrics)
        except DlError as error:
            self.record(error)

    def inputs(self) -> list[Value]:
        values = []
        for decl in self.model.inputs:
            if decl.dtype not in DTYPES:
                hint = did_you_mean(decl.dtype, DTYPES) or f"use one of {', '.join(DTYPES)}"
                raise DlNameError(f"unknown dtype '{decl.dtype}'", decl.dtype_span, hint)
            if decl.name in self.taken:
                raise DlNameError(f"input '{decl.name}' is declared twice", decl.span)
            if 0 in decl.dims:
                raise DlShapeError(
                    f"input '{decl.name}' has a zero dimension", decl.span, "dimensions are positive or ?"
                )
            if math.prod(d or 1 for d in decl.dims) > MAX_TENSOR_VALUES:
                raise DlShapeError(f"input '{decl.name}' holds more than 2**40 values per sample", decl.span)
            self.taken.add(decl.name)
            values.append(Value(decl.name, TensorType(decl.dtype, decl.dims)))
        return values

    def build(self) -> Graph:
        model = self.model
        if not model.inputs:
            raise DlNameError(f"model '{model.name}' has no input", model.name_span, "declare one: input x: f32[4]")
        sections = single_sections(model)
        if "layers" not in sections:
            raise DlNameError(f"model '{model.name}' has no layers section", model.name_span, "add layers { ... }")
        inputs = self.inputs()
        scope = Scope(labels={v.name: v for v in inputs})
        output = self.run(sections["layers"].body, scope, {}, inputs[0])
        if self.errors:
            self.check_training_sections(sections)
            raise DlErrors(self.errors)
        if not self.nodes:
            raise DlNameError(f"model '{model.name}' has no layers", sections["layers"].span)
        used = {v.name for node in self.nodes for v in node.inputs}
        for decl, value in zip(model.inputs, inputs, strict=True):
            if value.name not in used:
                raise DlNameError(f"input '{decl.name}' is never used", decl.span, f"read it with `from {decl.name}`")
        self.check_every_layer_reaches(output)
        try:
            training = build_training(tuple(inputs), output, sections)
        except DlError:
            self.check_training_sections(sections)
            if self.errors:
                raise DlErrors(self.errors) from None
            raise  # the sections are each valid: the error is in how they fit the model
        return Graph(model.name, model.span.source, tuple(inputs), tuple(self.nodes), output, training, model.span)


def single_sections(model: s.ModelDecl) -> dict[str, s.Section]:
    found: dict[str, s.Section] = {}
    for section in model.sections:
        if section.kind in found:
            raise DlSyntaxError(f"model '{model.name}' has a second '{section.kind}' section", section.span)
        found[section.kind] = section
    return found


def module_blocks(module: s.Module) -> dict[str, s.BlockDecl]:
    blocks: dict[str, s.BlockDecl] = {}
    for block in module.blocks:
        if lookup(block.name) is not None:
            raise DlNameError(f"block '{block.name}' has the name of a built-in layer", block.name_span)
        if block.name in blocks:
            raise DlNameError(f"block '{block.name}' is declared twice", block.name_span)
        seen = set()
        for param in block.params:
            if param.name in seen or param.name == BLOCK_INPUT:
                raise DlNameError(f"block parameter '{param.name}' is declared twice or reserved", param.span)
            seen.add(param.name)
        blocks[block.name] = block
    return blocks


def elaborate(module: s.Module) -> list[Graph]:
    """Every model in a parsed file, as IR graphs. Every independent error is found before one is raised: each
    model is checked, and within a model the statements after a failed one (a DlErrors of them all)."""
    blocks = module_blocks(module)
    reserved = set(_labels_in(stmt for b in module.blocks for stmt in b.body))
    graphs, names, errors = [], set(), []
    for model in module.models:
        try:
            if model.name in names:
                raise DlNameError(f"model '{model.name}' is declared twice", model.name_span)
            names.add(model.name)
            layers = [sec for sec in model.sections if sec.kind == "layers"]
            model_labels = set(_labels_in(stmt for sec in layers for stmt in sec.body))
            graphs.append(ModelBuilder(model, blocks, reserved | model_labels).build())
        except DlLimitError:
            raise
        except DlError as error:
            errors += every_error(error)
    if errors:
        raise errors[0] if len(errors) == 1 else DlErrors(errors[:MAX_ERRORS])
    return graphs


__all__ = ["elaborate", "DlError"]
