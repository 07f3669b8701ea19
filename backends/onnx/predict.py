"""Running a saved .onnx model on ONNX Runtime, with inputs checked first so mistakes read as DlErrors.

    session = load_session("model.onnx", provider="cpu")       # or "cuda"
    probabilities = predict(session, [load_input("x.npy")])    # one array per model input, in order

`predict_files(model_path, input_paths, provider)` does both from file names (`.npy` or `.csv` inputs).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from compiler.datafiles import read_npy_header
from compiler.errors import DlError

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
NUMPY_TYPES = {
    "tensor(float)": np.dtype("float32"),
    "tensor(float16)": np.dtype("float16"),
    "tensor(double)": np.dtype("float64"),
    "tensor(int32)": np.dtype("int32"),
    "tensor(int64)": np.dtype("int64"),
}


def session_options(threads: int | None) -> ort.SessionOptions:
    """Options chosen for serving small models beside an event loop on the same cores.

    Full graph optimization; one operator at a time (sequential execution, one inter-op thread): batches
    come one after another per model, so parallelism goes inside operators. Intra-op threads default to
    the cores minus one, leaving one to the event loop that parses and encodes requests, and do not spin
    while idle (spinning would take that core away from the event loop between batches).
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = threads if threads else max(1, min(8, (os.cpu_count() or 2) - 1))
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_cpu_mem_arena = True
    options.enable_mem_pattern = True
    options.log_severity_level = 3  # errors only
    return options


def execution_provider(provider: str) -> str:
    """ONNX Runtime's name for `provider` ("cpu" or "cuda"); a DlError when it is unknown or this onnxruntime
    lacks it (the CUDA provider comes with onnxruntime-gpu, the `gpu` extra, in place of onnxruntime)."""
    if provider not in PROVIDERS:
        raise DlError(f"unknown provider '{provider}'; use one of: {', '.join(PROVIDERS)}")
    wanted = PROVIDERS[provider]
    available = ort.get_available_providers()
    if wanted not in available:
        raise DlError(
            f"provider '{provider}' is not available in this onnxruntime (it has: {', '.join(available)}); "
            "install onnxruntime-gpu with a matching CUDA (README: GPUs), or use the cpu provider"
        )
    return wanted


def load_session(path: str | Path, provider: str = "cpu") -> ort.InferenceSession:
    """An ONNX Runtime session for the model at `path` on `provider` ("cpu" or "cuda").

    Raises DlError for an unknown provider, CUDA asked for where this onnxruntime has none, a missing file,
    or a file that is not a valid ONNX model.
    """
    wanted = execution_provider(provider)
    path = Path(path)
    if not path.is_file():
        raise DlError(f"{path}: no such file")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings would interleave with the predictions
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=[wanted])
    except Exception as error:  # ORT raises its own untyped errors for unreadable or invalid models
        raise DlError(f"{path}: not a valid ONNX model ({first_line(error)})") from None
    if wanted not in session.get_providers():
        raise DlError(f"{path}: onnxruntime could not start the {provider} provider for this model")
    return session


def predict(session: ort.InferenceSession, inputs: Sequence[np.ndarray] | Mapping[str, np.ndarray]) -> np.ndarray:
    """The model's output for `inputs`: one array per model input, in declaration order, or a dict by name.

    Each array needs the batch axis first and the model's per-sample shape (any size where the model has
    a named dimension). Values are converted to the model's dtype when no precision class is lost (ints
    to float, float64 to float32); anything else is a DlError naming the expected shape and dtype.
    """
    expected = session.get_inputs()
    if isinstance(inputs, Mapping):
        unknown = sorted(set(inputs) - {i.name for i in expected})
        if unknown:
            raise DlError(f"the model has no input '{unknown[0]}'; its inputs: {describe_inputs(expected)}")
        missing = [i.name for i in expected if i.name not in inputs]
        if missing:
            raise DlError(f"missing input '{missing[0]}'; the model's inputs: {describe_inputs(expected)}")
        arrays = [inputs[i.name] for i in expected]
    else:
        arrays = list(inputs)
        if len(arrays) != len(expected):
            raise DlError(f"the model takes {len(expected)} input(s), got {len(arrays)}: {describe_inputs(expected)}")
    feeds = {spec.name: checked(spec, np.asarray(array)) for spec, array in zip(expected, arrays, strict=True)}
    batches = {array.shape[0] for array in feeds.values()}
    if len(batches) > 1:
        raise DlError(f"the inputs have different batch sizes: {sorted(batches)}")
    try:
        return session.run(None, feeds)[0]
    except Exception as error:  # e.g. a sequence too short for a convolution
        raise DlError(f"onnxruntime could not run the model: {first_line(error)}") from None


