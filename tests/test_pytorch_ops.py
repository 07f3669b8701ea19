"""The PyTorch backend against the NumPy reference of Keras (`tests/reference/`), op by op and optimizer by optimizer.

Each forward case is a tiny `.dl` model built around one registry op, with non-default arguments where they
change the computation. The generated program gets random canonical weights (random normal, so biases and
moving statistics are far from their initial values) and runs in eval mode; the reference walks the same
graph node by node with `keras_numpy.apply_layer` in float64 on the same float32-rounded weights and inputs.
Every optimizer in `compiler.training.OPTIMIZERS` runs 5 steps through the class the generated program uses,
against `optimizers_numpy`.
"""

from __future__ import annotations

import importlib.util
import math
import zlib
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from reference import keras_numpy as K
from reference import optimizers_numpy as O

from backends.pytorch.emit import emit_program
from compiler.argkinds import ACTIVATIONS
from compiler.frontend import load_text
from compiler.ops import REGISTRY
from compiler.training import OPTIMIZERS

ATOL = 1e-5  # forward: float32 PyTorch vs the float64 reference
OPT_ATOL = 1e-6  # weights after 5 optimizer steps
BATCH = 3


# ---------------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Case:
    """One forward case: `op` is the registry op it is about (it must appear in the model)."""

    id: str
    op: str
    inputs: str  # `input` declarations, one per line
    layers: str
    length: int = 5  # the size of a `?` dimension
    loss: str = "mse"
    scale: float = 1.0  # input scale, to reach ReLU's max_value and the like

    def text(self, optimizer: str = "SGD()") -> str:
        return (
            f"model Case {{\n{self.inputs}\n  layers {{\n{self.layers}\n  }}\n"
            f"  loss {self.loss}\n  optimizer {optimizer}\n}}\n"
        )


