"""Writing a Triton Inference Server model repository: DIR/<name>/config.pbtxt and DIR/<name>/1/model.onnx."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .models import LoadedModel, load_model
from .tensors import TensorSpec


def _tensor(spec: TensorSpec, batched: bool) -> str:
    dims = spec.shape[1:] if batched else spec.shape
    return "\n".join(
        [
            "  {",
            f"    name: {json.dumps(spec.name)}",
            f"    data_type: TYPE_{spec.datatype}",
            f"    dims: [ {', '.join(str(d) for d in dims)} ]",
            "  }",
        ]
    )


def config_pbtxt(model: LoadedModel, max_batch: int = 32, max_delay_ms: float = 0.0) -> str:
    """The model's config.pbtxt. A model without a leading dynamic batch dim gets max_batch_size 0 (no batching)."""
    batched = model.signature.batched
    lines = [
        f"name: {json.dumps(model.name)}",
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {max_batch if batched else 0}",
        "input [",
        ",\n".join(_tensor(spec, batched) for spec in model.signature.inputs),
        "]",
        "output [",
        ",\n".join(_tensor(spec, batched) for spec in model.signature.outputs),
        "]",
    ]
    if batched:
        delay = round(max_delay_ms * 1000)
        lines.append(
            f"dynamic_batching {{ max_queue_delay_microseconds: {delay} }}" if delay else "dynamic_batching { }"
        )
    lines.append("instance_group [ { kind: KIND_CPU, count: 1 } ]")
    return "\n".join(lines) + "\n"


def write_triton_repository(
    paths: list[str | Path], directory: str | Path, max_batch: int = 32, max_delay_ms: float = 0.0
) -> list[Path]:
    """Copy each .onnx file into a Triton model repository under `directory`; returns each model's folder.

    The model's folder is its served name (metadata_props name, else the file's stem), as `dlc serve` uses.
    Raises DlError for a missing or broken model.
    """
    root = Path(directory)
    written = []
    for path in paths:
        model = load_model(path, threads=1)
        folder = root / model.name
        (folder / "1").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model.path, folder / "1" / "model.onnx")
        (folder / "config.pbtxt").write_text(config_pbtxt(model, max_batch, max_delay_ms))
        written.append(folder)
    return written
