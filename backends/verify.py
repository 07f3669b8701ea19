"""`dlc verify`: the equivalence contract of LANGUAGE.md, checked on one model, and where it breaks.

The generated PyTorch program is the reference. From the same canonical weights and the same random batch,
the generated Keras program and the exported ONNX model must give the same outputs, and Keras the same loss,
within `1e-5 + 1e-5 * |value|`; after K optimizer steps on the same batches (dropout off), PyTorch and Keras
must hold the same weights within 1e-4. Every number comes from the code users run: the programs
`dlc compile` writes and the graph `dlc export` writes.

Where it breaks: every weight outside its bound is named, and with `layers=True` every layer's output
(inference, channels-last) is compared as the model's output is, naming the first layer outside the contract.
Some weights have a true gradient of exactly zero (`zero_gradient_weights`): Adam-type optimizers turn the
frameworks' rounding noise in it into learning-rate-sized steps, so their values drift apart while the models
they make do not. They are found from the graph, reported apart with why, and judged by their effect on the
outputs after the steps. NaN and infinite values are named as such, never hidden in a number.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.ir import Graph, Node, Value
from compiler.lints import BIASED, biases_a_batch_normalization_cancels

from .program.loader import import_program
from .samples import random_inputs, random_targets, sample_length
from .spine import FIRST, LAST, permutation

ABSOLUTE, RELATIVE = 1e-5, 1e-5  # outputs and loss: |ours - pytorch| <= ABSOLUTE + RELATIVE * |pytorch|
TRAINED_WEIGHTS = 1e-4  # every weight after the optimizer steps
BATCH = 4
LENGTH = 5  # the size of every `?` dimension in the random inputs, where the model takes it (samples.sample_length)
OUTPUT_BOUND = f"{ABSOLUTE:g} + {RELATIVE:g}*|x|"
FRAMEWORKS = {"pytorch": "PyTorch", "keras": "Keras", "onnx": "ONNX Runtime"}
WHOSE = {"pytorch": "PyTorch's", "keras": "Keras'", "onnx": "ONNX Runtime's"}
COMPARED = ("keras", "onnx")  # what each layer's output is compared on, against PyTorch
NOUNS = {"outputs": "outputs", "loss": "loss", "train": "trained weights"}
# Layers that pass a constant added to their input on as a constant at every position (no activation; a
# convolution without padding): a bias before them that reaches only an attention key is still ignored by softmax
POSITIONWISE = ("Dense", "Identity")
UNPADDED = ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D")


@dataclass(frozen=True)
class Difference:
    """One compared quantity: the largest |difference| from PyTorch, and whether it is within the bound."""

    quantity: str  # "outputs", "loss", "train", "effect" (of the zero-gradient weights) or "layer"
    backend: str  # "keras" or "onnx"
    largest: float | None  # None when no number says it (NaN or infinite values, other shapes): `reason` does
    within: bool
    reason: str = ""


@dataclass(frozen=True)
class WeightGap:
    """One weight after the optimizer steps: its largest |difference| from PyTorch's, against `bound`."""

    weight: str
    largest: float | None  # None when either side holds NaN or infinite values: `reason` says which
    reason: str = ""
    bound: float = TRAINED_WEIGHTS

    @property
    def within(self) -> bool:
        return self.largest is not None and self.largest <= self.bound


@dataclass(frozen=True)
class ZeroGradient:
    """A weight whose true gradient is exactly zero, why, and (after the steps) how far apart its values went."""

    weight: str
    why: str
    gap: WeightGap | None = None


@dataclass(frozen=True)
class LayerComparison:
    """One layer's output (inference, channels-last) in each backend against PyTorch's."""

    layer: str
    op: str
    differences: tuple[Difference, ...]


