"""`dlc export` and `dlc predict`, on top of the exporter and ONNX Runtime."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from compiler.errors import DlError
from compiler.files import check_output, replace_atomically, write_atomically
from compiler.ir import Graph
from compiler.weights import check_weights, initial_weights, load_safetensors

from ..samples import random_inputs, sample_length
from . import export_model, save


def export(
    graph: Graph,
    output: Path,
    weights_path: Path | None = None,
    opset: int | None = None,
    quantize: str | None = None,
    quantize_ops: Sequence[str] | None = None,
) -> None:
    if weights_path is None:
        seed = graph.training.settings.seed
        weights = initial_weights(graph, seed)
        print(f"no --weights given: exporting the initial weights of seed {seed} (untrained)", file=sys.stderr)
    else:
        weights, _ = load_safetensors(weights_path)
        check_weights(graph, weights, weights_path)
    model = export_model(graph, weights, **({} if opset is None else {"opset": opset}))
    check_output(output, "the ONNX model", make_folder=True)
    if quantize is None:
        save(model, output)
        print(f"wrote {output}", file=sys.stderr)
        return
    from .quantize import QUANTIZED_OPS, quantize_file, report

    op_types = tuple(quantize_ops or QUANTIZED_OPS)

    with tempfile.TemporaryDirectory(prefix="dlc-export-") as tmp:
        float_path, int8_path = Path(tmp) / "float32.onnx", Path(tmp) / "int8.onnx"
        save(model, float_path)
        try:
            chosen = quantize_file(float_path, int8_path, op_types)
        except OSError as error:  # a full disk under the scratch folder, say: not a bug in dlc
            raise DlError(f"{output}: cannot write the int8 ONNX model: {error.strerror or error}") from None
        if not chosen:
            save(model, output)
            print(f"nothing to quantize (no {', '.join(op_types)} ops): wrote float32 {output}", file=sys.stderr)
            return
        # quantize_dynamic writes straight to the path it is given: a scratch one, whose bytes replace `output`
        write_atomically(output, int8_path.read_bytes(), "the int8 ONNX model")
        kept = "" if "Conv" in chosen else " (convolutions stay float32)"
        print(f"quantized {', '.join(chosen)} to int8{kept}: wrote {output}", file=sys.stderr)
        for line in report(float_path, int8_path, sample_feeds(graph), validation_split(graph)):
            print(f"  {line}", file=sys.stderr)


def sample_feeds(graph: Graph, batch: int = 64, length: int = 16) -> dict[str, np.ndarray]:
    """Random inputs for timing, token ids in range; `?` dimensions `length` long where the model accepts it (a
    PositionEmbedding's `sequence_length` caps it)."""
    arrays = random_inputs(graph, batch, sample_length(graph, length), np.random.default_rng(0))
    return {value.name: array for value, array in zip(graph.inputs, arrays, strict=True)}


def validation_split(graph: Graph):
    from ..program.constants import data_splits

    splits = data_splits(graph)
    return None if splits is None else splits[1]


def predict(model: Path, inputs: list[Path], provider: str, output: Path | None) -> None:
    from .predict import predict_files

    if output is not None:
        check_output(output, "the predictions")
    result = predict_files(model, inputs, provider)
    if output is not None:
        # to an open file: np.save given a name adds .npy to one that lacks it, and "wrote p.txt" would be untrue
        replace_atomically(output, lambda partial: save_npy(partial, result), "the predictions")
        print(f"wrote {output} ({result.shape[0]} rows)", file=sys.stderr)
        return
    with np.printoptions(precision=5, suppress=True, linewidth=120, threshold=2000):
        for row in result:
            print(row if row.ndim else float(row))
    if result.ndim == 2 and result.shape[1] > 1:
        print(f"classes: {result.argmax(-1).tolist()}", file=sys.stderr)


def save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as file:
        np.save(file, array)
