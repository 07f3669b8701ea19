"""Every error kind: location, source line, caret and suggestion."""

from __future__ import annotations

import pytest

from compiler.errors import (
    DlArgumentError,
    DlDataError,
    DlError,
    DlNameError,
    DlShapeError,
    DlSyntaxError,
    every_error,
)
from compiler.frontend import load_text
from compiler.parser import MISTAKES

MLP = """model M {{
  input x: f32[4]
  layers {{
{body}
  }}
{rest}
}}
"""


def model(body: str, rest: str = "") -> str:
    return MLP.format(body=body, rest=rest)


def error_of(text: str, path: str = "spec.dl") -> DlError:
    with pytest.raises(DlError) as caught:
        load_text(text, path)
    return caught.value


def locate(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """1-based line and column of `needle` in `text`."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def assert_error(text, at, kind, message, hint=None, occurrence=0):
    error = error_of(text)
    assert isinstance(error, kind), error.render()
    line, column = locate(text, at, occurrence)
    rendered = error.render().splitlines()
    assert rendered[0].startswith(f"spec.dl:{line}:{column}: error: "), rendered
    assert message in rendered[0], rendered
    source_line = text.splitlines()[line - 1]
    assert rendered[1].endswith(source_line)
    gutter = len(rendered[1]) - len(source_line)
    assert rendered[2].index("^") == gutter + column - 1, rendered
    if hint is None:
        assert not any(r.startswith("help:") for r in rendered), rendered
    else:
        helps = [r for r in rendered if r.startswith("help:")]
        assert len(helps) == 1 and helps[0].startswith(f"help: {hint}"), rendered
    return error


# name errors, each with the nearest valid name
def test_misspelt_layer_suggests_the_layer():
    text = model("    Conv2d(8, 3)")
    assert_error(text, "Conv2d", DlNameError, "unknown layer 'Conv2d'", "did you mean 'Conv2D'?")


def test_misspelt_layer_far_from_everything_has_no_suggestion():
    text = model("    Zzzqqq(8)")
    assert_error(text, "Zzzqqq", DlNameError, "unknown layer 'Zzzqqq'")


def test_misspelt_argument():
    text = model("    Dense(3, activaton=relu)")
    assert_error(text, "activaton", DlNameError, "Dense has no argument 'activaton'", "did you mean 'activation'?")


def test_misspelt_enum_value_bare_and_quoted():
    text = model("    Dense(3, activation=rellu)")
    assert_error(
        text, "rellu", DlNameError, "unknown value 'rellu' for Dense argument 'activation'", "did you mean 'relu'?"
    )
    text = model('    Dense(3, activation="sigmod")')
    assert_error(text, '"sigmod"', DlNameError, "unknown value 'sigmod'", "did you mean 'sigmoid'?")


def test_misspelt_label():
    text = model("    skip: Dense(4)\n    Dense(4)\n    Add(skpi)")
    assert_error(text, "skpi", DlNameError, "unknown label 'skpi'", "did you mean 'skip'?")


def test_from_unknown_label_lists_what_is_there():
    text = model("    a: Dense(4)\n    from zzz")
    assert_error(text, "zzz", DlNameError, "unknown label 'zzz'", "labels here: x, a")


def test_misspelt_dtype():
    text = model("    Dense(4)").replace("f32[4]", "f33[4]")
    assert_error(text, "f33", DlNameError, "unknown dtype 'f33'", "did you mean 'f32'?")


def test_misspelt_keyword_is_a_syntax_error_with_suggestion():
    text = model("    Dense(4)").replace("layers", "layres")
    assert_error(text, "layres", DlSyntaxError, "unexpected 'layres'", "did you mean 'layers'?")


def test_misspelt_loss_optimizer_metric_setting():
    text = model("    Dense(3, activation=softmax)", "  loss categorical_crossentropi")
    assert_error(
        text, "categorical_crossentropi", DlNameError, "unknown loss", "did you mean 'categorical_crossentropy'?"
    )
    text = model("    Dense(3)", "  optimizer Adamm(learning_rate=0.1)")
    assert_error(text, "Adamm", DlNameError, "unknown optimizer 'Adamm'", "did you mean 'Adam'?")
    text = model("    Dense(3)", "  metrics [acuracy]")
    assert_error(text, "acuracy", DlNameError, "unknown metric 'acuracy'", "did you mean 'accuracy'?")
    text = model("    Dense(3)", "  train { epoch = 3 }")
    assert_error(text, "epoch", DlNameError, "unknown train setting 'epoch'", "did you mean 'epochs'?")
    text = model("    Dense(3)", "  optimizer SGD(learning_rat=0.1)")
    assert_error(text, "learning_rat", DlNameError, "SGD has no argument", "did you mean 'learning_rate'?")


def test_misspelt_dataset_and_regularizer():
    text = model("    Dense(3)", '  train { data = dataset("digit") }')
    assert_error(text, '"digit"', DlNameError, "unknown value 'digit'", "did you mean 'digits'?")
    text = model("    Dense(3, kernel_regularizer=L2(0.1))")
    assert_error(text, "L2", DlNameError, "unknown regularizer 'L2'", "did you mean 'l2'?")


# argument errors
def test_wrong_type_and_float_division_hint():
    text = model("    Dense(8 / 2)")
    assert_error(text, "8 / 2", DlArgumentError, "must be a positive integer, got 4.0", "use // for integer division")
    text = model("    Dense(true)")
    assert_error(text, "true", DlArgumentError, "Dense argument 'units' must be a positive integer, got true")
    text = model("    Dropout(1.5)")
    assert_error(text, "1.5", DlArgumentError, "must be a number in [0.0, 1.0), got 1.5")


def test_missing_and_extra_arguments():
    text = model("    Dense(activation=relu)")
    assert_error(text, "Dense(activation", DlArgumentError, "Dense needs argument 'units'", "write Dense(units=...)")
    text = model("    Flatten(3)")
    assert_error(text, "3)", DlArgumentError, "Flatten takes at most 0 positional argument(s) (no arguments)")
    text = model("    Dense(3, units=4)")
    assert_error(text, "units", DlArgumentError, "Dense got argument 'units' twice")


def test_positional_after_keyword():
    text = model("    Dense(activation=relu, 3)")
    assert_error(text, "3)", DlSyntaxError, "a positional argument cannot follow a keyword argument")


def test_arithmetic_on_an_unknown_name():
    text = "block B(filters) {\n  Dense(filtres * 2)\n}\n" + model("    B(3)")
    assert_error(text, "filtres", DlArgumentError, "arithmetic needs numbers", "did you mean 'filters'?")


def test_division_by_zero():
    text = model("    Dense(4 // 0)")
    assert_error(text, "0)", DlArgumentError, "division by zero")


# shape errors name the layer, its input shape and what it needed
def test_recurrent_layer_on_an_image():
    text = model("    LSTM(8)").replace("f32[4]", "f32[8, 8, 1]")
    error = assert_error(
        text,
        "LSTM(8)",
        DlShapeError,
        "layer 'lstm' (LSTM) needs a sequence",
        "reshape to [timesteps, features] first, e.g. Reshape((8, 8))",
    )
    assert "its input shape: [8, 8, 1]" in error.message


def test_conv_on_a_vector():
    text = model("    Conv2D(8, 3)")
    error = assert_error(
        text,
        "Conv2D",
        DlShapeError,
        "layer 'conv2d' (Conv2D) needs 2 spatial dims",
        "Conv2D needs [height, width, channels]; use Conv1D on sequences",
    )
    assert "[4]" in error.message


def test_valid_window_larger_than_input():
    text = model("    Conv1D(8, 5)").replace("f32[4]", "f32[3, 2]")
    assert_error(text, "Conv1D", DlShapeError, "input size 3 is smaller than the window 5")


def test_merge_of_different_shapes():
    text = model("    a: Dense(4)\n    Dense(5)\n    Add(a)")
    error = assert_error(text, "Add", DlShapeError, "layer 'add' (Add) needs inputs of one shape, got [5], [4]")
    assert "its input shapes: [5] and [4]" in error.message


def test_merge_needs_two_inputs():
    text = model("    Dense(4)\n    Add()")
    assert_error(text, "Add", DlArgumentError, "Add needs at least 2 inputs, got 1", "name the other input: Add(skip)")


def test_flatten_of_a_variable_axis():
    text = model("    Flatten()").replace("f32[4]", "f32[?, 4]")
    assert_error(text, "Flatten", DlShapeError, "needs every dimension known to flatten")


def test_dense_on_integers_suggests_embedding():
    text = model("    Dense(4)").replace("f32[4]", "i64[4]")
    assert_error(text, "Dense", DlShapeError, "Dense needs a float input, got i64")


# structure
def test_block_that_uses_itself():
    text = "block Loop(n) {\n  Dense(n)\n  Loop(n)\n}\n" + model("    Loop(3)")
    assert_error(text, "Loop(n)", DlNameError, "block 'Loop' uses itself (Loop -> Loop)", occurrence=1)


def test_unused_input():
    text = model("    Dense(4)").replace("  input x: f32[4]", "  input x: f32[4]\n  input extra: f32[2]")
    assert_error(text, "input extra", DlNameError, "input 'extra' is never used", "read it with `from extra`")


def test_duplicate_label_in_one_scope():
    text = model("    a: Dense(4)\n    a: Dense(4)")
    assert_error(text, "a:", DlNameError, "label 'a' is defined twice here", occurrence=1)


def test_duplicate_section():
    text = model("    Dense(3)", "  loss mse\n  loss mae")
    assert_error(text, "loss mae", DlSyntaxError, "second 'loss' section")


def test_early_stopping_on_validation_loss_without_validation_data():
    text = model("    Dense(3)", "  train { early_stopping = EarlyStopping(patience=2) }")
    assert_error(
        text,
        "EarlyStopping",
        DlArgumentError,
        "monitors val_loss but there is no validation data",
        "set validation_split, or monitor=loss",
    )


# data
def test_data_that_does_not_fit_the_input():
    text = model("    Dense(10, activation=softmax)", '  train { data = dataset("iris") }').replace("f32[4]", "f32[5]")
    assert_error(
        text,
        "dataset",
        DlDataError,
        "the data has 4 values per sample, which do not fit the inputs (x [5])",
        "samples are reshaped to the input shape when their element counts match",
    )


def test_class_count_mismatch():
    text = model(
        "    Dense(3, activation=softmax)", '  loss categorical_crossentropy\n  train { data = dataset("digits") }'
    )
    text = text.replace("f32[4]", "f32[8, 8]")
    assert_error(
        text,
        "dataset",
        DlDataError,
        "the data has 10 classes but the model outputs 3",
        "end the model with Dense(10, ...)",
    )


def test_missing_data_file():
    text = model("    Dense(3)", '  train { data = csv("nowhere.csv", target="y") }')
    assert_error(text, '"nowhere.csv"', DlDataError, "data file 'nowhere.csv' not found")


def test_missing_csv_column(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,c,d,label\n1,2,3,4,x\n")
    text = model("    Dense(3)", '  train { data = csv("t.csv", target="lable") }')
    with pytest.raises(DlNameError) as caught:
        load_text(text, str(tmp_path / "spec.dl"))
    assert "has no column 'lable'" in caught.value.message
    assert caught.value.hint == "did you mean 'label'?"


# syntax
@pytest.mark.parametrize(("hint", "snippet"), [(h, s) for h, snippets in MISTAKES.items() for s in snippets])
def test_catalogue_of_known_mistakes(hint, snippet):
    error = error_of(snippet)
    assert isinstance(error, DlSyntaxError)
    assert error.hint == hint


def test_unexpected_character_with_hint():
    text = model("    Dense(4);")
    assert_error(
        text, ";", DlSyntaxError, "unexpected character ';'", "statements need no ';': put each on its own line"
    )


def test_unexpected_end_of_file_points_at_the_end():
    text = "model M {\n  input x: f32[4]\n  layers { Dense(4)"
    error = error_of(text)
    assert error.render().splitlines()[0].startswith("spec.dl:3:20: error: unexpected end of file")
    assert error.hint == "is a closing ')', ']' or '}' missing?"


def test_bad_string_escape():
    text = model('    Dense(3, activation="re\\qlu")')
    assert_error(text, '"re', DlSyntaxError, "invalid escape in string", 'use \\\\, \\" or \\n')


def test_number_out_of_range():
    text = model("    Dropout(1e999)")
    assert_error(text, "1e999", DlSyntaxError, "number 1e999 is out of range")


def test_a_layer_whose_output_reaches_no_output_is_an_error():
    """Keras would drop it from the model and from its parameter count (85 counted where Keras counts 67)."""
    text = model("    side: Dense(3)\n    Dense(5)\n    from x\n    Dense(2)")
    assert_error(
        text,
        "Dense(5)",
        DlNameError,
        "layer 'dense' (Dense): its output reaches no model output",
        "use it (`from dense`, or list it in a merge), or remove it",
    )


def test_a_labelled_layer_used_later_is_fine():
    (graph,) = load_text(model("    side: Dense(3)\n    from x\n    Dense(3)\n    Add(side)"))
    assert [node.name for node in graph.nodes] == ["side", "dense", "add"]


def test_unknown_training_names_list_the_valid_ones_and_name_keras_own():
    """A loss, optimizer, metric or setting Keras has but the language lacks is said to be Keras', never offered
    as another name; every one lists the valid names."""
    text = (
        "model M {\n  input x: f32[4]\n  layers { Dense(3, activation=softmax) }\n"
        "  loss CategoricalFocalCrossentropy\n  optimizer Ftrl()\n  metrics [AUC]\n  train { epoch = 3 }\n}\n"
    )
    errors = every_error(error_of(text))
    assert [e.message for e in errors] == [
        "Keras' loss 'CategoricalFocalCrossentropy' is not in the language yet",
        "Keras' optimizer 'Ftrl' is not in the language yet",
        "Keras' metric 'AUC' is not in the language yet",
        "unknown train setting 'epoch'",
    ]
    assert "valid: Adadelta, Adagrad, Adam," in errors[1].hint
    assert errors[3].hint.startswith("did you mean 'epochs'? (valid: batch_size, checkpoint, data,")


def test_every_independent_layer_error_is_reported_in_one_run():
    """A ViT-like spec with several unknown layers and a typo inside a block: each is reported once, with its
    span; Keras' own layers and arguments are named as such, never offered as another layer; the error inside
    the block notes the use that triggered it; a layer after a failed one is still checked."""
    text = (
        "block Enc(width) {\n  MultiHeadAttention(4, 8, dropuot=0.1)\n  Dense(width)\n}\n"
        "model M {\n  input x: f32[8, 8, 1]\n  layers {\n    Resizing(8, 8)\n    Reshape((4, 16))\n"
        "    Enc(16)\n    Enc(16)\n    LSTM(4, return_state=true)\n    Normalization()\n    Dense(10)\n  }\n}\n"
    )
    errors = every_error(error_of(text))
    assert [(e.message, e.span.line, e.span.column) for e in errors] == [
        ("Keras' layer 'Resizing' is not in the language yet", 8, 5),
        ("MultiHeadAttention has no argument 'dropuot'", 2, 28),
        ("Keras' LSTM argument 'return_state' is not in the language yet", 12, 13),
        ("Keras' layer 'Normalization' is not in the language yet", 13, 5),
    ]
    assert [e.hint for e in errors] == [None, "did you mean 'dropout'?", None, None]
    assert errors[1].notes == ["in block 'Enc', used at spec.dl:10:5"]
    assert error_of(text).render().endswith("4 errors")