@dataclass
class Report:
    model: str
    weights: str  # where the weights came from, for the heading
    steps: int
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    length: int | None = None  # how long the `?` dimensions were; None without any
    weights_outside: list[WeightGap] = field(default_factory=list)  # every weight judged by 1e-4 and outside it
    zero_gradient: list[ZeroGradient] = field(default_factory=list)  # judged by their effect instead
    effect: Difference | None = None  # theirs on the outputs: PyTorch's model with Keras' values of them
    layers: list[LayerComparison] | None = None  # with `layers=True`

    def judged(self) -> list[Difference]:
        """Every difference the verdict rests on."""
        found = [*self.differences, *([self.effect] if self.effect is not None else [])]
        return found + [d for row in self.layers or () for d in row.differences]

    @property
    def ok(self) -> bool:
        return all(d.within for d in self.judged())

    def first_layer_outside(self, backend: str) -> LayerComparison | None:
        rows = self.layers or ()
        return next((row for row in rows if any(d.backend == backend and not d.within for d in row.differences)), None)

    def as_json(self) -> str:
        """The original keys always; the others only when they have something to say (README, `dlc verify`)."""
        document: dict = {"model": self.model, "outputs": {}, "loss": {}, "train": {}}
        for d in self.differences:
            document[d.quantity][d.backend] = d.largest
        document["ok"] = self.ok
        if self.weights_outside:
            document["weights_outside"] = [
                {"weight": gap.weight, "max_abs_diff": gap.largest, "bound": gap.bound} | _reason(gap.reason)
                for gap in self.weights_outside
            ]
        if self.zero_gradient:
            effect = self.effect
            document["zero_gradient"] = {
                "weights": [
                    {"weight": z.weight, "max_abs_diff": z.gap.largest if z.gap else None, "why": z.why}
                    | _reason(z.gap.reason if z.gap else "")
                    for z in self.zero_gradient
                ],
                "effect_on_outputs": None if effect is None else effect.largest,
                "bound": OUTPUT_BOUND,
                "within": effect is not None and effect.within,
            }
        if self.layers is not None:
            document["layers"] = [
                {"layer": row.layer, "op": row.op} | {d.backend: d.largest for d in row.differences}
                for row in self.layers
            ]
            document["first_layer_outside"] = {
                backend: row.layer if (row := self.first_layer_outside(backend)) else None for backend in COMPARED
            }
        problems = [
            {"quantity": d.quantity, "backend": d.backend, "reason": d.reason} for d in self.judged() if d.reason
        ]
        if problems:
            document["problems"] = problems
        return json.dumps(document, indent=2, allow_nan=False)

    def table(self) -> str:
        bounds = {"outputs": OUTPUT_BOUND, "train": f"{TRAINED_WEIGHTS:g}"}
        unknown = f", `?` dimensions {self.length} long" if self.length else ""
        heading = f"{self.model}: {self.weights}, {BATCH} random rows{unknown}" + (
            f", {self.steps} optimizer steps on {BATCH}-row batches" if self.steps else ""
        )
        lines = [heading, f"  {'compared':<40} {'max |diff| vs PyTorch':>21}   {'bound':<17} verdict"]

        def row(what: str, d: Difference) -> None:
            figure = f"{d.largest:>21.3e}" if d.largest is not None else f"{'none':>21}"
            bound = bounds.get(d.quantity, bounds["outputs"])
            lines.append(f"  {what + f' ({d.backend})':<40} {figure}   {bound:<17} {'ok' if d.within else 'BROKEN'}")
            if d.reason:
                lines.append(f"    {d.reason}")

        for d in self.differences:
            row(f"weights after {self.steps} steps" if d.quantity == "train" else d.quantity, d)
        if self.effect is not None:
            row("zero-gradient weights' effect", self.effect)
        lines += [f"  {note}" for note in self.notes]
        if self.weights_outside:
            lines.append(
                f"  weights outside {TRAINED_WEIGHTS:g} after {self.steps} steps, max |diff| Keras vs PyTorch:"
            )
            width = max(len(gap.weight) for gap in self.weights_outside)
            lines += [f"    {gap.weight:<{width}}  {_figure(gap)}" for gap in self.weights_outside]
        if self.zero_gradient:
            lines.append(
                "  weights whose true gradient is zero, judged by their effect above (PyTorch's model with Keras' "
                "values of them), not by their max |diff|:"
            )
            width = max(len(z.weight) for z in self.zero_gradient)
            for z in self.zero_gradient:
                lines.append(f"    {z.weight:<{width}}  {_figure(z.gap) if z.gap else '':<9}  {z.why}")
        if self.layers is not None:
            lines += self._layer_lines()
        verdict = "within the equivalence contract" if self.ok else "the equivalence contract is BROKEN"
        lines.append(f"{self.model}: {verdict}")
        return "\n".join(lines)

    def _layer_lines(self) -> list[str]:
        names = [f"{row.layer} ({row.op})" for row in self.layers or ()]
        width = max(map(len, ["layer", *names]))
        lines = [
            f"  each layer's output (inference, channels-last), max |diff| vs PyTorch, bound {OUTPUT_BOUND}"
            " ('!' outside):",
            f"    {'layer':<{width}} " + " ".join(f"{backend:>12}" for backend in COMPARED),
        ]
        for name, row in zip(names, self.layers or (), strict=True):
            cells = []
            for d in row.differences:
                figure = f"{d.largest:.3e}" if d.largest is not None else "none"
                cells.append(f"{figure + ('' if d.within else '!'):>12}")
            lines.append(f"    {name:<{width}} " + " ".join(cells))
            lines += [f"      {d.reason}" for d in row.differences if d.reason]
        for backend in COMPARED:
            first = self.first_layer_outside(backend)
            where = f"'{first.layer}' ({first.op})" if first else "none"
            lines.append(f"  first layer outside the contract in {FRAMEWORKS[backend]}: {where}")
        return lines