def build(text: str, tmp_path, name: str):
    (graph,) = load_text(text, f"{name}.dl")
    path = tmp_path / f"{name}.py"
    path.write_text(emit_program(graph))
    spec = importlib.util.spec_from_file_location(f"dlc_ops_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return graph, module


def random_weights(graph, rng) -> dict[str, np.ndarray]:
    """Random canonical weights, float32: normal, except positive variances."""
    tensors = {}
    for node, param in graph.params:
        if param.name.endswith("moving_variance"):
            value = rng.uniform(0.5, 1.5, param.shape)
        else:
            value = rng.normal(size=param.shape)
        tensors[f"{node.name}.{param.name}"] = value.astype(np.float32)
    return tensors


def random_inputs(graph, rng, case: Case) -> list[np.ndarray]:
    arrays = []
    for value in graph.inputs:
        shape = (BATCH, *(case.length if d is None else d for d in value.shape))
        if value.dtype.startswith("i"):
            arrays.append(rng.integers(0, 10, shape).astype(np.int64 if value.dtype == "i64" else np.int32))
        else:
            arrays.append((rng.normal(size=shape) * case.scale).astype(np.float32))
    return arrays


def reference_values(graph, weights: dict[str, np.ndarray], inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every value of the graph in float64 through `keras_numpy.apply_layer` (inference), node by node."""
    values = {
        value.name: (array if value.dtype.startswith("i") else array.astype(np.float64))
        for value, array in zip(graph.inputs, inputs, strict=True)
    }
    for node in graph.nodes:
        own = {p.name: weights[f"{node.name}.{p.name}"].astype(np.float64) for p in node.params}
        values[node.output.name] = K.apply_layer(node.op, [values[v.name] for v in node.inputs], own, node.args)
    return values


def reference_forward(graph, weights: dict[str, np.ndarray], inputs: list[np.ndarray]) -> np.ndarray:
    return reference_values(graph, weights, inputs)[graph.output.name]


def dl_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# ---------------------------------------------------------------------------------------------- forward cases

VEC = "  input x: f32[6]"
SEQ = "  input x: f32[5, 3]"
IMG = "  input x: f32[6, 6, 2]"


def pool_cases(op: str, spatial: int) -> list[Case]:
    def shape(n: int) -> str:
        return f"  input x: f32[{n}, 3]" if spatial == 1 else f"  input x: f32[{n}, {n}, 2]"

    cases = [
        Case(f"{op}-default", op, shape(6), f"{op}()"),
        Case(f"{op}-valid-3-stride2-odd", op, shape(7), f"{op}(3, strides=2)"),
        Case(f"{op}-same-2-stride2-even", op, shape(6), f"{op}(2, strides=2, padding=same)"),
        Case(f"{op}-same-2-stride2-odd", op, shape(7), f"{op}(2, strides=2, padding=same)"),
        Case(f"{op}-same-3-stride2-even", op, shape(6), f"{op}(3, strides=2, padding=same)"),
        Case(f"{op}-same-3-stride2-odd", op, shape(7), f"{op}(3, strides=2, padding=same)"),
        Case(f"{op}-same-2-stride1", op, shape(5), f"{op}(2, strides=1, padding=same)"),
        Case(f"{op}-same-3-stride1", op, shape(5), f"{op}(3, strides=1, padding=same)"),
    ]
    if spatial == 1:
        cases += [
            *(
                Case(
                    f"{op}-same-{k}-stride2-any-length-{n}",
                    op,
                    "  input x: f32[?, 3]",
                    f"{op}({k}, 2, padding=same)",
                    n,
                )
                for k in (2, 3)
                for n in (6, 7)
            ),
            Case(f"{op}-same-3-stride1-any-length", op, "  input x: f32[?, 3]", f"{op}(3, 1, padding=same)", 6),
        ]
    else:
        cases += [
            Case(f"{op}-same-rect", op, "  input x: f32[7, 6, 2]", f"{op}((3, 2), strides=(2, 1), padding=same)"),
            Case(f"{op}-after-conv", op, IMG, f"Conv2D(3, 3, padding=same)\n{op}(3, strides=2, padding=same)"),
        ]
    return cases


def conv_cases(op: str, spatial: int) -> list[Case]:
    def shape(n: int) -> str:
        return f"  input x: f32[{n}, 3]" if spatial == 1 else f"  input x: f32[{n}, {n}, 2]"

    cases = [
        Case(f"{op}-valid", op, shape(6), f"{op}(4, 3)"),
        Case(f"{op}-valid-stride2-relu", op, shape(7), f"{op}(4, 3, strides=2, activation=relu)"),
        Case(f"{op}-same-3-stride1", op, shape(6), f"{op}(4, 3, padding=same)"),
        Case(f"{op}-same-2-stride1", op, shape(6), f"{op}(4, 2, padding=same)"),
        Case(f"{op}-same-3-stride2-even", op, shape(6), f"{op}(4, 3, strides=2, padding=same)"),
        Case(f"{op}-same-3-stride2-odd", op, shape(7), f"{op}(4, 3, strides=2, padding=same)"),
        Case(f"{op}-same-2-stride2-even", op, shape(6), f"{op}(4, 2, strides=2, padding=same)"),
        Case(f"{op}-same-2-stride2-odd", op, shape(7), f"{op}(4, 2, strides=2, padding=same)"),
        Case(f"{op}-same-dilated", op, shape(7), f"{op}(4, 3, padding=same, dilation_rate=2)"),
        Case(f"{op}-valid-dilated", op, shape(7), f"{op}(4, 2, dilation_rate=3)"),
        Case(f"{op}-no-bias-tanh", op, shape(6), f"{op}(4, 3, use_bias=false, activation=tanh)"),
        Case(f"{op}-softmax", op, shape(5), f"{op}(4, 2, padding=same, activation=softmax)"),
    ]
    if spatial == 1:
        cases += [
            *(
                Case(
                    f"{op}-same-{k}-stride2-any-length-{n}",
                    op,
                    "  input x: f32[?, 3]",
                    f"{op}(4, {k}, 2, padding=same)",
                    n,
                )
                for k in (2, 3)
                for n in (6, 7)
            ),
            Case(f"{op}-stack", op, SEQ, f"{op}(4, 2, padding=same, activation=elu)\n{op}(2, 3)"),
        ]
    else:
        cases += [
            Case(f"{op}-rect", op, "  input x: f32[7, 6, 2]", f"{op}(3, (3, 2), strides=(2, 1), padding=same)"),
            Case(f"{op}-stack", op, IMG, f"{op}(3, 3, padding=same, activation=selu)\n{op}(2, 2, strides=2)"),
        ]
    return cases


def global_pool_cases(op: str, spatial: int) -> list[Case]:
    shape = "  input x: f32[5, 3]" if spatial == 1 else "  input x: f32[4, 5, 3]"
    return [
        Case(f"{op}", op, shape, f"{op}()"),
        Case(f"{op}-keepdims", op, shape, f"{op}(keepdims=true)"),
        Case(f"{op}-after-conv", op, shape, f"Conv{spatial}D(4, 2)\n{op}()"),
        Case(f"{op}-keepdims-after-conv", op, shape, f"Conv{spatial}D(4, 2)\n{op}(keepdims=true)"),
    ]


def recurrent_cases(op: str) -> list[Case]:
    """A recurrent layer's `activation` works inside its cell; it must not be applied again to the output."""
    gates = "" if op == "SimpleRNN" else ", recurrent_activation=tanh"
    return [
        Case(f"{op}", op, SEQ, f"{op}(4)"),
        Case(f"{op}-sequences", op, SEQ, f"{op}(4, return_sequences=true)"),
        Case(f"{op}-no-bias", op, SEQ, f"{op}(3, use_bias=false)"),
        # an unbounded cell grows: a smaller input keeps the outputs near 1, where float32 is well within 1e-5
        Case(f"{op}-activations", op, SEQ, f"{op}(3, activation=relu{gates}, return_sequences=true)", scale=0.5),
        Case(f"{op}-any-length", op, "  input x: f32[?, 3]", f"{op}(4)", 6),
        Case(f"{op}-stacked", op, SEQ, f"{op}(4, return_sequences=true)\n{op}(2)"),
    ]


def merge_cases() -> list[Case]:
    two = "  input a: f32[4]\n  input b: f32[4]"
    three = two + "\n  input c: f32[4]"
    cases = []
    for op in ("Add", "Multiply", "Average", "Maximum", "Minimum"):
        cases += [
            Case(f"{op}-two", op, two, f"{op}(b)"),
            Case(f"{op}-three", op, three, f"{op}(b, c)"),
            Case(f"{op}-convs", op, IMG, f"p: Conv2D(3, 2)\nfrom x\nConv2D(3, 2)\n{op}(p)"),
            Case(f"{op}-mixed-layouts", op, IMG, f"p: Conv2D(3, 1)\nfrom x\nDense(3)\n{op}(p)"),
        ]
    cases += [
        Case("Subtract", "Subtract", two, "Subtract(b)"),
        Case("Subtract-reversed", "Subtract", two, "from b\nSubtract(a, b)"),
        Case("Subtract-convs", "Subtract", IMG, "p: Conv2D(3, 2)\nfrom x\nConv2D(3, 2)\nSubtract(p)"),
        Case("Concatenate-two", "Concatenate", two, "Concatenate(b)"),
        Case("Concatenate-ordered", "Concatenate", three, "from b\nConcatenate(c, a, b)"),
        Case(
            "Concatenate-time-axis",
            "Concatenate",
            "  input a: f32[3, 2]\n  input b: f32[4, 2]",
            "Concatenate(b, axis=1)",
        ),
        Case(
            "Concatenate-middle-axis",
            "Concatenate",
            "  input a: f32[2, 3, 2]\n  input b: f32[2, 3, 2]",
            "Concatenate(b, axis=2)",
        ),
        Case("Concatenate-convs", "Concatenate", IMG, "p: Conv2D(3, 2)\nfrom x\nConv2D(2, 2)\nConcatenate(p)"),
    ]
    return cases


CASES: list[Case] = [
    # core
    Case("Dense", "Dense", VEC, "Dense(4)"),
    Case("Dense-no-bias-sequence", "Dense", SEQ, "Dense(4, use_bias=false, activation=tanh)"),
    Case("Dense-softmax-fused-loss", "Dense", VEC, "Dense(4, activation=softmax)", loss="categorical_crossentropy"),
    Case("Dense-sigmoid-fused-loss", "Dense", VEC, "Dense(3, activation=sigmoid)", loss="binary_crossentropy"),
    Case("Dense-after-conv", "Dense", IMG, "Conv2D(3, 2)\nDense(2, activation=gelu)"),
    *(Case(f"Activation-{name}", "Activation", SEQ, f"Activation({name})", scale=3.0) for name in ACTIVATIONS),
    *(Case(f"Dense-{name}", "Dense", VEC, f"Dense(5, activation={name})") for name in ("relu", "softmax", "gelu")),
    Case("Activation-softmax-channels-first", "Activation", IMG, "Conv2D(3, 2)\nActivation(softmax)\nMaxPool2D()"),
    Case("ReLU", "ReLU", SEQ, "ReLU()"),
    Case("ReLU-max-value", "ReLU", SEQ, "ReLU(max_value=1.5)", scale=3.0),
    Case("ReLU-negative-slope", "ReLU", SEQ, "ReLU(negative_slope=0.1)"),
    Case("ReLU-threshold", "ReLU", SEQ, "ReLU(threshold=0.5)"),
    Case("ReLU-all", "ReLU", SEQ, "ReLU(max_value=2.0, negative_slope=0.2, threshold=0.5)", scale=3.0),
    Case("ReLU-slope-and-max", "ReLU", SEQ, "ReLU(max_value=1.0, negative_slope=0.3)", scale=3.0),
    Case("ReLU-channels-first", "ReLU", IMG, "Conv2D(3, 2)\nReLU(max_value=0.5)\nMaxPool2D()"),
    Case("LeakyReLU", "LeakyReLU", SEQ, "LeakyReLU()"),
    Case("LeakyReLU-slope", "LeakyReLU", SEQ, "LeakyReLU(negative_slope=0.05)"),
    Case("Softmax", "Softmax", SEQ, "Softmax()"),
    Case("Softmax-time-axis", "Softmax", SEQ, "Softmax(axis=1)"),
    Case("Softmax-after-conv", "Softmax", IMG, "Conv2D(3, 2)\nSoftmax(axis=2)"),
    Case("Softmax-fused-loss", "Softmax", VEC, "Dense(4)\nSoftmax()", loss="categorical_crossentropy"),
    # a one-letter input variable: the fused `finish` must not be built by text replacement on its name
    Case("Softmax-fused-loss-on-input", "Softmax", "  input t: f32[4]", "Softmax()", loss="categorical_crossentropy"),
    Case("Dropout", "Dropout", VEC, "Dropout(0.5)"),
    Case("Dropout-after-conv", "Dropout", IMG, "Conv2D(3, 2)\nDropout(0.3)\nMaxPool2D()"),
    Case("Flatten-sequence", "Flatten", SEQ, "Flatten()"),
    Case("Flatten-after-conv", "Flatten", IMG, "Conv2D(3, 2)\nFlatten()"),
    Case("Reshape", "Reshape", SEQ, "Reshape((3, 5))"),
    Case("Reshape-minus-one", "Reshape", SEQ, "Reshape((-1, 5, 1))"),
    Case("Reshape-after-conv", "Reshape", IMG, "Conv2D(3, 2)\nReshape((-1, 3))"),
    Case("Rescaling", "Rescaling", SEQ, "Rescaling(2.0)"),
    Case("Rescaling-offset", "Rescaling", SEQ, "Rescaling(0.5, offset=-1)"),
    Case("Rescaling-after-conv", "Rescaling", IMG, "Conv2D(3, 2)\nRescaling(0.25, offset=0.5)\nAvgPool2D()"),
    # convolution and pooling
    *conv_cases("Conv1D", 1),
    *conv_cases("Conv2D", 2),
    *pool_cases("MaxPool1D", 1),
    *pool_cases("MaxPool2D", 2),
    *pool_cases("AvgPool1D", 1),
    *pool_cases("AvgPool2D", 2),
    *global_pool_cases("GlobalAvgPool1D", 1),
    *global_pool_cases("GlobalAvgPool2D", 2),
    *global_pool_cases("GlobalMaxPool1D", 1),
    *global_pool_cases("GlobalMaxPool2D", 2),
    # normalization
    Case("BatchNormalization", "BatchNormalization", VEC, "BatchNormalization()"),
    Case("BatchNormalization-sequence", "BatchNormalization", SEQ, "BatchNormalization(epsilon=0.1)"),
    Case("BatchNormalization-after-conv", "BatchNormalization", IMG, "Conv2D(3, 2)\nBatchNormalization()"),
    Case(
        "BatchNormalization-no-scale-center",
        "BatchNormalization",
        IMG,
        "Conv2D(3, 2)\nBatchNormalization(center=false, scale=false)\nMaxPool2D()",
    ),
    Case("BatchNormalization-no-center", "BatchNormalization", VEC, "BatchNormalization(center=false, momentum=0.9)"),
    Case("BatchNormalization-no-scale", "BatchNormalization", VEC, "BatchNormalization(scale=false)"),
    Case("LayerNormalization", "LayerNormalization", VEC, "LayerNormalization()"),
    Case("LayerNormalization-sequence", "LayerNormalization", SEQ, "LayerNormalization(epsilon=0.1)"),
    Case("LayerNormalization-no-center", "LayerNormalization", SEQ, "LayerNormalization(center=false)"),
    Case("LayerNormalization-no-scale", "LayerNormalization", SEQ, "LayerNormalization(scale=false)"),
    Case("LayerNormalization-bare", "LayerNormalization", SEQ, "LayerNormalization(center=false, scale=false)"),
    Case("LayerNormalization-after-conv", "LayerNormalization", IMG, "Conv2D(3, 2)\nLayerNormalization()"),
    Case("LayerNormalization-small", "LayerNormalization", VEC, "LayerNormalization()", scale=0.01),
    # embedding
    Case("Embedding", "Embedding", "  input ids: i64[6]", "Embedding(10, 4)"),
    Case("Embedding-i32", "Embedding", "  input ids: i32[6]", "Embedding(12, 3)\nFlatten()"),
    Case("Embedding-any-length", "Embedding", "  input ids: i64[?]", "Embedding(10, 4)\nConv1D(3, 2)", 7),
    # recurrent
    *recurrent_cases("SimpleRNN"),
    *recurrent_cases("LSTM"),
    *recurrent_cases("GRU"),
    Case("Bidirectional-LSTM", "Bidirectional", SEQ, "Bidirectional(LSTM(3))"),
    Case(
        "Bidirectional-GRU-sum-seq",
        "Bidirectional",
        SEQ,
        "Bidirectional(GRU(3, return_sequences=true), merge_mode=sum)",
    ),
    Case("Bidirectional-SimpleRNN-mul", "Bidirectional", SEQ, "Bidirectional(SimpleRNN(3), merge_mode=mul)"),
    Case(
        "Bidirectional-LSTM-ave-seq",
        "Bidirectional",
        SEQ,
        "Bidirectional(LSTM(3, return_sequences=true), merge_mode=ave)",
    ),
    Case("Bidirectional-GRU-no-bias", "Bidirectional", SEQ, "Bidirectional(GRU(2, use_bias=false, activation=relu))"),
    Case(
        "Bidirectional-SimpleRNN-concat-seq",
        "Bidirectional",
        SEQ,
        "Bidirectional(SimpleRNN(2, activation=sigmoid, return_sequences=true))",
    ),
    Case("Bidirectional-any-length", "Bidirectional", "  input x: f32[?, 3]", "Bidirectional(GRU(3))", 6),
    # merges
    *merge_cases(),
]


def test_every_registry_op_has_a_forward_case():
    assert {case.op for case in CASES} == set(REGISTRY)


def test_case_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """`get(text)`: the graph and generated program of a `.dl` text, built once for all the tests below."""
    built: dict[str, tuple] = {}
    directory = tmp_path_factory.mktemp("ops")

    def get(text: str):
        if text not in built:
            built[text] = build(text, directory, f"program_{len(built)}")
        return built[text]

    return get


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward_matches_the_reference(case, programs):
    graph, module = programs(case.text())
    assert case.op in {node.op for node in graph.nodes}
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    weights = random_weights(graph, rng)
    inputs = random_inputs(graph, rng, case)
    expected = reference_forward(graph, weights, inputs)
    model = module.MODEL_CLASS()
    module.load_canonical(model, weights)
    model.eval()
    with torch.inference_mode():
        output = model(*(torch.from_numpy(a) for a in inputs)).numpy()
    assert output.dtype == np.float32
    assert output.shape == expected.shape
    assert all(d is None or d == n for d, n in zip(graph.output.shape, output.shape[1:], strict=True))
    np.testing.assert_allclose(output, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_canonical_weights_round_trip(case, programs):
    graph, module = programs(case.text())
    weights = random_weights(graph, np.random.default_rng(1))
    model = module.MODEL_CLASS()
    module.load_canonical(model, weights)
    back = module.to_canonical(model)
    assert list(back) == graph.weight_names()
    for key, value in weights.items():
        assert back[key].dtype == np.float32
        np.testing.assert_array_equal(back[key], value, err_msg=key)


@pytest.mark.parametrize(
    "before", ["", "Conv2D(3, 2, padding=same)\n"], ids=["channels-last", "channels-first-after-conv"]
)
def test_batch_normalization_training_step_updates_the_moving_statistics(before, programs):
    """Training mode: batch statistics with the biased variance, Keras' momentum on the moving ones."""
    layers = before + "BatchNormalization(momentum=0.8, epsilon=0.01)"
    case = Case("bn-train", "BatchNormalization", IMG, layers)
    graph, module = programs(case.text())
    rng = np.random.default_rng(5)
    weights = random_weights(graph, rng)
    (x,) = random_inputs(graph, rng, case)
    model = module.MODEL_CLASS()
    module.load_canonical(model, weights)
    model.train()
    with torch.no_grad():
        output = model(torch.from_numpy(x)).numpy()
    node = graph.nodes[-1]
    bn_input = reference_values(graph, weights, [x])[node.inputs[0].name]
    own = {p.name: weights[f"{node.name}.{p.name}"].astype(np.float64) for p in node.params}
    expected, mean, variance = K.batch_norm_train_step(bn_input, **own, **node.args)
    np.testing.assert_allclose(output, expected, rtol=0, atol=ATOL)
    back = module.to_canonical(model)
    np.testing.assert_allclose(back[f"{node.name}.moving_mean"], mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(back[f"{node.name}.moving_variance"], variance, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------- optimizers

OPTIMIZER_CASES = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.05}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "nesterov": True, "weight_decay": 0.05}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 0.01}),
    ("Adam", {"learning_rate": 0.05, "weight_decay": 0.1}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.2, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 0.001}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.9, "epsilon": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.01, "epsilon": 0.01}),
    ("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.0}),
    ("Adagrad", {"learning_rate": 0.05, "weight_decay": 0.1}),
]
OPTIMIZER_IDS = [
    f"{name}-" + ("-".join(f"{k}={v}" for k, v in args.items()) or "defaults") for name, args in OPTIMIZER_CASES
]

