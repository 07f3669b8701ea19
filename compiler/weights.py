"""Canonical weights: seeded initial values in Keras' layouts and distributions, checked against a model,
and read and written as `.safetensors` files through the safetensors library."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DlError, clip, did_you_mean
from .files import write_atomically
from .ir import Graph
from .values import Initializer

TRUNCATION_STDDEV = 0.87962566103423978  # stddev of a standard normal truncated at +-2

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
    """One float32 tensor from a Keras initializer, a name or a call (`Initializer`); ValueError for an initializer
    or a shape it cannot take. Generated programs draw with the same function and settings (`sampler`)."""
    draw, settings = sampler(initializer)
    return draw(tuple(shape), rng, *settings).astype(np.float32)


def sampler(initializer: str) -> tuple[Callable[..., np.ndarray], tuple[Any, ...]]:
    """The function that draws `initializer` and its settings: a name's row of SAMPLERS, a call's arguments."""
    if isinstance(initializer, Initializer) and initializer.keras_class in CALLED_SAMPLERS:
        return CALLED_SAMPLERS[initializer.keras_class], initializer.settings
    if initializer not in SAMPLERS:
        raise ValueError(f"unknown initializer '{initializer}'")
    return SAMPLERS[initializer]


def zeros(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return np.zeros(shape)


def ones(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return np.ones(shape)


def constant(shape: tuple[int, ...], rng: np.random.Generator, value: float) -> np.ndarray:
    return np.full(shape, value)


def random_uniform(shape: tuple[int, ...], rng: np.random.Generator, minval: float, maxval: float) -> np.ndarray:
    """Keras' RandomUniform: U(minval, maxval)."""
    return rng.uniform(minval, maxval, shape)


def random_normal(shape: tuple[int, ...], rng: np.random.Generator, mean: float, stddev: float) -> np.ndarray:
    """Keras' RandomNormal: N(mean, stddev)."""
    return mean + stddev * rng.standard_normal(shape)


def random_truncated_normal(shape: tuple[int, ...], rng: np.random.Generator, mean: float, stddev: float) -> np.ndarray:
    """Keras' TruncatedNormal: N(mean, stddev) re-drawn beyond 2 stddev (`stddev` before the truncation)."""
    return mean + truncated_normal(shape, stddev, rng)


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


def variance_scaling(
    shape: tuple[int, ...], rng: np.random.Generator, scale: float, mode: str, distribution: str
) -> np.ndarray:
    """Keras' VarianceScaling: variance scale / fan, uniform with limit sqrt(3 * scale / fan), a normal truncated
    at +-2 stddev (scaled up to keep the variance), or an untruncated normal."""
    fan_in, fan_out = compute_fans(shape)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    scale /= max(1.0, fan)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, shape)
    if distribution == "untruncated_normal":
        return math.sqrt(scale) * rng.standard_normal(shape)
    return truncated_normal(shape, math.sqrt(scale) / TRUNCATION_STDDEV, rng)


