"""Canonical weights: seeded initial values in Keras' layouts and distributions, and a pure-NumPy safetensors codec."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DlError, did_you_mean
from .ir import Graph

TRUNCATION_STDDEV = 0.87962566103423978  # stddev of a standard normal truncated at +-2
UNIFORM_LIMIT = 0.05  # Keras' RandomUniform() default, the `uniform` initializer
MAX_HEADER_BYTES = 100_000_000  # the reference library's bound

# Keras' VarianceScaling presets: (scale, mode, distribution).
VARIANCE_SCALING = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}

# safetensors dtypes in the reference library's enum order; its writer puts later (wider) dtypes first.
DTYPES = {
    "BOOL": np.dtype("bool"),
    "U8": np.dtype("<u1"),
    "I8": np.dtype("<i1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "F16": np.dtype("<f2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
}
DTYPE_RANK = {name: rank for rank, name in enumerate(DTYPES)}
DTYPE_NAMES = {(dtype.kind, dtype.itemsize): name for name, dtype in DTYPES.items()}


# ---------------------------------------------------------------- initial weights


def initial_weights(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """Every parameter of `graph`, keyed `LAYER.WEIGHT`, drawn in NumPy with Keras' distributions.

    Each tensor has its own generator seeded from (seed, crc32 of its key), so adding or renaming one layer
    leaves every other layer's weights unchanged. Values are always float32 in v1, whatever the input dtype;
    a backend casts them for f16/f64 models. The same seed gives the same values with the same NumPy.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DlError(f"the weight seed must be a non-negative integer, got {seed!r}")
    weights = {}
    for node, param in graph.params:
        key = f"{node.name}.{param.name}"
        rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
        try:
            if param.unit_forget_bias:
                value = forget_bias(param.initializer, param.shape, rng)
            else:
                value = sample(param.initializer, param.shape, rng)
        except ValueError as problem:
            raise DlError(f"cannot initialise {key}: {problem}", node.span) from None
        weights[key] = value
    return weights