def _reason(reason: str) -> dict[str, str]:
    return {"reason": reason} if reason else {}


def _figure(gap: WeightGap) -> str:
    return f"{gap.largest:.3e}" if gap.largest is not None else gap.reason


def non_finite(whose: str, noun: str, values: np.ndarray) -> str:
    """'' when every value is finite; else what is not, in words: "PyTorch's outputs hold NaN"."""
    nan, infinite = bool(np.isnan(values).any()), bool(np.isinf(values).any())
    if not (nan or infinite):
        return ""
    if values.ndim == 0:
        return f"{whose} {noun} is {'NaN' if nan else 'infinite'}"
    kinds = [kind for kind, found in (("NaN", nan), ("infinite values", infinite)) if found]
    return f"{whose} {noun} hold {' and '.join(kinds)}"


def compare(quantity: str, backend: str, ours: np.ndarray, reference: np.ndarray) -> Difference:
    """`ours` (Keras' or ONNX Runtime's outputs or loss) against PyTorch's."""
    return compare_values(quantity, backend, ours, reference, NOUNS.get(quantity, quantity))


def compare_values(
    quantity: str,
    backend: str,
    ours: np.ndarray,
    reference: np.ndarray,
    noun: str,
    whose: tuple[str, str] | None = None,
) -> Difference:
    """`ours` against `reference` under the outputs' bound; `whose` the two owners, in words (default: the
    backend's and PyTorch's), for the reason when values are not finite or not of one shape."""
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    ours_whose, reference_whose = whose or (WHOSE[backend], WHOSE["pytorch"])
    reasons = [non_finite(reference_whose, noun, reference), non_finite(ours_whose, noun, ours)]
    if any(reasons):
        return Difference(quantity, backend, None, False, "; ".join(r for r in reasons if r))
    if ours.shape != reference.shape:
        shapes = f"{ours_whose} {noun} have shape {list(ours.shape)}, {reference_whose} {list(reference.shape)}"
        return Difference(quantity, backend, None, False, shapes)
    gap = np.abs(ours - reference)
    within = bool(np.all(gap <= ABSOLUTE + RELATIVE * np.abs(reference)))
    return Difference(quantity, backend, float(gap.max(initial=0.0)), within)


def weight_gaps(
    backend: str, ours: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]
) -> dict[str, WeightGap]:
    """Each of PyTorch's trained weights against `ours`, by name."""
    gaps = {}
    for key, value in reference.items():
        mine, theirs = np.asarray(ours[key], np.float64), np.asarray(value, np.float64)
        reasons = [non_finite(WHOSE["pytorch"], "values", theirs), non_finite(WHOSE[backend], "values", mine)]
        if any(reasons):
            gaps[key] = WeightGap(key, None, "; ".join(r for r in reasons if r))
        elif mine.shape != theirs.shape:
            gaps[key] = WeightGap(key, None, f"shape {list(mine.shape)} against PyTorch's {list(theirs.shape)}")
        else:
            gaps[key] = WeightGap(key, float(np.abs(mine - theirs).max(initial=0.0)))
    return gaps


def summarize_weights(backend: str, gaps: list[WeightGap]) -> Difference:
    """The "train" difference: the largest over `gaps`, within when every one is."""
    broken = next((gap for gap in gaps if gap.largest is None), None)
    if broken is not None:
        return Difference("train", backend, None, False, f"{broken.weight}: {broken.reason}")
    largest = max((gap.largest for gap in gaps), default=0.0)
    return Difference("train", backend, largest, all(gap.within for gap in gaps))


def compare_weights(
    backend: str,
    ours: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    apart: frozenset[str] = frozenset(),
) -> Difference:
    """Every weight but those `apart` against 1e-4."""
    gaps = weight_gaps(backend, ours, reference)
    return summarize_weights(backend, [gap for key, gap in gaps.items() if key not in apart])


