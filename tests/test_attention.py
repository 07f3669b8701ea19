"""MultiHeadAttention and PositionEmbedding through the backends, beyond the catalogue's forward cases
(tests/test_ops.py) and training models (tests/test_verify.py): the ONNX `Attention` operator at opset 23, Keras'
attention dropout in the PyTorch program, PositionEmbedding's length check at run time in every backend, the
Keras program's own PositionEmbedding class through a checkpoint, generated programs that ruff leaves alone, and
`dlc verify --steps 5` on models whose attention biases train (SGD: see catalogue_attention.py)."""

from __future__ import annotations

import subprocess
import sys
import zlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from catalogue_attention import ATTENTION_CASES, MHA
from test_ops import ONNX_RTOL, input_sets, random_weights, reference_forward
from test_pytorch_program import program_module

from backends import verify as verifier
from backends.keras.emit import emit_program as emit_keras
from backends.onnx import export_model
from backends.program.loader import load_program
from compiler.errors import DlShapeError
from compiler.frontend import load_text
from compiler.weights import initial_weights

ATTENTION_FORWARD = [case for case in ATTENTION_CASES if case.op == MHA and not case.trains]


def model(inputs: str, layers: str, optimizer: str = "SGD()") -> str:
    return f"model M {{\n{inputs}\n  layers {{\n{layers}\n  }}\n  loss mse\n  optimizer {optimizer}\n}}\n"


def graph_of(text: str):
    (graph,) = load_text(text, "m.dl")
    return graph


def session(onnx_model) -> ort.InferenceSession:
    return ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------------------------------------- ONNX


@pytest.mark.parametrize("case", ATTENTION_FORWARD, ids=lambda case: case.id)
def test_onnx_attention_operator_at_opset_23(case):
    """ONNX Runtime 1.32 runs Attention-23 on CPU, causal masks across lengths included (top-left, as Keras)."""
    graph = graph_of(case.text())
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    weights = random_weights(graph, rng, case.weight_scale)
    exported = export_model(graph, weights, opset=23)
    onnx.checker.check_model(exported, full_check=True)
    ops = {node.op_type for node in exported.graph.node}
    assert "Attention" in ops and "Softmax" not in ops
    assert "Attention" not in {node.op_type for node in export_model(graph, weights).graph.node}  # opset 17
    run = session(exported)
    for inputs in input_sets(graph, rng, case):
        output = run.run(None, {v.name: a for v, a in zip(graph.inputs, inputs, strict=True)})[0]
        np.testing.assert_allclose(output, reference_forward(graph, weights, inputs), rtol=ONNX_RTOL, atol=1e-5)


# ---------------------------------------------------------------------------------------------- dropout

DROPOUT = model(
    "  input x: f32[3, 2]\n  input ctx: f32[1, 2]",
    f"{MHA}(4, 2, value_dim=1, output_shape=4, dropout=0.5, value=ctx)",
)


def one_per_head(graph) -> dict[str, np.ndarray]:
    """Weights that make every head's value 1 and put head n on output n (one key: every probability is 1)."""
    weights = {f"{node.name}.{p.name}": np.zeros(p.shape, np.float32) for node, p in graph.params}
    name = graph.nodes[-1].name
    weights[f"{name}.value.bias"] = np.ones((4, 1), np.float32)
    weights[f"{name}.attention_output.kernel"] = np.eye(4, dtype=np.float32).reshape(4, 1, 4)
    return weights