def truncated_normal(shape: tuple[int, ...], stddev: float, rng: np.random.Generator) -> np.ndarray:
    """N(0, stddev) with every draw beyond 2 stddev re-drawn, as tf.random.truncated_normal does."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return values * stddev


def orthogonal(shape: tuple[int, ...], rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """Keras' Orthogonal: gain times the Q of a normal [max, min] matrix's QR, signs fixed by diag(r), transposed
    if wide."""
    if len(shape) < 2:
        raise ValueError(f"the orthogonal initializer needs rank 2 or more, got shape {list(shape)}")
    rows, cols = math.prod(shape[:-1]), shape[-1]
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


# initializer name -> (the function that draws it, its settings): Keras' VarianceScaling presets are
# (scale, mode, distribution), its named classes their default arguments. Generated programs copy the rows and
# functions their model uses.
SAMPLERS: dict[str, tuple[Callable[..., np.ndarray], tuple[Any, ...]]] = {
    "glorot_uniform": (variance_scaling, (1.0, "fan_avg", "uniform")),
    "glorot_normal": (variance_scaling, (1.0, "fan_avg", "truncated_normal")),
    "he_uniform": (variance_scaling, (2.0, "fan_in", "uniform")),
    "he_normal": (variance_scaling, (2.0, "fan_in", "truncated_normal")),
    "lecun_normal": (variance_scaling, (1.0, "fan_in", "truncated_normal")),
    "lecun_uniform": (variance_scaling, (1.0, "fan_in", "uniform")),
    "orthogonal": (orthogonal, ()),
    "zeros": (zeros, ()),
    "ones": (ones, ()),
    "uniform": (random_uniform, (-0.05, 0.05)),
    "random_uniform": (random_uniform, (-0.05, 0.05)),
    "random_normal": (random_normal, (0.0, 0.05)),
    "truncated_normal": (random_truncated_normal, (0.0, 0.05)),
    "variance_scaling": (variance_scaling, (1.0, "fan_in", "truncated_normal")),
}
# Keras' initializer class -> the function that draws it; a call's arguments are its settings, in the order of
# compiler/argkinds.py's InitializerKind.CALLS
CALLED_SAMPLERS: dict[str, Callable[..., np.ndarray]] = {
    "RandomNormal": random_normal,
    "RandomUniform": random_uniform,
    "TruncatedNormal": random_truncated_normal,
    "Constant": constant,
    "VarianceScaling": variance_scaling,
    "Orthogonal": orthogonal,
}
# what each drawing function calls or reads, for programs that copy it
SAMPLER_NEEDS: dict[str, tuple[str, ...]] = {
    "variance_scaling": ("compute_fans", "truncated_normal", "TRUNCATION_STDDEV"),
    "random_truncated_normal": ("truncated_normal",),
}


# ---------------------------------------------------------------- checking a weight set against a model


def check_weights(graph: Graph, tensors: Mapping[str, Any], source: str | Path | None = None) -> None:
    """Raise one DlError naming every missing, unexpected or misshapen weight for `graph`, and the file they came
    from (`source`): with several files about, the one from another model must be told."""
    expected = {f"{node.name}.{param.name}": param.shape for node, param in graph.params}
    missing = [key for key in expected if key not in tensors]
    problems = [f"missing {key}" for key in missing]
    for key, shape in expected.items():
        if key in tensors and tuple(np.shape(tensors[key])) != shape:
            problems.append(f"{key}: expected {list(shape)}, got {list(np.shape(tensors[key]))}")
    for key in tensors:
        if key not in expected:
            hint = did_you_mean(key, missing or expected)
            # a file's own names are echoed clipped: a foreign file may name its tensors with anything
            problems.append(f"unexpected {clip(key, 80)}" + (f" ({hint})" if hint else ""))
    if problems:
        shown = problems[:8] + ([f"and {len(problems) - 8} more"] if len(problems) > 8 else [])
        where = f"{source}: " if source is not None else ""
        raise DlError(f"{where}the weights do not fit model '{graph.name}': " + "; ".join(shown))


# ---------------------------------------------------------------- safetensors files


def save_safetensors(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> None:
    """Write `tensors` with the safetensors library, through a temporary file renamed into place, so that an
    interrupted write leaves the previous file whole."""
    from safetensors import SafetensorError
    from safetensors.numpy import save

    path = Path(path)
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise DlError(f"{path}: safetensors metadata must map strings to strings")
    arrays = {}
    for key, value in tensors.items():
        if not isinstance(key, str) or not key or key == "__metadata__":
            raise DlError(f"{path}: {key!r} cannot be a safetensors tensor name")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise DlError(f"{path}: tensor '{key}' has dtype {array.dtype}, which safetensors cannot store here")
        arrays[key] = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)  # safetensors is little-endian
    try:
        blob = save(arrays, metadata=None if metadata is None else dict(metadata))
    except (SafetensorError, ValueError) as error:
        raise DlError(f"{path}: cannot encode the weights: {error}") from None
    write_atomically(path, blob, "weights")


def load_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file (with the safetensors library) into arrays and its metadata; a file that is
    missing, unreadable or malformed is a one-line DlError naming it."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise DlError(f"{path}: cannot read weights: {'not a file' if path.exists() else 'no such file'}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: np.array(handle.get_tensor(key)) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    except OSError as error:
        raise DlError(f"{path}: cannot read weights: {error.strerror or error}") from None
    except (SafetensorError, ValueError, TypeError) as error:
        detail = " ".join(str(error).split())[:300]
        raise DlError(f"{path}: not a valid safetensors file: {detail}") from None
    check_finite(tensors, str(path))
    return tensors, metadata


def check_finite(tensors: Mapping[str, Any], where: str) -> None:
    """Refuse weights that hold NaN or infinite values, naming the tensor and the first such element: trained
    from, exported or converted, they would only turn every output and loss into nan."""
    for key, value in tensors.items():
        array = np.asarray(value)
        if array.dtype.kind not in "fc":
            continue
        bad = np.argwhere(~np.isfinite(array))
        if len(bad):
            index = [int(i) for i in bad[0]]
            raise DlError(
                f"{where}: tensor '{clip(key, 80)}' holds {array[tuple(index)]} at {index} "
                f"({len(bad):,} of its {array.size:,} values are NaN or infinite)"
            )