def zero_gradient_weights(graph: Graph) -> list[ZeroGradient]:
    """The trainable weights whose true gradient is exactly zero, found from the graph, each with why:

    - a bias that the BatchNormalization reading its layer cancels (compiler/lints.py's rule, which `dlc check`
      warns about): it subtracts the batch mean, and the bias with it;
    - MultiHeadAttention's key bias: it adds `q . b` to every score of query `q`, the same for every key, which
      softmax ignores;
    - a bias that reaches attention keys only, through layers that keep a constant shift constant at every
      position (a Dense, or a convolution without padding, with no activation): the same argument.
    """
    found: dict[str, str] = {}
    for layer, norm in biases_a_batch_normalization_cancels(graph):
        found[f"{layer.name}.bias"] = (
            f"the BatchNormalization '{norm.name}' that follows subtracts the batch mean, and the bias with it"
        )
    for node in graph.nodes:
        if node.op == "MultiHeadAttention" and node.args["use_bias"]:
            found[f"{node.name}.key.bias"] = (
                "softmax ignores a constant added to a query's scores: the key bias adds q.b to all of them"
            )
    readers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for value in dict.fromkeys(node.inputs):
            readers.setdefault(value.name, []).append(node)
    for node in graph.nodes:
        if node.op in BIASED and node.args.get("use_bias") and not node.spec.output_activation(node.args):
            attention = _keys_only(graph, node.output, readers)
            if attention:
                names = ", ".join(f"'{name}'" for name in dict.fromkeys(attention))
                found.setdefault(
                    f"{node.name}.bias",
                    f"it reaches only the key of MultiHeadAttention {names}, through affine layers: the same shift "
                    "at every key position, which softmax ignores",
                )
    trainable = {f"{node.name}.{param.name}" for node, param in graph.params if param.trainable}
    return [ZeroGradient(weight, why) for weight, why in found.items() if weight in trainable]


def _keys_only(graph: Graph, value: Value, readers: Mapping[str, list[Node]]) -> list[str] | None:
    """The attention layers whose key `value` is, when it reaches nothing else (through position-wise affine
    layers); None otherwise."""
    if value.name == graph.output.name or not readers.get(value.name):
        return None
    found: list[str] = []
    for reader in readers[value.name]:
        if reader.op == "MultiHeadAttention" and reader.inputs[2] == value and value not in reader.inputs[:2]:
            found.append(reader.name)
            continue
        carries = reader.op in POSITIONWISE or (reader.op in UNPADDED and reader.args.get("padding") == "valid")
        further = _keys_only(graph, reader.output, readers) if carries else None
        if not carries or reader.spec.output_activation(reader.args) or further is None:
            return None
        found += further
    return found


