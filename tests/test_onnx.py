"""The ONNX backend: every op lowered, valid models, ONNX Runtime equal to PyTorch and to Keras' equations."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import EXAMPLES
from reference import keras_numpy
from test_pytorch_program import program_module

from backends.onnx import export_model, save
from backends.onnx.predict import load_input, load_session, predict, predict_files
from compiler.errors import DlError
from compiler.frontend import load, load_text
from compiler.ops import REGISTRY

BATCHES = (1, 7)
LENGTHS = (3, 6)  # for `?` dimensions
TOKENS = 10  # every Embedding below has input_dim 10
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "elu", "selu", "softplus", "swish")

# id -> (input declarations, layers): one tiny model per op, with the arguments most likely to go wrong
CASES = {
    "dense": ("x: f32[4]", "Dense(5, activation=tanh)"),
    "dense_sequence_no_bias": ("x: f32[?, 4]", "Dense(3, use_bias=false, activation=gelu)"),
    **{f"activation_{a}": ("x: f32[?, 4]", f"Activation({a})") for a in ACTIVATIONS},
    "activation_softmax_on_conv_channels": ("x: f32[5, 5, 2]", "Conv2D(3, 3)\nActivation(softmax)"),
    "relu": ("x: f32[3, 4]", "ReLU()"),
    "relu_arguments": ("x: f32[3, 4]", "ReLU(max_value=0.8, negative_slope=0.1, threshold=0.2)"),
    "leaky_relu": ("x: f32[4]", "LeakyReLU()"),
    "leaky_relu_slope": ("x: f32[4]", "LeakyReLU(0.05)"),
    "softmax_time_axis": ("x: f32[3, 4]", "Softmax(axis=1)"),
    "dropout": ("x: f32[4]", "Dropout(0.5)\nDense(2)"),
    "flatten_after_conv": ("x: f32[5, 4, 2]", "Conv2D(3, 2)\nFlatten()"),
    "reshape": ("x: f32[4, 6]", "Reshape((3, -1))"),
    "rescaling": ("x: f32[4]", "Rescaling(0.5, offset=-1)"),
    "conv1d_same_strided": ("x: f32[7, 3]", "Conv1D(4, 3, strides=2, padding=same, activation=relu)"),
    "conv1d_same_dilated_any_length": ("x: f32[?, 3]", "Conv1D(4, 3, padding=same, dilation_rate=2)"),
    "conv1d_same_strided_any_length": ("x: f32[?, 3]", "Conv1D(2, 4, strides=3, padding=same)"),
    "conv1d_valid_any_length": ("x: f32[?, 3]", "Conv1D(2, 2)"),
    "conv2d_same_asymmetric": ("x: f32[7, 6, 3]", "Conv2D(4, (3, 2), strides=(2, 1), padding=same, use_bias=false)"),
    "conv2d_same_dilated": ("x: f32[7, 7, 2]", "Conv2D(3, 3, padding=same, dilation_rate=(2, 2), activation=swish)"),
    "conv2d_valid_strided": ("x: f32[8, 7, 2]", "Conv2D(3, 3, strides=2)"),
    "conv2d_same_pointwise_strided": ("x: f32[6, 6, 2]", "Conv2D(2, 1, strides=2, padding=same)"),
    "max_pool1d_same": ("x: f32[7, 3]", "MaxPool1D(3, strides=2, padding=same)"),
    "max_pool1d_same_any_length": ("x: f32[?, 3]", "MaxPool1D(2, padding=same)"),
    "max_pool2d": ("x: f32[6, 6, 2]", "MaxPool2D(2)"),
    "max_pool2d_same": ("x: f32[7, 6, 2]", "MaxPool2D((3, 3), strides=2, padding=same)"),
    "avg_pool1d_same_any_length": ("x: f32[?, 3]", "AvgPool1D(3, strides=2, padding=same)"),
    "avg_pool2d_same_asymmetric": ("x: f32[7, 5, 2]", "AvgPool2D((2, 3), strides=(2, 2), padding=same)"),
    "avg_pool2d_valid": ("x: f32[6, 6, 2]", "AvgPool2D(3, strides=1)"),
    "global_avg_pool1d_any_length": ("x: f32[?, 3]", "GlobalAvgPool1D()"),
    "global_max_pool1d_keepdims": ("x: f32[5, 3]", "GlobalMaxPool1D(keepdims=true)"),
    "global_avg_pool2d_after_conv_keepdims": ("x: f32[5, 5, 2]", "Conv2D(3, 2)\nGlobalAvgPool2D(keepdims=true)"),
    "global_max_pool2d": ("x: f32[5, 5, 2]", "GlobalMaxPool2D()"),
    "batch_norm_vector": ("x: f32[4]", "BatchNormalization()"),
    "batch_norm_after_conv": ("x: f32[5, 5, 2]", "Conv2D(3, 3, padding=same)\nBatchNormalization(center=false)"),
    "batch_norm_sequence": ("x: f32[?, 4]", "BatchNormalization(scale=false, epsilon=0.01)"),
    "layer_norm": ("x: f32[?, 4]", "LayerNormalization()"),
    "layer_norm_flags": ("x: f32[4]", "LayerNormalization(center=false, epsilon=0.1)"),
    "embedding": ("x: i64[?]", "Embedding(10, 4)"),
    "embedding_i32": ("x: i32[5]", "Embedding(10, 3)\nFlatten()"),
    "simple_rnn": ("x: f32[?, 3]", "SimpleRNN(4)"),
    "simple_rnn_relu_sequences": ("x: f32[?, 3]", "SimpleRNN(4, activation=relu, return_sequences=true)"),
    "lstm": ("x: f32[?, 3]", "LSTM(4)"),
    "lstm_sequences_no_bias": ("x: f32[5, 3]", "LSTM(4, return_sequences=true, use_bias=false)"),
    "lstm_swish_scan": ("x: f32[?, 3]", "LSTM(4, activation=swish, recurrent_activation=tanh)"),
    "gru": ("x: f32[?, 3]", "GRU(4)"),
    "gru_elu_sequences": (
        "x: f32[?, 3]",
        "GRU(4, activation=elu, recurrent_activation=softplus, return_sequences=true)",
    ),
    "simple_rnn_elu": ("x: f32[?, 3]", "SimpleRNN(4, activation=elu)"),
    "simple_rnn_softplus": ("x: f32[?, 3]", "SimpleRNN(4, activation=softplus)"),
    "gru_linear": ("x: f32[?, 3]", "GRU(3, activation=linear, use_bias=false)"),
    "gru_selu_sequences_scan": ("x: f32[?, 3]", "GRU(4, activation=selu, return_sequences=true)"),
    "bidirectional_lstm": ("x: f32[?, 3]", "Bidirectional(LSTM(4))"),
    "bidirectional_gru_sequences_ave": ("x: f32[?, 3]", "Bidirectional(GRU(3, return_sequences=true), merge_mode=ave)"),
    "bidirectional_simple_rnn_mul": ("x: f32[?, 3]", "Bidirectional(SimpleRNN(3), merge_mode=mul)"),
    "bidirectional_lstm_sequences_sum": (
        "x: f32[?, 3]",
        "Bidirectional(LSTM(3, return_sequences=true), merge_mode=sum)",
    ),
    "bidirectional_gru_gelu_sequences_scan": (
        "x: f32[?, 3]",
        "Bidirectional(GRU(3, activation=gelu, return_sequences=true))",
    ),
    "bidirectional_rnn_softmax_sum_scan": (
        "x: f32[?, 3]",
        "Bidirectional(SimpleRNN(3, activation=softmax), merge_mode=sum)",
    ),
    "bidirectional_lstm_sigmoid_mul_scan": (
        "x: f32[?, 3]",
        "Bidirectional(LSTM(2, recurrent_activation=swish, use_bias=false), merge_mode=mul)",
    ),
    **{
        f"merge_{op.lower()}": ("x: f32[4]", f"a: Dense(3)\nfrom x\nb: Dense(3)\nfrom x\nDense(3)\n{op}(a, b)")
        for op in ("Add", "Multiply", "Average", "Maximum", "Minimum")
    },
    "merge_subtract": ("x: f32[4]", "a: Dense(3)\nfrom x\nDense(3)\nSubtract(a)"),
    "merge_channels_first": ("x: f32[5, 5, 2]", "a: Conv2D(3, 3, padding=same)\nConv2D(3, 3, padding=same)\nAdd(a)"),
    "merge_mixed_layouts": ("x: f32[5, 5, 2]", "a: Conv2D(2, 1)\nfrom x\nMaximum(a)"),
    "merge_two_inputs": ("x: f32[4]\n  input y: f32[4]", "Subtract(y)"),
    "concatenate_time_axis": ("x: f32[3, 4]", "a: Dense(4)\nfrom x\nConcatenate(x, a, axis=1)"),
    "concatenate_after_conv": ("x: f32[5, 5, 2]", "a: Conv2D(3, 3, padding=same)\nfrom x\nConcatenate(a)"),
}


def case_source(inputs: str, layers: str) -> str:
    body = "\n    ".join(layers.splitlines())
    return f"model T {{\n  input {inputs}\n  layers {{\n    {body}\n  }}\n  loss mse\n  optimizer SGD()\n}}\n"


def case_graph(case: str):
    (graph,) = load_text(case_source(*CASES[case]), f"{case}.dl")
    return graph


CASE_GRAPHS = {case: case_graph(case) for case in CASES}
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


# ---------------------------------------------------------------- coverage


def test_the_cases_cover_every_op():
    used = {node.op for graph in CASE_GRAPHS.values() for node in graph.nodes}
    assert used == set(REGISTRY)


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


@pytest.mark.parametrize("case", list(CASES))
def test_op_matches_pytorch(case, tmp_path):
    check_against_pytorch(CASE_GRAPHS[case], tmp_path)


@pytest.mark.parametrize("example", list(EXAMPLE_GRAPHS))
def test_example_matches_pytorch(example, tmp_path):
    check_against_pytorch(EXAMPLE_GRAPHS[example], tmp_path)


@pytest.mark.parametrize("case", list(CASES))
def test_op_matches_keras_equations(case):
    graph = CASE_GRAPHS[case]
    weights = random_weights(graph, seed=2)
    model = exported(graph, weights)
    for arrays in input_sets(graph):
        assert_close(run_onnx(model, graph, arrays), run_keras_equations(graph, weights, arrays))


@pytest.mark.parametrize("example", list(EXAMPLE_GRAPHS))
def test_example_matches_keras_equations(example):
    graph = EXAMPLE_GRAPHS[example]
    weights = random_weights(graph, seed=3)
    model = exported(graph, weights)
    for arrays in input_sets(graph):
        assert_close(run_onnx(model, graph, arrays), run_keras_equations(graph, weights, arrays))


def test_opset_is_a_parameter():
    graph = CASE_GRAPHS["global_avg_pool2d_after_conv_keepdims"]
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
    none = {p.key for p in exported(CASE_GRAPHS["dense"], random_weights(CASE_GRAPHS["dense"])).metadata_props}
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
