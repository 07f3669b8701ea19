"""The ONNX backend on whole models: the examples valid, ONNX Runtime equal to PyTorch and to Keras' equations at
several batch sizes and lengths; the model's interface, metadata, opsets and `predict`. (Every op, at every
catalogue case, is held to the NumPy reference of Keras in tests/test_ops.py.)"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from catalogue import CASES
from conftest import EXAMPLES
from reference import keras_numpy
from test_pytorch_program import program_module

from backends.onnx import export_model, save
from backends.onnx.predict import load_input, load_session, predict, predict_files
from compiler.errors import DlError
from compiler.frontend import load, load_text

BATCHES = (1, 7)
LENGTHS = (3, 6)  # for `?` dimensions
TOKENS = 10  # every Embedding in the examples has input_dim 10 or more


def case_source(inputs: str, layers: str) -> str:
    body = "\n    ".join(layers.splitlines())
    return f"model T {{\n  input {inputs}\n  layers {{\n    {body}\n  }}\n  loss mse\n  optimizer SGD()\n}}\n"


def case_graph(case_id: str):
    """A catalogue case's graph (tests/catalogue.py)."""
    (case,) = [case for case in CASES if case.id == case_id]
    (graph,) = load_text(case.text(), f"{case.id}.dl")
    return graph


EXAMPLE_GRAPHS = {path.stem: load(path)[0] for path in EXAMPLES}