def verify(
    graph: Graph, weights: Mapping[str, np.ndarray], weights_note: str, steps: int = 0, layers: bool = False
) -> Report:
    """Compare Keras and ONNX Runtime with PyTorch on `graph` from canonical `weights` (see the module doc);
    `layers`: every layer's output too."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no start-up chatter
    length = sample_length(graph, LENGTH)
    rng = np.random.default_rng(0)
    inputs = random_inputs(graph, BATCH, length, rng)
    target = random_targets(graph, BATCH, length, rng)
    batches = [
        (random_inputs(graph, BATCH, length, rng), random_targets(graph, BATCH, length, rng)) for _ in range(steps)
    ]
    unknown = any(d is None for value in graph.inputs for d in value.shape)
    report = Report(graph.name, weights_note, steps, length=length if unknown else None)
    if unknown and length != LENGTH:
        report.notes.append(f"`?` dimensions {length} long: the model's layers do not take {LENGTH}")
    unusable = [key for key, value in weights.items() if not np.isfinite(np.asarray(value, np.float64)).all()]
    if unusable:
        report.notes.append(f"the weights given hold NaN or infinite values: {', '.join(unusable)}")

    torch_side = PyTorchSide(import_program(graph, "pytorch"), weights)
    keras_side = KerasSide(import_program(graph, "keras"), weights)
    expected = torch_side.outputs(inputs)
    report.differences.append(compare("outputs", "keras", keras_side.outputs(inputs), expected))
    report.differences.append(compare("outputs", "onnx", onnx_outputs(graph, weights, inputs), expected))
    report.differences.append(
        compare("loss", "keras", keras_side.loss(inputs, target), torch_side.loss(inputs, target))
    )
    if layers:
        reference = torch_side.layer_outputs(graph, inputs)
        others = {"keras": keras_side.layer_outputs(graph, inputs), "onnx": onnx_layer_outputs(graph, weights, inputs)}
        report.layers = compare_layers(graph, reference, others)
    if steps and not any(param.trainable for _, param in graph.params):
        report.steps = 0
        report.notes.append(f"no optimizer steps: {graph.name} has no trainable weights")
    if report.steps:
        trained = torch_side.train(batches)
        ours = keras_side.train(batches)
        judge_trained(report, graph, torch_side.program, inputs, ours, trained)
    return report


def judge_trained(report: Report, graph: Graph, program, inputs, ours: Mapping, trained: Mapping) -> None:
    """Keras' trained weights (`ours`) against PyTorch's: those with a true gradient of zero by their effect on
    the outputs, every other one against 1e-4."""
    gaps = weight_gaps("keras", ours, trained)
    zero = zero_gradient_weights(graph)
    apart = {z.weight for z in zero}
    judged = [gap for key, gap in gaps.items() if key not in apart]
    report.differences.append(summarize_weights("keras", judged))
    report.weights_outside = [gap for gap in judged if not gap.within]
    if not zero:
        return
    report.zero_gradient = [ZeroGradient(z.weight, z.why, gaps[z.weight]) for z in zero]
    swapped = {**trained, **{key: ours[key] for key in apart}}
    report.effect = compare_values(
        "effect",
        "keras",
        PyTorchSide(program, swapped).outputs(inputs),
        PyTorchSide(program, trained).outputs(inputs),
        "outputs after the steps",
        ("PyTorch's (with Keras' values of the zero-gradient weights)", "PyTorch's"),
    )


def compare_layers(
    graph: Graph, reference: Mapping[str, np.ndarray], others: Mapping[str, Mapping[str, np.ndarray]]
) -> list[LayerComparison]:
    """Each layer's output in each backend of `others` against PyTorch's (`reference`), in graph order."""
    rows = []
    for node in graph.nodes:
        noun = f"outputs of layer '{node.name}'"
        differences = tuple(
            compare_values("layer", backend, values[node.name], reference[node.name], noun)
            for backend, values in others.items()
        )
        rows.append(LayerComparison(node.name, node.op, differences))
    return rows


class PyTorchSide:
    """The generated PyTorch program's model, loss and optimizer, driven as its training loop drives them."""

    def __init__(self, program, weights: Mapping[str, np.ndarray]):
        import torch

        self.torch, self.program = torch, program
        self.model = program.MODEL_CLASS()
        program.load_canonical(self.model, weights)
        for module in self.model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0  # the contract compares training without dropout's randomness

    def outputs(self, inputs: list[np.ndarray]) -> np.ndarray:
        self.model.eval()
        with self.torch.inference_mode():
            return self.model(*(self.torch.from_numpy(x) for x in inputs)).numpy()

    def layer_outputs(self, graph: Graph, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Each layer's output in inference, channels-last: the generated forward's own variables (one per layer),
        read as it returns. The generator's walk, run again, says which variable holds each layer and in which
        layout; the last layer's activation, which the forward leaves to `finish` when training fuses it into the
        loss, is applied as the forward applies it."""
        from compiler.training import fused_logits

        from .pytorch.emit import ForwardBuilder

        fused = fused_logits(graph)
        builder = ForwardBuilder(graph)
        builder.build(fused)
        self.model.eval()
        with self.torch.inference_mode():
            variables = forward_variables(self.model, [self.torch.from_numpy(x) for x in inputs])
            values = {}
            for node in graph.nodes:
                value = variables[builder.attrs[node.name]]
                if builder.layouts.produced[node.output.name] == FIRST:
                    value = value.permute(permutation(value.dim(), LAST))
                if fused and node is graph.nodes[-1]:
                    value = self.model.finish(value)
                values[node.name] = value.numpy()
        return values

    def loss(self, inputs: list[np.ndarray], target: np.ndarray) -> float:
        return self.program.evaluate(self.model, inputs, target, BATCH, self.program.Workers())["loss"]

    def train(self, batches) -> dict[str, np.ndarray]:
        program, torch = self.program, self.torch
        optimizer = program.OPTIMIZER_CLASS(self.model.parameters(), **program.OPTIMIZER)
        alone = program.Workers()
        self.model.train()
        for inputs, target in batches:
            inputs, target = [torch.from_numpy(x) for x in inputs], torch.from_numpy(target)
            program.train_step(self.model, self.model, optimizer, inputs, target, 1.0, alone)
        return program.to_canonical(self.model)


class KerasSide:
    """The generated Keras program's compiled model, trained by its own `train_epoch` (fit's compiled step)."""

    def __init__(self, program, weights: Mapping[str, np.ndarray]):
        import keras

        self.program = program
        self.model = program.build_model()
        program.load_canonical(self.model, weights)
        for layer in self.model._flatten_layers(include_self=False):  # nested too: MultiHeadAttention's dropout
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0  # read when the training function is traced, which has not happened yet
        self.model.compile(optimizer=program.build_optimizer(), loss=program.build_loss(), metrics=program.METRICS)

    def outputs(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(inputs))

    def layer_outputs(self, graph: Graph, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Each layer's output in inference: the program's model with every layer's output as an output (the
        layers carry the .dl names)."""
        import keras

        outputs = [self.model.get_layer(node.name).output for node in graph.nodes]
        values = keras.Model(self.model.inputs, outputs).predict_on_batch(inputs)
        return {node.name: np.asarray(value) for node, value in zip(graph.nodes, values, strict=True)}

    def loss(self, inputs: list[np.ndarray], target: np.ndarray) -> float:
        return self.program.evaluate(self.model, inputs, target, BATCH)["loss"]

    def train(self, batches) -> dict[str, np.ndarray]:
        for inputs, target in batches:
            self.program.train_epoch(self.model, inputs, target, BATCH, epoch=0, epochs=1)  # one batch: one step
        return self.program.to_canonical(self.model)


