"""`dlc convert`: canonical `.safetensors` weights to and from a framework's own weight file.

PyTorch: the generated module's `state_dict`, saved with `torch.save` and read back with `weights_only=True`.
Keras: `model.save_weights` of the generated functional model, a `.weights.h5` file. Both go through the
generated programs' own `load_canonical` and `to_canonical`, so a converted file loads into the program
`dlc compile` writes (and into a person's copy of it) and round trips are exact.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from compiler.errors import DlError
from compiler.files import check_output, replace_atomically
from compiler.ir import Graph
from compiler.weights import check_finite, check_weights

from .program.loader import import_program

KERAS_SUFFIX = ".weights.h5"  # Keras 3 refuses any other name for save_weights/load_weights


def to_framework(
    graph: Graph, tensors: Mapping[str, np.ndarray], framework: str, output: Path, source: Path | None = None
) -> None:
    """Write canonical `tensors` (read from the file `source`, named when they do not fit) as `framework`'s own
    weight file for `graph`."""
    check_weights(graph, tensors, source)
    if framework == "keras":
        require_keras_name(output)
    what = "Keras weights" if framework == "keras" else "PyTorch weights"
    check_output(output, what, make_folder=True)
    if framework == "keras":
        program, model = keras_program_and_model(graph)
        program.load_canonical(model, tensors)
        replace_atomically(output, lambda partial: model.save_weights(str(partial)), what, suffix=KERAS_SUFFIX)
    else:
        import torch

        program = import_program(graph, "pytorch")
        module = program.MODEL_CLASS()
        program.load_canonical(module, tensors)
        state = module.state_dict()
        replace_atomically(output, lambda partial: torch.save(state, partial), what)


def from_framework(graph: Graph, source: Path, framework: str) -> dict[str, np.ndarray]:
    """Canonical weights of `graph` read from `framework`'s own weight file."""
    if not source.is_file():
        raise DlError(f"{source}: no such file")
    if framework == "keras":
        require_keras_name(source)
        program, model = keras_program_and_model(graph)
        try:
            with warnings.catch_warnings():
                # Keras only warns when it skips a layer the file lacks, leaving that layer's fresh weights
                warnings.simplefilter("error", UserWarning)
                model.load_weights(str(source))
        except Exception as error:  # h5py and Keras raise many types for a foreign or damaged file
            raise DlError(f"{source}: not Keras weights of model '{graph.name}' ({first_line(error)})") from None
        return checked_finite(program.to_canonical(model), source)
    import torch

    program = import_program(graph, "pytorch")
    module = program.MODEL_CLASS()
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)  # tensors only: never runs code
    except Exception:  # torch raises its own untyped errors, suggesting unsafe loading, for foreign files
        raise DlError(
            f"{source}: not a PyTorch state_dict file of tensors (dlc loads nothing that runs code)"
        ) from None
    if not isinstance(state, Mapping):
        raise DlError(f"{source}: holds a {type(state).__name__}, not a state_dict")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise DlError(f"{source}: not PyTorch weights of model '{graph.name}' ({describe_mismatch(error)})") from None
    return checked_finite(program.to_canonical(module), source)


def checked_finite(tensors: dict[str, np.ndarray], source: Path) -> dict[str, np.ndarray]:
    """`tensors`, read from `source`, once none holds NaN or infinity: written as canonical weights they would
    carry the damage to every backend."""
    check_finite(tensors, str(source))
    return tensors


def keras_program_and_model(graph: Graph):
    """The generated Keras program for `graph` and a model it built."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no start-up chatter
    program = import_program(graph, "keras")
    return program, program.build_model()


def require_keras_name(path: Path) -> None:
    if not path.name.endswith(KERAS_SUFFIX):
        raise DlError(f"{path}: Keras weight files must end in {KERAS_SUFFIX}")


def describe_mismatch(error: RuntimeError) -> str:
    """torch's multi-line load_state_dict message, as one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[1:] or lines)[:400]


def first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
