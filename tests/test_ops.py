"""Every op in every inference backend against the NumPy reference of Keras (`tests/reference/`), and the
PyTorch program's optimizers against the reference's.

The cases are the catalogue's (tests/catalogue.py). Each model gets random canonical weights (random normal,
so biases and moving statistics are far from their initial values) and runs in inference mode in the
generated PyTorch program and in the exported ONNX model on ONNX Runtime, at two batch sizes and, for `?`
dimensions, at each of the case's lengths; the reference walks the same graph node by node with
`keras_numpy.apply_layer` in float64 on the same float32-rounded weights and inputs. (Keras itself is held to
the same numbers through `dlc verify` in tests/test_verify.py.) Every optimizer in
`compiler.training.OPTIMIZERS` runs 5 steps through the class the generated program uses, against
`optimizers_numpy`.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from catalogue import CASES, IMG, OPTIMIZER_CASES, OPTIMIZER_IDS, Case, dl_value
from reference import keras_numpy as K
from reference import optimizers_numpy as O
from test_pytorch_program import program_module

from backends.onnx import export_model
from compiler.frontend import load_text
from compiler.ops import REGISTRY
from compiler.training import OPTIMIZERS

ATOL = 1e-5  # forward: float32 PyTorch vs the float64 reference
ONNX_RTOL = 1e-5  # ONNX Runtime's fused kernels round differently from torch's: the contract's relative part
BATCHES = (1, 7)
FORWARD_CASES = [case for case in CASES if not case.trains]  # the training models are verify's (test_verify.py)
OPT_ATOL = 1e-6  # weights after 5 optimizer steps
BATCH = 3


# ---------------------------------------------------------------------------------------------- helpers


def build(text: str, tmp_path, name: str):
    (graph,) = load_text(text, f"{name}.dl")
    module, _ = program_module(graph, tmp_path, name)
    return graph, module


def random_weights(graph, rng, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Random canonical weights, float32: normal (times `scale`), except positive variances."""
    tensors = {}
    for node, param in graph.params:
        if param.name.endswith("moving_variance"):
            value = rng.uniform(0.5, 1.5, param.shape)
        else:
            value = rng.normal(size=param.shape) * scale
        tensors[f"{node.name}.{param.name}"] = value.astype(np.float32)
    return tensors


def random_inputs(graph, rng, case: Case, batch: int = BATCH, length: int | None = None) -> list[np.ndarray]:
    arrays = []
    for value in graph.inputs:
        shape = (batch, *((length or case.length) if d is None else d for d in value.shape))
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


# ---------------------------------------------------------------------------------------------- forward cases


def test_every_registry_op_has_a_forward_case_and_a_training_case():
    assert {case.op for case in FORWARD_CASES} == set(REGISTRY)
    assert {case.op for case in CASES if case.trains} == set(REGISTRY)


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


def input_sets(graph, rng, case: Case):
    """Inputs at each batch size and, where the model has `?` dimensions, at each of the case's lengths."""
    lengths = case.run_lengths if any(None in value.shape for value in graph.inputs) else (case.length,)
    for batch in BATCHES:
        for length in lengths:
            yield random_inputs(graph, rng, case, batch, length)


def pytorch_runner(graph, weights, programs, case):
    _, module = programs(case.text())
    model = module.MODEL_CLASS()
    module.load_canonical(model, weights)
    model.eval()

    def run(inputs):
        with torch.inference_mode():
            return model(*(torch.from_numpy(a) for a in inputs)).numpy()

    return run, 0.0


def onnx_runner(graph, weights, programs, case):
    model = export_model(graph, weights)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def run(inputs):
        return session.run(None, {v.name: a for v, a in zip(graph.inputs, inputs, strict=True)})[0]

    return run, ONNX_RTOL


RUNNERS = {"pytorch": pytorch_runner, "onnx": onnx_runner}


@pytest.mark.parametrize("backend", RUNNERS)
@pytest.mark.parametrize("case", FORWARD_CASES, ids=lambda c: c.id)
def test_forward_matches_the_reference(case, backend, programs):
    graph, _ = programs(case.text())
    assert case.op in {node.op for node in graph.nodes}
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    weights = random_weights(graph, rng, case.weight_scale)
    run, rtol = RUNNERS[backend](graph, weights, programs, case)
    for inputs in input_sets(graph, rng, case):
        expected = reference_forward(graph, weights, inputs)
        output = run(inputs)
        assert output.dtype == np.float32
        assert output.shape == expected.shape
        assert all(d is None or d == n for d, n in zip(graph.output.shape, output.shape[1:], strict=True))
        np.testing.assert_allclose(output, expected, rtol=max(rtol, case.rtol), atol=ATOL)


@pytest.mark.parametrize("case", FORWARD_CASES, ids=lambda c: c.id)
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
        inputs, target = [torch.from_numpy(x.astype(np.float32))], torch.from_numpy(target.astype(np.float32))
        module.train_step(model, model, optimizer, inputs, target, 1.0, module.Workers())
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
