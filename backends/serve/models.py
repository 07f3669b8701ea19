"""Loading .onnx files into ONNX Runtime sessions, with each model's served name and v2 signature."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort

from compiler.errors import DlError

from ..onnx.predict import execution_provider, session_options
from .tensors import ORT_TO_V2, Signature, TensorSpec

# metadata_props keys that name a model, preferred over the file's stem in this order
NAME_KEYS = ("model_name", "name", "dlc.model_name", "dlc.model")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(slots=True)
class LoadedModel:
    name: str
    path: Path
    session: ort.InferenceSession
    signature: Signature
    output_names: list[str]
    input_names: list[str]


def _specs(nodes, path: Path) -> tuple[TensorSpec, ...]:
    specs = []
    for node in nodes:
        datatype = ORT_TO_V2.get(node.type)
        if datatype is None:
            raise DlError(f"{path}: tensor '{node.name}' has type {node.type}, which the server cannot serve")
        shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in node.shape)
        specs.append(TensorSpec(node.name, datatype, shape))
    return tuple(specs)


def _batched(nodes) -> bool:
    """True when every tensor's first dimension is symbolic (or unknown): the batch dimension."""
    return all(len(node.shape) >= 1 and not isinstance(node.shape[0], int) for node in nodes)


def valid_name(name: str) -> bool:
    """A name safe in a URL path and as a folder of a Triton repository: never `.` or `..`, nor a hidden folder
    (the repository's own staging folders are hidden, and one a model was named after would be cleared)."""
    return bool(_NAME.match(name)) and not name.startswith(".")


def model_name(path: Path, metadata: dict[str, str]) -> str:
    """The name a model is served under: a name in its metadata_props, else the file's stem."""
    for key in NAME_KEYS:
        value = metadata.get(key, "").strip()
        if valid_name(value):
            return value
    return path.stem


def load_model(path: str | Path, threads: int | None = None, provider: str = "cpu") -> LoadedModel:
    """One .onnx file as a session on `provider` ("cpu" or "cuda"); a missing or broken file, or a provider
    this onnxruntime lacks, is a DlError."""
    wanted = execution_provider(provider)
    path = Path(path)
    if not path.is_file():
        raise DlError(f"no such model file: {path}")
    try:
        session = ort.InferenceSession(str(path), session_options(threads), providers=[wanted])
    except Exception as e:  # ORT raises several types (Fail, InvalidGraph, InvalidProtobuf, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DlError(f"{path}: not a loadable ONNX model: {first}") from None
    if wanted not in session.get_providers():
        raise DlError(f"{path}: onnxruntime could not start the {provider} provider for this model")
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if not inputs or not outputs:
        raise DlError(f"{path}: the model has no inputs or no outputs")
    signature = Signature(_specs(inputs, path), _specs(outputs, path), _batched(inputs) and _batched(outputs))
    name = model_name(path, dict(session.get_modelmeta().custom_metadata_map))
    if not valid_name(name):
        raise DlError(
            f"{path}: model name {name!r} may only use letters, digits, '_', '.' and '-', and may not begin with '.'"
        )
    return LoadedModel(name, path, session, signature, [o.name for o in outputs], [i.name for i in inputs])


def load_models(paths: list[str | Path], threads: int | None = None, provider: str = "cpu") -> dict[str, LoadedModel]:
    """Every path loaded, by served name; two files under one name is a DlError."""
    if not paths:
        raise DlError("no models to serve: give one or more .onnx files")
    models: dict[str, LoadedModel] = {}
    for path in paths:
        model = load_model(path, threads, provider)
        if model.name in models:
            raise DlError(f"{model.path} and {models[model.name].path} are both named '{model.name}'")
        models[model.name] = model
    return models