def onnx_outputs(graph: Graph, weights: Mapping[str, np.ndarray], inputs: list[np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    from .onnx import export_model

    options = ort.SessionOptions()
    options.log_severity_level = 3
    model = export_model(graph, weights)
    session = ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    feeds = {value.name: array for value, array in zip(graph.inputs, inputs, strict=True)}
    (output,) = session.run(None, feeds)
    return output


def onnx_layer_outputs(graph: Graph, weights: Mapping[str, np.ndarray], inputs: list[np.ndarray]) -> dict:
    """Each layer's output on ONNX Runtime, channels-last: the exporter's own steps (export_model's inputs and
    lowerings, whose builder knows each layer's value and its layout), with every layer's value as an output."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from .onnx.builder import GraphBuilder
    from .onnx.export import DEFAULT_OPSET, ELEMENT_TYPES, graph_input, lower_node

    g = GraphBuilder(DEFAULT_OPSET)
    g.taken.update(value.name for value in graph.inputs)
    g.reserved.update(node.name for node in graph.nodes)
    graph_inputs = [graph_input(g, value) for value in graph.inputs]
    for node in graph.nodes:
        lower_node(g, node, weights)
    exposed, outputs = [], []
    for node in graph.nodes:
        layout = g.layouts.produced[node.output.name]
        name = g.fresh(f"verify/{node.name}")
        g.nodes.append(helper.make_node("Identity", [g.layouts.names[(node.output.name, layout)]], [name]))
        element = TensorProto.FLOAT if node.output.dtype.startswith("f") else ELEMENT_TYPES[node.output.dtype]
        outputs.append(helper.make_tensor_value_info(name, element, None))
        exposed.append((name, layout))
    onnx_graph = helper.make_graph(g.nodes, graph.name, graph_inputs, outputs, g.initializers)
    opsets = [helper.make_opsetid("", DEFAULT_OPSET)]
    model = helper.make_model(onnx_graph, opset_imports=opsets)
    model.ir_version = helper.find_min_ir_version_for(opsets)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
    feeds = {value.name: array for value, array in zip(graph.inputs, inputs, strict=True)}
    values = session.run([name for name, _ in exposed], feeds)
    layer_values = {}
    for node, (_, layout), value in zip(graph.nodes, exposed, values, strict=True):
        layer_values[node.name] = value.transpose(permutation(value.ndim, LAST)) if layout == FIRST else value
    return layer_values


def forward_variables(model, tensors: list) -> dict:
    """The local variables of `model`'s forward as it returns, from one call on `tensors`."""
    code, seen = type(model).forward.__code__, {}

    def in_forward(frame, event, arg):
        if event == "return":
            seen.update(frame.f_locals)
        return in_forward

    def tracer(frame, event, arg):
        return in_forward if frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        model(*tensors)
    finally:
        sys.settrace(previous)
    return seen
