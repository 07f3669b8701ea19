"""Language semantics: blocks, repeat, labels, naming, merges, shape rules, `dlc check --json`, `dlc ir`."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from compiler.frontend import load_text
from compiler.printer import print_ir
from dlc.cli import main


def one(text: str):
    (graph,) = load_text(text, "spec.dl")
    return graph


def names_and_shapes(graph):
    return [(n.name, n.op, n.output.shape) for n in graph.nodes]


def test_block_parameters_defaults_keywords_and_arithmetic():
    graph = one(
        """
        block Pair(units, scale=2) {
          Dense(units * scale, activation=relu)
          Dense(units // 2)
        }
        model M {
          input x: f32[3]
          layers { Pair(8) Pair(units=4, scale=3) }
        }
        """
    )
    assert names_and_shapes(graph) == [
        ("dense", "Dense", (16,)),
        ("dense_1", "Dense", (4,)),
        ("dense_2", "Dense", (12,)),
        ("dense_3", "Dense", (2,)),
    ]
    assert graph.nodes[0].args["activation"] == "relu"


def test_block_default_may_use_earlier_parameters():
    graph = one(
        """
        block B(a, b=a + 1) { Dense(b) }
        model M { input x: f32[3] layers { B(4) } }
        """
    )
    assert graph.output.shape == (5,)


def test_repeat_labels_are_local_to_one_pass_and_named_uniquely():
    graph = one(
        """
        model M {
          input x: f32[4]
          layers {
            repeat 3 {
              skip: Dense(4)
              Dense(4)
              Add(skip)
            }
          }
        }
        """
    )
    names = [n.name for n in graph.nodes]
    assert names == ["skip", "dense", "add", "skip_1", "dense_1", "add_1", "skip_2", "dense_2", "add_2"]
    add_1 = graph.node("add_1")
    assert [v.name for v in add_1.inputs] == ["dense_1", "skip_1"]


def test_label_does_not_advance_the_counter_and_auto_names_avoid_labels():
    graph = one(
        """
        model M {
          input x: f32[4]
          layers { Dense(4) dense_1: Dense(4) Dense(4) Dense(4) }
        }
        """
    )
    assert [n.name for n in graph.nodes] == ["dense", "dense_1", "dense_2", "dense_3"]
    assert graph.nodes[1].span.line == 4


def test_labels_inside_a_block_are_local_to_one_use():
    graph = one(
        """
        block Res(f) { r: Dense(f) Dense(f) Add(r) }
        model M { input x: f32[4] layers { Res(4) Res(4) } }
        """
    )
    assert [n.name for n in graph.nodes] == ["r", "dense", "add", "r_1", "dense_1", "add_1"]
    assert [v.name for v in graph.node("add_1").inputs] == ["dense_1", "r_1"]


def test_block_input_is_in_and_a_label_on_a_block_names_its_output():
    graph = one(
        """
        block Res(f) { Dense(f) Add(in) }
        model M {
          input x: f32[4]
          layers { first: Res(4) Dense(4) Add(first) }
        }
        """
    )
    assert [v.name for v in graph.node("add").inputs] == ["dense", "x"]
    assert [v.name for v in graph.node("add_1").inputs] == ["dense_1", "add"]


def test_merge_lists_the_current_stream_first_unless_it_is_listed():
    graph = one(
        """
        model M {
          input a: f32[2]
          input b: f32[3]
          layers {
            left: Dense(4)
            from b
            right: Dense(5)
            Concatenate(left, right)
          }
        }
        """
    )
    node = graph.node("concatenate")
    assert [v.name for v in node.inputs] == ["left", "right"]
    assert node.output.shape == (9,)


def test_enum_values_bare_or_quoted_are_equal():
    bare = one("model M { input x: f32[4] layers { Dense(3, activation=relu) } }")
    quoted = one('model M { input x: f32[4] layers { Dense(3, activation="relu") } }')
    assert bare.nodes[0].args == quoted.nodes[0].args


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "expected"),
    [
        (7, 3, 2, "same", 4),
        (6, 3, 2, "same", 3),
        (7, 3, 2, "valid", 3),
        (6, 2, 1, "valid", 5),
        (8, 3, 1, "same", 8),
    ],
)
def test_conv_output_sizes_follow_keras(size, kernel, stride, padding, expected):
    graph = one(
        f"model M {{ input x: f32[{size}, {size}, 2] "
        f"layers {{ Conv2D(4, {kernel}, strides={stride}, padding={padding}) }} }}"
    )
    assert graph.output.shape == (expected, expected, 4)
    assert graph.nodes[0].param_count == kernel * kernel * 2 * 4 + 4


def test_pooling_defaults_strides_to_pool_size_and_keeps_channels():
    graph = one("model M { input x: f32[7, 6, 3] layers { MaxPool2D(2) AvgPool2D(2, padding=same) } }")
    assert [n.output.shape for n in graph.nodes] == [(3, 3, 3), (2, 2, 3)]


def test_variable_dimension_flows_through_sequence_layers():
    graph = one(
        """
        model M {
          input tokens: i64[?]
          layers {
            Embedding(100, 8)
            Conv1D(4, 3, padding=same)
            Bidirectional(LSTM(5, return_sequences=true))
            GlobalMaxPool1D()
          }
        }
        """
    )
    assert [n.output.shape for n in graph.nodes] == [(None, 8), (None, 4), (None, 10), (10,)]
    bidi = graph.node("bidirectional")
    assert [p.name for p in bidi.params] == [
        "forward.kernel",
        "forward.recurrent_kernel",
        "forward.bias",
        "backward.kernel",
        "backward.recurrent_kernel",
        "backward.bias",
    ]
    assert bidi.param_count == 2 * 4 * (4 * 5 + 5 * 5 + 5)


def test_weight_names_are_canonical_keys():
    graph = one("model M { input x: f32[4, 4, 1] layers { Conv2D(2, 3) BatchNormalization() Flatten() Dense(2) } }")
    assert graph.weight_names() == [
        "conv2d.kernel",
        "conv2d.bias",
        "batch_normalization.gamma",
        "batch_normalization.beta",
        "batch_normalization.moving_mean",
        "batch_normalization.moving_variance",
        "dense.kernel",
        "dense.bias",
    ]
    assert (graph.trainable_count, graph.non_trainable_count) == (2 * 9 + 2 + 4 + 8 * 2 + 2, 4)


def test_reshape_infers_minus_one_and_training_settings_are_bound():
    graph = one(
        """
        model M {
          input x: f32[64]
          layers { Reshape((8, -1)) GRU(4) Dense(1, activation=sigmoid) }
          loss BinaryCrossentropy(label_smoothing=0.1)
          optimizer sgd
          train { epochs = 2 * 3 shuffle = false early_stopping = EarlyStopping(monitor=loss, patience=1) }
        }
        """
    )
    assert graph.nodes[0].output.shape == (8, 8)
    training = graph.training
    assert training.loss.name == "binary_crossentropy"
    assert training.loss.args == {"from_logits": False, "label_smoothing": 0.1}
    assert training.optimizer.name == "SGD"
    assert training.optimizer.args["learning_rate"] == 0.01
    assert training.settings.epochs == 6
    assert training.settings.shuffle is False
    assert training.settings.early_stopping.patience == 1


def test_check_json_matches_the_documented_schema(capsys):
    code = main(["check", "--json", str(ROOT / "examples/digits_lstm.dl")])
    assert code == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert set(report) == {"file", "model", "inputs", "outputs", "params", "layers", "warnings"}
    assert report["warnings"] == []
    assert report["model"] == "DigitsLSTM"
    assert report["inputs"] == [{"name": "rows", "dtype": "f32", "shape": [None, 8]}]
    assert report["outputs"] == [{"name": "dense", "shape": [10]}]
    lstm = 4 * (8 * 32 + 32 * 32 + 32)
    total = lstm + 330
    assert report["params"] == {"total": total, "trainable": total, "non_trainable": 0, "bytes": 4 * total}
    assert report["layers"][1] == {
        "name": "lstm",
        "type": "LSTM",
        "inputs": ["rescaling"],
        "output_shape": [32],
        "params": lstm,
    }


def test_check_table_reads_like_a_keras_summary(capsys):
    assert main(["check", str(ROOT / "examples/iris_mlp.dl")]) == 0
    out = capsys.readouterr().out
    assert 'Model: "IrisMLP"' in out
    assert "dense_2 (Dense)" in out and "(None, 3)" in out
    assert "Total params: 193" in out and "Non-trainable params: 0" in out
    assert "Weight memory: 772 B (float32)" in out


def test_ir_printer_matches_its_golden_file():
    graph = load_text((ROOT / "examples/digits_resnet.dl").read_text(), "examples/digits_resnet.dl")[0]
    golden = ROOT / "tests/golden/digits_resnet.ir"
    assert print_ir(graph) + "\n" == golden.read_text()
