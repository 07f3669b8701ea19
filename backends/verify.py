"""`dlc verify`: the equivalence contract of LANGUAGE.md, checked on one model.

The generated PyTorch program is the reference. From the same canonical weights and the same random batch,
the generated Keras program and the exported ONNX model must give the same outputs, and Keras the same loss,
within `1e-5 + 1e-5 * |value|`; after K optimizer steps on the same batches (dropout off), PyTorch and Keras
must hold the same weights within 1e-4. Every number comes from the code users run: the programs
`dlc compile` writes and the graph `dlc export` writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.ir import Graph

from .program.loader import import_program
from .samples import random_inputs, random_targets

ABSOLUTE, RELATIVE = 1e-5, 1e-5  # outputs and loss: |ours - pytorch| <= ABSOLUTE + RELATIVE * |pytorch|
TRAINED_WEIGHTS = 1e-4  # every weight after the optimizer steps
BATCH = 4
LENGTH = 5  # the size of every `?` dimension in the random inputs


@dataclass(frozen=True)
class Difference:
    """One compared quantity: the largest |difference| from PyTorch, and whether it is within the bound."""

    quantity: str  # "outputs", "loss" or "train"
    backend: str  # "keras" or "onnx"
    largest: float
    within: bool


@dataclass
class Report:
    model: str
    weights: str  # where the weights came from, for the heading
    steps: int
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(d.within for d in self.differences)

    def as_json(self) -> str:
        document: dict = {"model": self.model, "outputs": {}, "loss": {}, "train": {}}
        for d in self.differences:
            document[d.quantity][d.backend] = d.largest
        document["ok"] = self.ok
        return json.dumps(document, indent=2)

    def table(self) -> str:
        bounds = {"outputs": f"{ABSOLUTE:g} + {RELATIVE:g}*|x|", "train": f"{TRAINED_WEIGHTS:g}"}
        heading = f"{self.model}: {self.weights}, {BATCH} random rows" + (
            f", {self.steps} optimizer steps on {BATCH}-row batches" if self.steps else ""
        )
        lines = [heading, f"  {'compared':<32} {'max |diff| vs PyTorch':>21}   {'bound':<17} verdict"]
        for d in self.differences:
            what = f"weights after {self.steps} steps" if d.quantity == "train" else d.quantity
            bound = bounds.get(d.quantity, bounds["outputs"])
            verdict = "ok" if d.within else "BROKEN"
            lines.append(f"  {what + f' ({d.backend})':<32} {d.largest:>21.3e}   {bound:<17} {verdict}")
        lines += [f"  {note}" for note in self.notes]
        verdict = "within the equivalence contract" if self.ok else "the equivalence contract is BROKEN"
        lines.append(f"{self.model}: {verdict}")
        return "\n".join(lines)


def compare(quantity: str, backend: str, ours: np.ndarray, reference: np.ndarray) -> Difference:
    ours, reference = np.asarray(ours, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if ours.shape != reference.shape:
        return Difference(quantity, backend, float("inf"), False)
    gap = np.abs(ours - reference)
    largest = float(gap.max(initial=0.0)) if np.all(np.isfinite(gap)) else float("inf")
    within = bool(np.all(gap <= ABSOLUTE + RELATIVE * np.abs(reference)))
    return Difference(quantity, backend, largest, within)


def compare_weights(backend: str, ours: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> Difference:
    largest = 0.0
    for key, value in reference.items():
        gap = np.abs(np.asarray(ours[key], np.float64) - np.asarray(value, np.float64))
        largest = max(largest, float(gap.max(initial=0.0)) if np.all(np.isfinite(gap)) else float("inf"))
    return Difference("train", backend, largest, largest <= TRAINED_WEIGHTS)


def verify(graph: Graph, weights: Mapping[str, np.ndarray], weights_note: str, steps: int = 0) -> Report:
    """Compare Keras and ONNX Runtime with PyTorch on `graph` from canonical `weights` (see the module doc)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no start-up chatter
    rng = np.random.default_rng(0)
    inputs = random_inputs(graph, BATCH, LENGTH, rng)
    target = random_targets(graph, BATCH, LENGTH, rng)
    batches = [
        (random_inputs(graph, BATCH, LENGTH, rng), random_targets(graph, BATCH, LENGTH, rng)) for _ in range(steps)
    ]
    report = Report(graph.name, weights_note, steps)

    torch_side = PyTorchSide(import_program(graph, "pytorch"), weights)
    keras_side = KerasSide(import_program(graph, "keras"), weights)
    expected = torch_side.outputs(inputs)
    report.differences.append(compare("outputs", "keras", keras_side.outputs(inputs), expected))
    report.differences.append(compare("outputs", "onnx", onnx_outputs(graph, weights, inputs), expected))
    report.differences.append(
        compare("loss", "keras", keras_side.loss(inputs, target), torch_side.loss(inputs, target))
    )
    if steps and not any(param.trainable for _, param in graph.params):
        report.steps = 0
        report.notes.append(f"no optimizer steps: {graph.name} has no trainable weights")
    if report.steps:
        trained = torch_side.train(batches)
        report.differences.append(compare_weights("keras", keras_side.train(batches), trained))
    return report


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

    def loss(self, inputs: list[np.ndarray], target: np.ndarray) -> float:
        return self.program.evaluate(self.model, inputs, target, BATCH)["loss"]

    def train(self, batches) -> dict[str, np.ndarray]:
        program, torch = self.program, self.torch
        optimizer = program.OPTIMIZER_CLASS(self.model.parameters(), **program.OPTIMIZER)
        self.model.train()
        for inputs, target in batches:
            program.train_step(self.model, optimizer, [torch.from_numpy(x) for x in inputs], torch.from_numpy(target))
        return program.to_canonical(self.model)


class KerasSide:
    """The generated Keras program's compiled model, trained by its own `train_epoch` (fit's compiled step)."""

    def __init__(self, program, weights: Mapping[str, np.ndarray]):
        import keras

        self.program = program
        self.model = program.build_model()
        program.load_canonical(self.model, weights)
        for layer in self.model.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0  # read when the training function is traced, which has not happened yet
        self.model.compile(optimizer=program.build_optimizer(), loss=program.build_loss(), metrics=program.METRICS)

    def outputs(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(inputs))

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
