"""Canonical weights: safetensors files through the library (exact round trips, one-line errors naming the
file, writes that replace whole), and seeded init against Keras."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from compiler.errors import DlError
from compiler.frontend import load, load_text
from compiler.weights import (
    TRUNCATION_STDDEV,
    check_weights,
    initial_weights,
    load_safetensors,
    sample,
    save_safetensors,
)

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.dl"))
GRAPHS = [graph for path in EXAMPLES for graph in load(path)]


@pytest.fixture(scope="module")
def st():
    import safetensors.numpy

    return safetensors.numpy


def mixed_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "dense_1.kernel": rng.standard_normal((4, 3)).astype(np.float32),
        "dense_1.bias": np.zeros(3, np.float32),
        "a.half": rng.standard_normal((2, 5)).astype(np.float16),
        "a.double": rng.standard_normal(7),
        "ids.i32": np.arange(5, dtype=np.int32),
        "ids.i64": np.arange(6, dtype=np.int64).reshape(2, 3),
        "bytes": np.arange(3, dtype=np.uint8),
        "mask": np.array([True, False, True]),
        "scalar": np.array(2.5, np.float32),
        "empty": np.zeros((0, 4), np.float32),
    }


def assert_same(left: dict, right: dict) -> None:
    assert sorted(left) == sorted(right)
    for key in left:
        assert left[key].dtype == right[key].dtype, key
        np.testing.assert_array_equal(left[key], right[key], err_msg=key)


def model(layers: str, input_type: str = "f32[6]") -> object:
    return load_text(f"model M {{\n  input x: {input_type}\n  layers {{\n    {layers}\n  }}\n}}\n")[0]


# ---------------------------------------------------------------- safetensors codec


@pytest.mark.parametrize("metadata", [None, {}, {"format": "np"}])
def test_our_files_are_byte_identical_to_the_reference(tmp_path, st, metadata):
    tensors = mixed_tensors()
    save_safetensors(tmp_path / "ours.safetensors", tensors, metadata)
    assert (tmp_path / "ours.safetensors").read_bytes() == st.save(tensors, metadata=metadata)
    assert_same(st.load_file(tmp_path / "ours.safetensors"), tensors)


def test_reference_files_load_and_round_trip(tmp_path, st):
    tensors = mixed_tensors()
    st.save_file(tensors, tmp_path / "ref.safetensors", metadata={"format": "np"})
    loaded, metadata = load_safetensors(tmp_path / "ref.safetensors")
    assert_same(loaded, tensors)
    assert metadata == {"format": "np"}
    save_safetensors(tmp_path / "again.safetensors", loaded, metadata)
    assert (tmp_path / "again.safetensors").read_bytes() == (tmp_path / "ref.safetensors").read_bytes()


def test_metadata_round_trips_both_ways(tmp_path, st):
    from safetensors import safe_open

    metadata = {"seed": "0", "model": "DigitsMLP", "dlc": "0.1.0", "note": 'naïve / "quoted"'}
    save_safetensors(tmp_path / "w.safetensors", {"x": np.ones(2, np.float32)}, metadata)
    assert load_safetensors(tmp_path / "w.safetensors")[1] == metadata
    with safe_open(tmp_path / "w.safetensors", "np") as handle:
        assert handle.metadata() == metadata
    st.save_file({"x": np.ones(2, np.float32)}, tmp_path / "r.safetensors", metadata=metadata)
    assert load_safetensors(tmp_path / "r.safetensors")[1] == metadata


def test_arrays_are_stored_little_endian_and_loaded_writable(tmp_path, st):
    big = np.arange(6, dtype=">f4").reshape(2, 3)
    save_safetensors(tmp_path / "w.safetensors", {"big": big, "strided": np.arange(10.0)[::2]})
    reference = st.load_file(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(reference["big"], big)
    np.testing.assert_array_equal(reference["strided"], np.arange(10.0)[::2])
    ours, _ = load_safetensors(tmp_path / "w.safetensors")
    assert ours["big"].flags.writeable and ours["big"].dtype == np.float32


def test_empty_file_round_trips(tmp_path, st):
    save_safetensors(tmp_path / "e.safetensors", {})
    assert (tmp_path / "e.safetensors").read_bytes() == st.save({})
    assert load_safetensors(tmp_path / "e.safetensors") == ({}, {})


def file_bytes(header: dict | bytes, data: bytes = b"", size: int | None = None) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return (len(text) if size is None else size).to_bytes(8, "little") + text + data


GOOD = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
CORRUPT = {
    "shorter than the length": (b"\x01\x02", "header too small"),
    "truncated header": (file_bytes(GOOD, bytes(8))[:30], "invalid header length"),
    "truncated data": (file_bytes(GOOD, bytes(5)), "not fully covered"),
    "huge header length": (file_bytes(GOOD, bytes(8), size=2**40), "header too large"),
    "bad JSON": (file_bytes(b'{"w": {"dtype": "F32",', bytes(8)), "invalid JSON"),
    "not UTF-8": (file_bytes(b'{"\xff": 1}', b""), "invalid UTF-8"),
    "not an object": (file_bytes(b"[1, 2]", b""), "expected struct"),
    "duplicate key": (file_bytes(b'{"w": {}, "w": {}}', b""), "missing field"),
    "unknown dtype": (file_bytes({"w": {**GOOD["w"], "dtype": "Q7"}}, bytes(8)), "unknown variant `Q7`"),
    "offsets out of range": (file_bytes({"w": {**GOOD["w"], "data_offsets": [0, 64]}}, bytes(8)), "offset"),
    "offsets reversed": (file_bytes({"w": {**GOOD["w"], "data_offsets": [8, 0]}}, bytes(8)), "invalid offset"),
    "gap": (file_bytes({"w": {**GOOD["w"], "data_offsets": [4, 12]}}, bytes(12)), "invalid offset"),
    "trailing bytes": (file_bytes(GOOD, bytes(12)), "not fully covered"),
    "shape and bytes disagree": (file_bytes({"w": {**GOOD["w"], "shape": [3]}}, bytes(8)), "invalid shape"),
    "negative dim": (file_bytes({"w": {**GOOD["w"], "shape": [-2]}}, bytes(8)), "expected usize"),
    "missing field": (file_bytes({"w": {"dtype": "F32", "shape": [2]}}, bytes(8)), "missing field `data_offsets`"),
    "bad metadata": (file_bytes({"__metadata__": {"a": 1}}, b""), "expected a string"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_files_raise_dl_error_naming_the_file(tmp_path, case):
    blob, message = CORRUPT[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    with pytest.raises(DlError) as caught:
        load_safetensors(path)
    assert str(path) in caught.value.message and "not a valid safetensors file" in caught.value.message
    assert message in caught.value.message
    assert "\n" not in caught.value.message


def test_unreadable_and_unwritable_inputs_raise_dl_error(tmp_path):
    with pytest.raises(DlError, match="cannot read weights"):
        load_safetensors(tmp_path / "missing.safetensors")
    with pytest.raises(DlError, match="cannot store"):
        save_safetensors(tmp_path / "c.safetensors", {"c": np.zeros(2, np.complex64)})
    with pytest.raises(DlError, match="strings to strings"):
        save_safetensors(tmp_path / "m.safetensors", {}, {"seed": 0})
    with pytest.raises(DlError, match="tensor name"):
        save_safetensors(tmp_path / "n.safetensors", {"__metadata__": np.zeros(1)})


# ---------------------------------------------------------------- initial weights of whole models


@pytest.mark.parametrize("graph", GRAPHS, ids=[g.name for g in GRAPHS])
def test_every_example_gets_every_weight(graph):
    weights = initial_weights(graph, seed=0)
    assert list(weights) == graph.weight_names()
    for node, param in graph.params:
        value = weights[f"{node.name}.{param.name}"]
        assert value.shape == param.shape and value.dtype == np.float32
        if param.initializer == "zeros" and not param.unit_forget_bias:
            assert not value.any()
        if param.initializer == "ones":
            assert (value == 1).all()
    check_weights(graph, weights)
    assert_same(initial_weights(graph, seed=0), weights)
    other = initial_weights(graph, seed=1)
    random = [k for k, (_, p) in zip(weights, graph.params, strict=True) if p.initializer not in ("zeros", "ones")]
    assert random and all(not np.array_equal(weights[k], other[k]) for k in random)


def test_adding_a_layer_keeps_the_other_layers_weights():
    small = initial_weights(model("first: Dense(8)\n    last: Dense(2)"), seed=7)
    large = initial_weights(model("first: Dense(8)\n    Dense(5)\n    last: Dense(2)"), seed=7)
    np.testing.assert_array_equal(small["first.kernel"], large["first.kernel"])
    assert small["last.kernel"].shape == (8, 2) and large["last.kernel"].shape == (5, 2)


def test_bad_seed_and_orthogonal_vector_are_dl_errors():
    graph = model("Dense(3, bias_initializer=orthogonal)")
    with pytest.raises(DlError, match="non-negative"):
        initial_weights(graph, seed=-1)
    with pytest.raises(DlError, match=r"cannot initialise dense\.bias: the orthogonal initializer needs rank 2"):
        initial_weights(graph, seed=0)


# ---------------------------------------------------------------- distributions against Keras

SCALING = {  # initializer: (fan used for the variance, scale, Keras class name)
    "glorot_uniform": ("avg", 1.0, "GlorotUniform"),
    "glorot_normal": ("avg", 1.0, "GlorotNormal"),
    "he_uniform": ("in", 2.0, "HeUniform"),
    "he_normal": ("in", 2.0, "HeNormal"),
    "lecun_normal": ("in", 1.0, "LecunNormal"),
}


def bound_and_std(name: str, shape: tuple[int, ...]) -> tuple[float, float]:
    """The exact support bound and the final standard deviation Keras documents for a shape."""
    if name == "uniform":
        return 0.05, 0.05 / math.sqrt(3)
    which, scale, _ = SCALING[name]
    receptive = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    std = math.sqrt(scale / (fan_in if which == "in" else (fan_in + fan_out) / 2))
    if name.endswith("uniform"):
        return std * math.sqrt(3), std
    return 2 * std / TRUNCATION_STDDEV, std


@pytest.mark.parametrize("shape", [(200, 300), (3, 3, 16, 32)])
@pytest.mark.parametrize("name", [*SCALING, "uniform"])
def test_distribution_matches_keras(keras, name, shape):
    ours = sample(name, shape, np.random.default_rng(3))
    initializer = keras.initializers.RandomUniform(seed=3) if name == "uniform" else None
    initializer = initializer or getattr(keras.initializers, SCALING[name][2])(seed=3)
    theirs = np.asarray(initializer(shape))
    bound, std = bound_and_std(name, shape)
    tolerance = 4 / math.sqrt(math.prod(shape))  # a few standard errors of the sample std
    for values in (ours, theirs):
        assert values.shape == shape and values.dtype == np.float32
        assert np.abs(values).max() <= np.float32(bound) * (1 + 1e-6)
        assert min(-values.min(), values.max()) > bound * 0.97
        assert abs(values.mean()) < tolerance * std
        assert abs(values.std() / std - 1) < tolerance
    assert abs(ours.std() / theirs.std() - 1) < 1.5 * tolerance


def orthonormality_error(values: np.ndarray) -> float:
    flat = values.reshape(-1, values.shape[-1])
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    return float(np.abs(small - np.eye(len(small))).max())


@pytest.mark.parametrize("shape", [(32, 128), (16, 48), (32, 32), (96, 24), (3, 3, 4, 8)])
def test_orthogonal_matches_keras(keras, shape):
    ours = sample("orthogonal", shape, np.random.default_rng(5))
    theirs = np.asarray(keras.initializers.Orthogonal(seed=5)(shape))
    assert ours.shape == theirs.shape == shape and ours.dtype == np.float32
    assert orthonormality_error(ours) < 1e-5 and orthonormality_error(theirs) < 1e-5
    expected_std = 1 / math.sqrt(max(math.prod(shape[:-1]), shape[-1]))
    assert abs(ours.std() / expected_std - 1) < 0.02 and abs(theirs.std() / expected_std - 1) < 0.02


def test_lstm_forget_bias_block_matches_keras(keras):
    units = 256
    graph = model(f"LSTM({units}, bias_initializer=glorot_uniform)", "f32[5, 8]")
    ours = initial_weights(graph, seed=0)["lstm.bias"]
    layer = keras.layers.LSTM(units, bias_initializer="glorot_uniform")
    layer.build((None, 5, 8))
    theirs = np.asarray(layer.cell.bias)
    for bias in (ours, theirs):
        assert (bias[units : 2 * units] == 1).all()
        # Keras draws the i block as a [units] vector and c, o as one [2 * units] vector: different limits
        assert 0.97 * math.sqrt(3 / units) < np.abs(bias[:units]).max() <= math.sqrt(3 / units)
        assert 0.97 * math.sqrt(3 / (2 * units)) < np.abs(bias[2 * units :]).max() <= math.sqrt(3 / (2 * units))
    default = initial_weights(model("LSTM(4)", "f32[5, 8]"), seed=0)["lstm.bias"]
    np.testing.assert_array_equal(default, [0] * 4 + [1] * 4 + [0] * 8)
    plain = initial_weights(model("LSTM(4, unit_forget_bias=false)", "f32[5, 8]"), seed=0)["lstm.bias"]
    assert not plain.any()


# ---------------------------------------------------------------- check_weights


def test_check_weights_names_every_problem():
    graph = model("Dense(10)\n    Dense(3)")
    weights = initial_weights(graph, seed=0)
    check_weights(graph, weights)
    weights["dense_1.kernel"] = weights["dense_1.kernel"].T
    weights["dense_l.bias"] = weights.pop("dense_1.bias")
    with pytest.raises(DlError) as caught:
        check_weights(graph, weights)
    message = caught.value.message
    assert message.startswith("the weights do not fit model 'M': missing dense_1.bias; ")
    assert "dense_1.kernel: expected [10, 3], got [3, 10]" in message
    assert "unexpected dense_l.bias (did you mean 'dense_1.bias'?)" in message
    assert "\n" not in message


def test_check_weights_caps_a_long_list():
    graph = model("Dense(3)")
    with pytest.raises(DlError, match=r"missing dense\.kernel; missing dense\.bias; unexpected w0; .* and 4 more$"):
        check_weights(graph, {f"w{i}": np.zeros(1) for i in range(10)})


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "w.safetensors"
    save_safetensors(path, {"x": np.ones(2, np.float32)})
    (tmp_path / ".w.safetensors.partial").mkdir()  # the temporary file cannot be written
    with pytest.raises(DlError, match="cannot write weights"):
        save_safetensors(path, {"x": np.zeros(3, np.float32)})
    np.testing.assert_array_equal(load_safetensors(path)[0]["x"], np.ones(2, np.float32))