def checked(spec, array: np.ndarray) -> np.ndarray:
    """`array` in the dtype of model input `spec`, after checking its shape against the declared one."""
    dtype = NUMPY_TYPES.get(spec.type)
    shown = show_shape(spec.shape)
    if dtype is None:
        raise DlError(f"input '{spec.name}' has type {spec.type}, which dlc cannot feed")
    if array.dtype.kind not in "biuf" or not np.can_cast(array.dtype, dtype, "same_kind"):
        raise DlError(f"input '{spec.name}' expects {dtype.name} values of shape {shown}, got {array.dtype.name}")
    fits = array.ndim == len(spec.shape) and all(
        isinstance(want, str) or want is None or want == got for want, got in zip(spec.shape, array.shape, strict=True)
    )
    if not fits or array.size == 0:
        raise DlError(f"input '{spec.name}' expects shape {shown}, got {tuple(array.shape)}")
    return np.ascontiguousarray(array, dtype=dtype)


def load_input(path: str | Path, sample_shape: Sequence[int | None] | None = None) -> np.ndarray:
    """An input array from a `.npy` file (as stored) or a `.csv` file (one sample per row, a header allowed).

    CSV rows are reshaped to `[rows, *sample_shape]` when a shape is given (one `None` is inferred).
    """
    path = Path(path)
    if not path.is_file():
        raise DlError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            with path.open("rb") as handle:  # a header that claims more than the file holds is refused unallocated
                read_npy_header(handle, path.stat().st_size, "the array")
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DlError(f"{path}: not a valid .npy file ({first_line(error)})") from None
    if path.suffix.lower() != ".csv":
        raise DlError(f"{path}: inputs must be .npy or .csv files")
    rows = read_csv_rows(path)
    if sample_shape is None:
        return rows
    known = math.prod(d for d in sample_shape if d is not None)
    if rows.shape[1] % known or (None not in sample_shape and rows.shape[1] != known):
        raise DlError(f"{path}: {rows.shape[1]} values per row do not fit the input shape {show_shape(sample_shape)}")
    dims = [rows.shape[1] // known if d is None else d for d in sample_shape]
    return rows.reshape(len(rows), *dims)


def read_csv_rows(path: Path) -> np.ndarray:
    try:
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DlError(f"{path}: cannot read as CSV: {first_line(error)}") from None
    if rows and not is_number(rows[0][0]):
        rows = rows[1:]  # a header row
    if not rows:
        raise DlError(f"{path}: holds no rows of values")
    if len({len(row) for row in rows}) > 1:
        raise DlError(f"{path}: rows have different numbers of values")
    bad = next((value for row in rows for value in row if not is_number(value)), None)
    if bad is not None:
        raise DlError(f"{path}: every value must be a number, found {bad!r}")
    return np.array(rows, dtype=np.float64)


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def predict_files(model_path: str | Path, input_paths: Sequence[str | Path], provider: str = "cpu") -> np.ndarray:
    """`predict` from files: the .onnx model and one .npy/.csv file per model input, in declaration order."""
    session = load_session(model_path, provider)
    expected = session.get_inputs()
    if len(input_paths) != len(expected):
        raise DlError(
            f"the model takes {len(expected)} input file(s), got {len(input_paths)}: {describe_inputs(expected)}"
        )
    arrays = []
    for spec, path in zip(expected, input_paths, strict=True):
        sample = [None if isinstance(d, str) or d is None else d for d in spec.shape[1:]]
        arrays.append(load_input(path, sample))
    return predict(session, arrays)


def show_shape(shape: Sequence) -> str:
    dims = [
        "batch" if k == 0 and isinstance(d, str) else ("?" if isinstance(d, str) or d is None else str(d))
        for k, d in enumerate(shape)
    ]
    return "(" + ", ".join(dims) + ")"


def describe_inputs(specs) -> str:
    return ", ".join(f"{s.name} {show_shape(s.shape)}" for s in specs)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