def random_weights(graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Random normal canonical weights (nonzero biases and moving means); variances kept positive."""
    rng = np.random.default_rng(seed)
    weights = {}
    for node, param in graph.params:
        if param.name.endswith("moving_variance"):
            value = rng.uniform(0.5, 1.5, param.shape)
        else:
            value = rng.standard_normal(param.shape) * 0.5
        weights[f"{node.name}.{param.name}"] = value.astype(np.float32)
    return weights


def input_sets(graph):
    """Input arrays at every batch size and, where the model has `?` dimensions, at two lengths."""
    rng = np.random.default_rng(1)
    lengths = LENGTHS if any(None in v.shape for v in graph.inputs) else LENGTHS[:1]
    for batch in BATCHES:
        for length in lengths:
            arrays = []
            for value in graph.inputs:
                shape = (batch, *[length if d is None else d for d in value.shape])
                if value.dtype.startswith("i"):
                    arrays.append(rng.integers(0, TOKENS, shape).astype(np.dtype(value.dtype.replace("i", "int"))))
                else:
                    arrays.append(rng.standard_normal(shape).astype(np.float32))
            yield arrays


def exported(graph, weights) -> onnx.ModelProto:
    """Export and hold the model to the contract: full checker and strict shape inference."""
    model = export_model(graph, weights)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    return model


def run_onnx(model: onnx.ModelProto, graph, arrays) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {v.name: a for v, a in zip(graph.inputs, arrays, strict=True)})[0]


def run_keras_equations(graph, weights, arrays) -> np.ndarray:
    """The tests' float64 NumPy transcription of Keras, node by node."""
    values = {v.name: a for v, a in zip(graph.inputs, arrays, strict=True)}
    for node in graph.nodes:
        own = {p.name: weights[f"{node.name}.{p.name}"] for p in node.params}
        values[node.output.name] = keras_numpy.apply_layer(
            node.op, [values[v.name] for v in node.inputs], own, node.args
        )
    return values[graph.output.name]


def assert_close(actual, expected) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- equivalence


def check_against_pytorch(graph, tmp_path) -> None:
    weights = random_weights(graph)
    model = exported(graph, weights)
    module, _ = program_module(graph, tmp_path)
    torch_model = module.MODEL_CLASS()
    module.load_canonical(torch_model, weights)
    torch_model.eval()
    for arrays in input_sets(graph):
        with torch.inference_mode():
            expected = torch_model(*[torch.from_numpy(a) for a in arrays]).numpy()
        assert_close(run_onnx(model, graph, arrays), expected)


@pytest.mark.parametrize("example", list(EXAMPLE_GRAPHS))
def test_example_matches_pytorch(example, tmp_path):
    check_against_pytorch(EXAMPLE_GRAPHS[example], tmp_path)


@pytest.mark.parametrize("example", list(EXAMPLE_GRAPHS))
def test_example_matches_keras_equations(example):
    graph = EXAMPLE_GRAPHS[example]
    weights = random_weights(graph, seed=3)
    model = exported(graph, weights)
    for arrays in input_sets(graph):
        assert_close(run_onnx(model, graph, arrays), run_keras_equations(graph, weights, arrays))


def test_opset_is_a_parameter():
    graph = case_graph("global_avg_pool2d_after_conv_keepdims")
    weights = random_weights(graph)
    arrays = next(input_sets(graph))
    newest = onnx.defs.onnx_opset_version()
    for opset in (17, 18, min(newest, 21)):
        model = export_model(graph, weights, opset=opset)
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version == opset
        assert_close(run_onnx(model, graph, arrays), run_keras_equations(graph, weights, arrays))
    with pytest.raises(DlError, match="opset"):
        export_model(graph, weights, opset=11)


# ---------------------------------------------------------------- the model's interface


def test_inputs_keep_their_names_and_layout_with_dynamic_dimensions():
    graph = EXAMPLE_GRAPHS["digits_lstm"]
    model = exported(graph, random_weights(graph))
    (x,) = model.graph.input
    dims = x.type.tensor_type.shape.dim
    assert x.name == "rows"
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", "rows_dim1", 8]
    assert {i.name for i in model.graph.initializer} >= {"lstm.kernel", "lstm.recurrent_kernel", "dense.kernel"}


def test_metadata():
    graph = EXAMPLE_GRAPHS["iris_mlp"]
    props = {p.key: p.value for p in exported(graph, random_weights(graph)).metadata_props}
    assert props["model_name"] == "IrisMLP"
    assert len(props["source_sha256"]) == 64
    assert props["dlc_version"]
    assert json.loads(props["class_names"]) == ["setosa", "versicolor", "virginica"]
    digits = {p.key: p.value for p in exported(*weighted("digits_mlp")).metadata_props}
    assert json.loads(digits["class_names"]) == [str(k) for k in range(10)]
    dense = case_graph("dense")
    none = {p.key for p in exported(dense, random_weights(dense)).metadata_props}
    assert "class_names" not in none


def weighted(example: str):
    graph = EXAMPLE_GRAPHS[example]
    return graph, random_weights(graph)


def test_weights_that_do_not_fit_are_a_dl_error():
    graph, weights = weighted("iris_mlp")
    del weights["dense.bias"]
    with pytest.raises(DlError, match="missing dense.bias"):
        export_model(graph, weights)


def test_float64_inputs_are_cast_at_the_edge():
    (graph,) = load_text(case_source("x: f64[4]", "Dense(3, activation=softmax)"))
    weights = random_weights(graph)
    arrays = [np.random.default_rng(0).standard_normal((2, 4))]
    output = run_onnx(exported(graph, weights), graph, arrays)
    assert output.dtype == np.float32
    assert_close(output, run_keras_equations(graph, weights, arrays).astype(np.float32))


# ---------------------------------------------------------------- predict


@pytest.fixture
def saved_convnet(tmp_path):
    graph, weights = weighted("digits_convnet")
    path = tmp_path / "convnet.onnx"
    save(export_model(graph, weights), path)
    return graph, weights, path


def test_predict_runs_a_saved_model_from_npy_and_csv(saved_convnet, tmp_path):
    graph, weights, path = saved_convnet
    x = np.random.default_rng(0).standard_normal((3, 8, 8, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "x.csv", x.reshape(3, -1), delimiter=",", header=",".join(f"p{k}" for k in range(64)))
    expected = run_keras_equations(graph, weights, [x])
    assert_close(predict(load_session(path), [load_input(tmp_path / "x.npy")]), expected)
    assert_close(predict_files(path, [tmp_path / "x.csv"]), expected)
    assert_close(predict(load_session(path), {"image": x.astype(np.float64)}), expected)


def one_line_error(call, *args, match: str) -> str:
    with pytest.raises(DlError, match=match) as error:
        call(*args)
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_predict_names_the_expected_shape(saved_convnet):
    session = load_session(saved_convnet[2])
    message = one_line_error(predict, session, [np.zeros((2, 8, 8), np.float32)], match="expects shape")
    assert "(batch, 8, 8, 1)" in message and "(2, 8, 8)" in message


def test_predict_refuses_the_wrong_dtype(saved_convnet):
    session = load_session(saved_convnet[2])
    one_line_error(predict, session, [np.zeros((2, 8, 8, 1), np.complex64)], match="expects float32")
    one_line_error(predict, session, [np.full((2, 8, 8, 1), "a")], match="expects float32")


def test_predict_refuses_floats_for_token_ids(tmp_path):
    (graph,) = load_text(case_source("x: i64[?]", "Embedding(10, 4)"))
    path = tmp_path / "tokens.onnx"
    save(export_model(graph, random_weights(graph)), path)
    session = load_session(path)
    message = one_line_error(predict, session, [np.zeros((2, 5), np.float32)], match="expects int64")
    assert "(batch, ?)" in message
    assert predict(session, [np.zeros((2, 5), np.int32)]).shape == (2, 5, 4)


def test_predict_reports_a_missing_file(tmp_path):
    one_line_error(load_session, tmp_path / "nothing.onnx", match="no such file")
    one_line_error(load_input, tmp_path / "nothing.npy", match="no such file")


def test_predict_reports_a_corrupt_model(tmp_path, saved_convnet):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07 this is not a protobuf \xff\xfe")
    one_line_error(load_session, corrupt, match="not a valid ONNX model")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(saved_convnet[2].read_bytes()[:200])
    one_line_error(load_session, truncated, match="not a valid ONNX model")


def test_predict_reports_an_unavailable_provider(saved_convnet):
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    one_line_error(load_session, saved_convnet[2], "cuda", match="provider 'cuda' is not available")
    one_line_error(load_session, saved_convnet[2], "tpu", match="unknown provider")


def test_predict_reports_bad_csv(tmp_path):
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    one_line_error(load_input, tmp_path / "ragged.csv", match="different numbers of values")
    (tmp_path / "words.csv").write_text("1,2\n3,x\n")
    one_line_error(load_input, tmp_path / "words.csv", match="must be a number")