def sample(initializer: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """One float32 tensor from a named Keras initializer; ValueError for a name or shape it cannot take."""
    shape = tuple(shape)
    if initializer == "zeros":
        values = np.zeros(shape)
    elif initializer == "ones":
        values = np.ones(shape)
    elif initializer == "uniform":
        values = rng.uniform(-UNIFORM_LIMIT, UNIFORM_LIMIT, shape)
    elif initializer == "orthogonal":
        values = orthogonal(shape, rng)
    elif initializer in VARIANCE_SCALING:
        values = variance_scaling(initializer, shape, rng)
    else:
        raise ValueError(f"unknown initializer '{initializer}'")
    return values.astype(np.float32)


def forget_bias(initializer: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """An LSTM bias with ones in the forget block; like Keras, blocks i and (c, o) are drawn as separate shapes."""
    if len(shape) != 1 or shape[0] % 4:
        raise ValueError(f"unit_forget_bias needs a bias of shape [4 * units], got {list(shape)}")
    units = shape[0] // 4
    blocks = [sample(initializer, (units,), rng), np.ones(units, np.float32), sample(initializer, (2 * units,), rng)]
    return np.concatenate(blocks)


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras' fans: a vector's own length, a matrix's rows and columns, a kernel's channels x receptive field."""
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def variance_scaling(initializer: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Keras' VarianceScaling: uniform with limit sqrt(3 * scale / fan), or a normal truncated at +-2 stddev."""
    scale, mode, distribution = VARIANCE_SCALING[initializer]
    fan_in, fan_out = compute_fans(shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    scale /= max(1.0, fan)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, shape)
    return truncated_normal(shape, math.sqrt(scale) / TRUNCATION_STDDEV, rng)


def truncated_normal(shape: tuple[int, ...], stddev: float, rng: np.random.Generator) -> np.ndarray:
    """N(0, stddev) with every draw beyond 2 stddev re-drawn, as tf.random.truncated_normal does."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return values * stddev


def orthogonal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Keras' Orthogonal(gain=1): QR of a normal [max, min] matrix, signs fixed by diag(r), transposed if wide."""
    if len(shape) < 2:
        raise ValueError(f"the orthogonal initializer needs rank 2 or more, got shape {list(shape)}")
    rows, cols = math.prod(shape[:-1]), shape[-1]
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(shape)


# ---------------------------------------------------------------- checking a weight set against a model


def check_weights(graph: Graph, tensors: Mapping[str, Any]) -> None:
    """Raise one DlError naming every missing, unexpected or misshapen weight for `graph`."""
    expected = {f"{node.name}.{param.name}": param.shape for node, param in graph.params}
    missing = [key for key in expected if key not in tensors]
    problems = [f"missing {key}" for key in missing]
    for key, shape in expected.items():
        if key in tensors and tuple(np.shape(tensors[key])) != shape:
            problems.append(f"{key}: expected {list(shape)}, got {list(np.shape(tensors[key]))}")
    for key in tensors:
        if key not in expected:
            hint = did_you_mean(key, missing or expected)
            problems.append(f"unexpected {key}" + (f" ({hint})" if hint else ""))
    if problems:
        shown = problems[:8] + ([f"and {len(problems) - 8} more"] if len(problems) > 8 else [])
        raise DlError(f"the weights do not fit model '{graph.name}': " + "; ".join(shown))


# ---------------------------------------------------------------- safetensors


def save_safetensors(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> None:
    """Write `tensors` as the reference library does: dtypes widest first, then keys sorted, header space-padded."""
    path = Path(path)
    header: dict[str, Any] = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise DlError(f"{path}: safetensors metadata must map strings to strings")
        header["__metadata__"] = dict(sorted(metadata.items()))
    arrays = {}
    for key, value in tensors.items():
        array = np.asarray(value)
        dtype = DTYPE_NAMES.get((array.dtype.kind, array.dtype.itemsize))
        if not isinstance(key, str) or not key or key == "__metadata__":
            raise DlError(f"{path}: {key!r} cannot be a safetensors tensor name")
        if dtype is None:
            raise DlError(f"{path}: tensor '{key}' has dtype {array.dtype}, which safetensors cannot store here")
        arrays[key] = (dtype, array)
    chunks, offset = [], 0
    for key, (dtype, array) in sorted(arrays.items(), key=lambda item: (-DTYPE_RANK[item[1][0]], item[0])):
        data = np.ascontiguousarray(array, dtype=DTYPES[dtype]).tobytes()
        header[key] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    try:
        path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(chunks))
    except OSError as error:
        raise DlError(f"{path}: cannot write weights: {error.strerror or error}") from None


def load_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file into native-endian arrays and its metadata; any malformation is a DlError."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as error:
        raise DlError(f"{path}: cannot read weights: {error.strerror or error}") from None

    def bad(problem: str) -> DlError:
        return DlError(f"{path}: not a valid safetensors file: {problem}")

    if len(blob) < 8:
        raise bad(f"{len(blob)} bytes is too short for the 8-byte header length")
    size = int.from_bytes(blob[:8], "little")
    if size > MAX_HEADER_BYTES:
        raise bad(f"header length {size} exceeds the {MAX_HEADER_BYTES}-byte limit")
    if 8 + size > len(blob):
        raise bad(f"header length {size} runs past the end of the {len(blob)}-byte file")
    try:
        header = json.loads(blob[8 : 8 + size].decode("utf-8"), object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, ValueError) as error:
        raise bad(f"header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise bad("__metadata__ must map strings to strings")
    data = memoryview(blob)[8 + size :]
    entries = [(key, *tensor_info(key, info, bad)) for key, info in header.items()]
    position = 0
    for key, dtype, shape, (begin, end) in sorted(entries, key=lambda entry: entry[3]):
        if end > len(data):
            raise bad(f"tensor '{key}' ends at byte {end}, past the {len(data)}-byte data section")
        if begin != position:
            raise bad(f"tensor '{key}' starts at byte {begin}, expected {position} (tensors must be contiguous)")
        if math.prod(shape) * dtype.itemsize != end - begin:
            raise bad(f"tensor '{key}' has shape {shape} of {dtype.name} but {end - begin} bytes")
        position = end
    if position != len(data):
        raise bad(f"tensors cover {position} bytes but the data section has {len(data)}")
    tensors = {}
    for key, dtype, shape, (begin, end) in entries:
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape)
        tensors[key] = array.astype(dtype.newbyteorder("="), copy=True)
    return tensors, metadata


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object hook refusing duplicate keys, which would otherwise hide a tensor silently."""
    found = dict(pairs)
    if len(found) != len(pairs):
        duplicate = next(key for key in found if sum(k == key for k, _ in pairs) > 1)
        raise ValueError(f"duplicate key '{duplicate}'")
    return found


def tensor_info(key: str, info: Any, bad) -> tuple[np.dtype, list[int], tuple[int, int]]:
    """Validate one header entry: a known dtype, a shape of non-negative ints, ordered in-file offsets."""
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
        raise bad(f"tensor '{key}' needs dtype, shape and data_offsets")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in DTYPES:
        raise bad(f"tensor '{key}' has unknown dtype {dtype!r} (known: {', '.join(DTYPES)})")

    def is_count(n: Any) -> bool:
        return isinstance(n, int) and not isinstance(n, bool) and n >= 0

    if not isinstance(shape, list) or not all(is_count(n) for n in shape):
        raise bad(f"tensor '{key}' has an invalid shape {shape!r}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(is_count(n) for n in offsets):
        raise bad(f"tensor '{key}' has invalid data_offsets {offsets!r}")
    if offsets[0] > offsets[1]:
        raise bad(f"tensor '{key}' has data_offsets {offsets} that end before they begin")
    return DTYPES[dtype], shape, (offsets[0], offsets[1])