MLP = Case("mlp", "Dense", "  input x: f32[4]", "Dense(5, activation=tanh)\nDense(3)")


def optimizer_program(name: str, args: dict, programs):
    call = f"{name}({', '.join(f'{k}={dl_value(v)}' for k, v in args.items())})"
    graph, module = programs(MLP.text(call))
    assert graph.training.optimizer.name == name
    return graph, module


def test_every_optimizer_has_a_case():
    assert {name for name, _ in OPTIMIZER_CASES} == set(OPTIMIZERS)
    for name in OPTIMIZERS:
        for arg in OPTIMIZERS[name]:
            if arg.name != "learning_rate":
                assert any(n == name and arg.name in a for n, a in OPTIMIZER_CASES), (name, arg.name)


def mlp_gradients(params: dict[str, np.ndarray], x: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of Keras' mean squared error for `Dense(5, tanh) -> Dense(3)`, by hand, in float64."""
    hidden = np.tanh(x @ params["dense.kernel"] + params["dense.bias"])
    output = hidden @ params["dense_1.kernel"] + params["dense_1.bias"]
    d_output = 2.0 * (output - target) / output.size
    d_hidden = (d_output @ params["dense_1.kernel"].T) * (1.0 - hidden**2)
    return {
        "dense.kernel": x.T @ d_hidden,
        "dense.bias": d_hidden.sum(axis=0),
        "dense_1.kernel": hidden.T @ d_output,
        "dense_1.bias": d_output.sum(axis=0),
    }


@pytest.mark.parametrize("name, args", OPTIMIZER_CASES, ids=OPTIMIZER_IDS)
def test_optimizer_trains_like_the_reference(name, args, programs):
    """5 steps of the generated program's loop (loss, backward, its optimizer) vs the reference on float64."""
    graph, module = optimizer_program(name, args, programs)
    rng = np.random.default_rng(40)
    start = random_weights(graph, rng)
    batches = [(rng.normal(size=(6, 4)), rng.normal(size=(6, 3))) for _ in range(5)]
    model = module.MODEL_CLASS()
    module.load_canonical(model, start)
    model.train()
    optimizer = module.OPTIMIZER_CLASS(model.parameters(), **module.OPTIMIZER)
    for x, target in batches:
        module.train_step(
            model, optimizer, [torch.from_numpy(x.astype(np.float32))], torch.from_numpy(target.astype(np.float32))
        )
    trained = module.to_canonical(model)

    params = {key: value.astype(np.float64) for key, value in start.items()}
    reference = O.make_optimizer(name, args)
    for x, target in batches:
        reference.step(params, mlp_gradients(params, x.astype(np.float32), target.astype(np.float32)))
    assert reference.iterations == 5
    for key in params:
        assert not np.array_equal(params[key], start[key]), key  # every weight moved
        np.testing.assert_allclose(trained[key], params[key], rtol=0, atol=OPT_ATOL, err_msg=key)


@pytest.mark.parametrize("name, args", OPTIMIZER_CASES, ids=OPTIMIZER_IDS)
def test_optimizer_steps_like_the_reference_on_fixed_gradients(name, args, programs):
    """The program's optimizer class and arguments on given float32 gradients, some tiny (where epsilon sits
    decides the step), against the reference in float32 as Keras runs it."""
    _, module = optimizer_program(name, args, programs)
    rng = np.random.default_rng(41)
    params = {
        "kernel": rng.normal(size=(4, 3)).astype(np.float32),
        "bias": rng.normal(size=3).astype(np.float32),
        "tiny": rng.normal(size=5).astype(np.float32),
    }
    targets = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in params.items()}
    tensors = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in params.items()}
    optimizer = module.OPTIMIZER_CLASS(list(tensors.values()), **module.OPTIMIZER)
    reference = O.make_optimizer(name, args)
    for step in range(5):
        grads = {k: (2.0 * (params[k] - targets[k])).astype(np.float32) for k in params}
        grads["tiny"] = (grads["tiny"] * 1e-4).astype(np.float32)
        if step == 2:
            grads["bias"] = (grads["bias"] * 1e-6).astype(np.float32)
        for k, tensor in tensors.items():
            tensor.grad = torch.from_numpy(grads[k].copy())
        optimizer.step()
        reference.step(params, grads)
    for k, tensor in tensors.items():
        assert params[k].dtype == np.float32
        np.testing.assert_allclose(tensor.detach().numpy(), params[k], rtol=0, atol=OPT_ATOL, err_msg=k)


def test_optimizer_defaults_are_the_references():
    """The optimizer classes the program uses, built with no arguments, have the reference's defaults."""
    from backends.pytorch import runtime
    from backends.pytorch.training import OPTIMIZERS as OPTIMIZER_CLASSES

    for name in OPTIMIZERS:
        if name == "AdamW":
            continue  # the same class as Adam; its defaults come from the spec's bound arguments
        ours = getattr(runtime, OPTIMIZER_CLASSES[name])([torch.nn.Parameter(torch.zeros(1))]).defaults
        theirs = O.OPTIMIZERS[name]()
        assert math.isclose(ours["lr"], theirs.learning_rate), name
        assert ours["weight_decay"] == theirs.weight_decay, name
        for key in ("momentum", "nesterov", "rho", "epsilon", "centered", "beta_1", "beta_2"):
            if hasattr(theirs, key):
                assert ours[key] == getattr(theirs, key), (name, key)
        if name == "Adagrad":
            assert ours["initial"] == theirs.initial_accumulator_value