def test_pytorch_drops_attention_probabilities_in_training_as_keras(tmp_path):
    """Each (sample, head, query) probability is dropped or scaled by 1/(1 - rate), in training only
    (Keras measured the same in tests/reference/test_attention_reference.py); verify's switch finds the rate."""
    graph = graph_of(DROPOUT)
    program, _ = program_module(graph, tmp_path)
    net = program.MODEL_CLASS()
    program.load_canonical(net, one_per_head(graph))
    x, ctx = torch.ones(64, 3, 2), torch.ones(64, 1, 2)
    net.eval()
    np.testing.assert_allclose(net(x, ctx).detach().numpy(), 1.0, rtol=1e-6)
    net.train()
    assert set(np.round(np.unique(net(x, ctx).detach().numpy()), 5)) == {0.0, 2.0}
    for module in net.modules():  # what dlc verify does to compare training without dropout
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    np.testing.assert_allclose(net(x, ctx).detach().numpy(), 1.0, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- PositionEmbedding

POSITIONS = model("  input x: f32[?, 3]", "PositionEmbedding(4)\nAdd(x)")


def test_position_embedding_longer_than_its_table_is_a_check_error():
    with pytest.raises(DlShapeError, match="has 4 positions .* for a sequence of 6"):
        graph_of(model("  input x: f32[6, 3]", "PositionEmbedding(4)\nAdd(x)"))


def test_position_embedding_checks_the_length_at_run_time_in_pytorch(tmp_path):
    graph = graph_of(POSITIONS)
    program, _ = program_module(graph, tmp_path)
    net = program.MODEL_CLASS()
    program.load_canonical(net, initial_weights(graph, 0))
    assert net(torch.zeros(2, 4, 3)).shape == (2, 4, 3)
    with pytest.raises(ValueError, match="4 positions .* for a sequence of 5"):
        net(torch.zeros(2, 5, 3))


def test_position_embedding_checks_the_length_at_run_time_in_onnx_runtime():
    graph = graph_of(POSITIONS)
    run = session(export_model(graph, initial_weights(graph, 0)))
    assert run.run(None, {"x": np.zeros((2, 4, 3), np.float32)})[0].shape == (2, 4, 3)
    with pytest.raises(Exception, match="fails_for_sequences_longer_than_4"):
        run.run(None, {"x": np.zeros((2, 5, 3), np.float32)})


def test_keras_program_defines_position_embedding_and_checkpoints_it(tmp_path):
    """The Keras program needs no keras_hub; its class checks the length and loads back in Keras' safe mode."""
    import keras

    graph = graph_of(POSITIONS)
    path = tmp_path / "keras_positions.py"
    path.write_text(emit_keras(graph))
    program = load_program(path, "dlc_test_keras_positions")
    net = program.compiled_model(0)
    x = np.random.default_rng(1).normal(size=(2, 3, 3)).astype(np.float32)
    before = net.predict_on_batch(x)
    np.testing.assert_allclose(before, x + initial_weights(graph, 0)["position_embedding.embeddings"][:3], atol=1e-6)
    with pytest.raises(Exception, match="longer than sequence_length=4"):
        net.predict_on_batch(np.zeros((2, 5, 3), np.float32))
    net.save(tmp_path / "checkpoint.keras")
    loaded = keras.models.load_model(tmp_path / "checkpoint.keras")
    np.testing.assert_array_equal(loaded.predict_on_batch(x), before)


# ---------------------------------------------------------------------------------------------- programs and verify

TRANSFORMER_BLOCK = model(
    "  input ids: i64[?]\n  input ctx: f32[6, 5]",
    "tokens: Embedding(20, 8)\nPositionEmbedding(10)\nembedded: Add(tokens)\n"
    f"{MHA}(2, 3, dropout=0.1, use_causal_mask=true)\nAdd(embedded)\nLayerNormalization()\n"
    f"{MHA}(3, 4, value_dim=2, output_shape=6, value=ctx, kernel_regularizer=l2(0.01))\n"
    "GlobalAvgPool1D()\nDense(3)",
)


@pytest.mark.parametrize("target", ["pytorch", "keras"])
def test_generated_programs_are_left_alone_by_ruff(target, tmp_path):
    source = tmp_path / "m.dl"
    source.write_text(TRANSFORMER_BLOCK)
    path = tmp_path / f"m_{target}.py"
    compiled = subprocess.run(
        [sys.executable, "-m", "dlc", "compile", str(source), "--target", target, "-o", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compiled.returncode == 0, compiled.stderr
    for check in (["format", "--check", "--diff"], ["check", "--select=E,F,W,I,B,UP,SIM"]):
        ruffed = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--isolated", "--line-length=120", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ruffed.returncode == 0, ruffed.stdout + ruffed.stderr


@pytest.mark.parametrize(
    "text",
    [
        TRANSFORMER_BLOCK.replace("dropout=0.1, ", ""),
        model(
            "  input x: f32[4, 3]\n  input ctx: f32[6, 5]",
            f"q: Dense(6)\nfrom ctx\nk: Dense(4)\nfrom q\n{MHA}(3, 2, value=ctx, key=k)\nFlatten()\nDense(2)",
        ),
        model(
            "  input x: f32[?, 3]\n  input ctx: f32[3, 5]",
            f"{MHA}(2, 4, value=ctx, use_causal_mask=true)\nGlobalAvgPool1D()\nDense(2)",
        ),
    ],
    ids=["self-causal-and-cross", "value-and-key", "causal-query-longer-than-keys"],
)
def test_attention_biases_train_within_the_contract_with_sgd(text):
    """Every bias trains, the key biases (true gradient zero) included: with SGD their rounding noise stays
    noise. (Adam turns it into learning-rate-sized steps: 3.2e-4 apart after 5 steps on the second model.)"""
    graph = graph_of(text)
    report = verifier.verify(graph, initial_weights(graph, 0), "seed 0", steps=5)
    assert report.ok, report.table()
    assert report.steps == 5
