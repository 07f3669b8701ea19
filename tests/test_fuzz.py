"""The front end's promise: no input, however malformed, gets anything but a DlError out of it.

Hypothesis mutates the example files (characters, lines and the language's own tokens); hand-written
nasty inputs cover what random mutation rarely reaches. Every error must render as `file:line:col: error:`.
"""

from __future__ import annotations

import json
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.errors import DlError
from compiler.frontend import load_text
from compiler.ops import REGISTRY
from dlc import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.dl"))
TEXTS = {path: path.read_text(encoding="utf-8") for path in EXAMPLES}
EXAMPLES_PER_STRATEGY = 300
TIME_LIMIT_S = 3.0  # one load_text takes milliseconds; anything near this is a hang

FUZZ = settings(
    max_examples=EXAMPLES_PER_STRATEGY,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------------------------
# The vocabulary mutations draw from: the language's own words, its layers, numbers that sit on
# the edges of int/float handling, and its punctuation.

KEYWORDS = ["model", "block", "input", "layers", "loss", "optimizer", "metrics", "train", "repeat", "from"]
VALUES = ["true", "false", "in", "relu", "softmax", "same", "valid", "concat", "accuracy", "val_loss"]
DTYPES = ["f32", "f16", "f64", "i32", "i64", "u8"]
TRAINING = [
    "Adam",
    "SGD",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "mse",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "BinaryCrossentropy",
    "EarlyStopping",
    "dataset",
    "csv",
    "npz",
    "data",
    "epochs",
    "batch_size",
    "seed",
    "validation_split",
    "l1",
    "l2",
    "l1_l2",
    "units",
    "axis",
    "padding",
    "activation",
    "target_shape",
]
NUMBERS = [
    "0",
    "-1",
    "1",
    "2",
    "0.5",
    "1e-3",
    "1e400",
    "-1e400",
    "1e-400",
    "99999999999999999999",
    "-99999999999999999999",
    "0.0",
    ".5",
    "5.",
    "1e308",
    "9" * 400,  # an int too large for a float
    "9" * 5000,  # an int too long for Python's int(str) limit
]
PUNCTUATION = ["(", ")", "[", "]", "{", "}", ",", ":", "=", "?", "//", "/", "*", "+", "-", "#", '"', "'", ";", "."]
STRINGS = [
    '"digits"',
    '""',
    '"\\n"',
    '"\\u0000"',
    '"\\ud800"',
    '"data/iris.csv"',
    '"relu"',
    '"\\q"',
    '"' + "a" * 300 + '"',
]
ODD = ["\n", "\t", "\r", "\x0c", "\x00", "\u00e9", "\u2028", "\ufeff", "  "]
VOCABULARY = sorted(
    set(KEYWORDS + VALUES + DTYPES + TRAINING + NUMBERS + PUNCTUATION + STRINGS + ODD + sorted(REGISTRY))
)

# How the examples split into tokens, for replacing one; close to the grammar's terminals.
TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|"(?:[^"\\\n]|\\.)*"|//|\S')
NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
    "(){}[],:=?/#\"'\n\t\r-+*.0123456789"
)


# ---------------------------------------------------------------------------------------------
# Checks


class Hang(Exception):
    """load_text ran far longer than any spec should take."""


@contextmanager
def time_limit(seconds: float = TIME_LIMIT_S) -> Iterator[None]:
    """Turn a hang into a failure (main thread, POSIX); elsewhere, no limit."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"load_text still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_rendered(error: DlError, path: str) -> str:
    rendered = error.render()
    assert isinstance(rendered, str) and rendered
    if error.span is None:
        assert rendered.startswith("error: "), rendered[:300]
    else:
        assert re.match(re.escape(path) + r":\d+:\d+: error: ", rendered), rendered[:300]
        assert error.span.line >= 1 and error.span.column >= 1, error.span
    return rendered


def load_or_dlerror(text: str, path: str, seconds: float = TIME_LIMIT_S) -> DlError | None:
    """load_text's result when it returns graphs (None), or the DlError it raised, checked; anything else escapes."""
    try:
        with time_limit(seconds):
            graphs = load_text(text, path)
    except DlError as error:
        check_rendered(error, path)
        return error
    assert isinstance(graphs, list)
    return None


# ---------------------------------------------------------------------------------------------
# Mutations: each takes hypothesis' `draw` and a text, and returns the mutated text.

Mutation = Callable[[Callable, str], str]


def _position(draw, text: str) -> int:
    return draw(st.integers(0, len(text)))


def delete_chars(draw, text: str) -> str:
    at = _position(draw, text)
    return text[:at] + text[at + draw(st.integers(1, 12)) :]


def insert_chars(draw, text: str) -> str:
    at = _position(draw, text)
    return text[:at] + draw(st.text(CHARACTERS, min_size=1, max_size=6)) + text[at:]


def truncate(draw, text: str) -> str:
    return text[: _position(draw, text)]


def _lines(text: str) -> list[str]:
    return text.split("\n")


def swap_lines(draw, text: str) -> str:
    lines = _lines(text)
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def duplicate_line(draw, text: str) -> str:
    lines = _lines(text)
    i = draw(st.integers(0, len(lines) - 1))
    lines.insert(draw(st.integers(0, len(lines))), lines[i])
    return "\n".join(lines)


def delete_line(draw, text: str) -> str:
    lines = _lines(text)
    del lines[draw(st.integers(0, len(lines) - 1))]
    return "\n".join(lines)


def insert_token(draw, text: str) -> str:
    at = _position(draw, text)
    token = draw(st.sampled_from(VOCABULARY))
    if draw(st.booleans()):
        token = f" {token} "
    return text[:at] + token + text[at:]


def replace_token(draw, text: str) -> str:
    tokens = list(TOKEN.finditer(text))
    if not tokens:
        return insert_token(draw, text)
    match = draw(st.sampled_from(tokens))
    return text[: match.start()] + draw(st.sampled_from(VOCABULARY)) + text[match.end() :]


def replace_number(draw, text: str) -> str:
    numbers = [m for m in TOKEN.finditer(text) if NUMBER.fullmatch(m.group())]
    if not numbers:
        return insert_token(draw, text)
    match = draw(st.sampled_from(numbers))
    return text[: match.start()] + draw(st.sampled_from(NUMBERS)) + text[match.end() :]


def delete_token(draw, text: str) -> str:
    tokens = list(TOKEN.finditer(text))
    if not tokens:
        return text
    match = draw(st.sampled_from(tokens))
    return text[: match.start()] + text[match.end() :]


@st.composite
def mutated(draw, mutations: list[Mutation]) -> tuple[str, str]:
    """(path, text): one example file with one to four mutations applied."""
    path = draw(st.sampled_from(EXAMPLES))
    text = TEXTS[path]
    for _ in range(draw(st.integers(1, 4))):
        text = draw(st.sampled_from(mutations))(draw, text)
    return str(path), text


CHARACTER_MUTATIONS = [delete_chars, insert_chars, truncate]
LINE_MUTATIONS = [swap_lines, duplicate_line, delete_line, truncate]
TOKEN_MUTATIONS = [insert_token, replace_token, replace_number, delete_token]
ALL_MUTATIONS = CHARACTER_MUTATIONS + LINE_MUTATIONS + TOKEN_MUTATIONS


def test_examples_load():
    assert EXAMPLES, "no examples found"
    for path in EXAMPLES:
        assert load_or_dlerror(TEXTS[path], str(path)) is None, f"{path.name} does not load"


@FUZZ
@given(mutated(CHARACTER_MUTATIONS))
def test_character_mutations_raise_only_dlerror(case):
    load_or_dlerror(case[1], case[0])


@FUZZ
@given(mutated(LINE_MUTATIONS))
def test_line_mutations_raise_only_dlerror(case):
    load_or_dlerror(case[1], case[0])


@FUZZ
@given(mutated(TOKEN_MUTATIONS))
def test_token_mutations_raise_only_dlerror(case):
    load_or_dlerror(case[1], case[0])


@FUZZ
@given(mutated(ALL_MUTATIONS))
def test_mixed_mutations_raise_only_dlerror(case):
    load_or_dlerror(case[1], case[0])


# ---------------------------------------------------------------------------------------------
# Hand-written nasty inputs


def model(layers: str, rest: str = "") -> str:
    return f"model M {{\n  input x: f32[4]\n  layers {{\n    {layers}\n  }}\n  {rest}\n}}\n"


def image_model(layers: str) -> str:
    return f"model M {{\n  input x: f32[8, 8, 1]\n  layers {{\n    {layers}\n  }}\n}}\n"


def train(settings_text: str) -> str:
    return model("Dense(3, activation=softmax)", f"loss categorical_crossentropy\n  train {{ {settings_text} }}")


BIG = "99999999999999999999"
FLOAT_OVERFLOW = "9" * 400  # an integer literal beyond the largest float
DIGITS_5000 = "9" * 5000  # beyond Python's default int(str) limit of 4300 digits
DIGITS_3000 = "9" * 3000  # within it, but the product of two is not
GARBAGE = bytes((i * 7919 + 13) % 256 for i in range(4096)).decode("latin-1")

NASTY = {
    # empty and comment-only
    "empty": "",
    "only_whitespace": " \n\t\r\n  \x0c\n",
    "only_comments": "# a comment\n# another one\n   # indented\n#",
    "comment_without_newline": "# no newline at the end",
    # nesting
    "5000_nested_parens_closed": model("Dense(" + "(" * 5000 + "1" + ")" * 5000 + ")"),
    "5000_nested_parens_open": "(" * 5000,
    "5000_nested_parens_in_call": model("Dense(" + "(" * 5000),
    "5000_nested_lists": model("Dense(" + "[" * 5000 + "]" * 5000 + ")"),
    "5000_nested_tuples": model("Reshape(" + "(1, " * 5000 + "1" + ")" * 5000 + ")"),
    "5000_unary_minus": model("Dense(" + "-" * 5000 + "1)"),
    "5000_nested_calls": model("Dense(" + "Dense(" * 5000 + ")" * 5001),
    "5000_binary_ops": model("Dense(" + " + ".join(["1"] * 5000) + ")"),
    "3000_nested_repeats": model("repeat 1 { " * 3000 + "Dense(1)" + " }" * 3000),
    "3000_chained_blocks": "".join(f"block B{i}() {{ B{i + 1}() }}\n" for i in range(3000))
    + "block B3000() { Dense(1) }\n"
    + model("B0()"),
    # repeat
    "repeat_100000000": model("repeat 100000000 { Dense(1) }"),
    "repeat_100000_nested_empty": model("repeat 100000 { repeat 100000 { } }\n    Dense(1)"),
    "repeat_100000_nested_from": model("repeat 100000 { repeat 100000 { from x } }\n    Dense(1)"),
    "repeat_negative": model("repeat -1 { Dense(1) }"),
    "repeat_float": model("repeat 2.5 { Dense(1) }"),
    "repeat_question": model("repeat ? { Dense(1) }"),
    # blocks that use themselves
    "block_uses_itself": "block B() { B() }\n" + model("B()"),
    "block_uses_itself_in_repeat": "block B(n=2) { repeat n { B(n) } }\n" + model("B()"),
    "blocks_use_each_other": "block A() { B() }\nblock B() { C() }\nblock C() { A() }\n" + model("A()"),
    "block_default_calls_itself": "block B(a=B()) { Dense(a) }\n" + model("B()"),
    "block_wrapped_in_bidirectional": "block B() { Bidirectional(B()) }\n" + model("B()"),
    "block_named_like_a_layer": "block Dense(units) { ReLU() }\n" + model("Dense(1)"),
    "block_parameter_named_in": "block B(in) { Dense(1) }\n" + model("B(1)"),
    # binary garbage
    "bytes_0_to_255_latin1": bytes(range(256)).decode("latin-1"),
    "pseudo_random_bytes_latin1": GARBAGE,
    "valid_model_then_garbage": model("Dense(1)") + GARBAGE,
    "garbage_in_a_comment": model("Dense(1)  # " + GARBAGE.replace("\n", " ")),
    "nul_bytes": "model M\x00 { }",
    "byte_order_mark": "\ufeff" + model("Dense(1)"),
    "lone_surrogate_in_string": model('Dense(1, activation="\\ud800")'),
    # very long lines
    "1mb_comment_line": "#" + "x" * 2**20 + "\n" + model("Dense(1)"),
    "1mb_name": "model " + "A" * 2**20 + " { }",
    "1mb_of_spaces": model(" " * 2**20 + "Dense(1)"),
    "1mb_string": model('Dense(1, activation="' + "r" * 2**20 + '")'),
    "1mb_digits": model("Dense(" + "1" * 2**20 + ")"),
    "1mb_of_open_parens": "(" * 2**20,
    # ? where it does not belong
    "question_as_argument": model("Dense(?)"),
    "question_as_model_name": "model ? { }",
    "question_as_label": model("?: Dense(1)"),
    "question_in_tuple": model("Reshape((?, 4))"),
    "question_as_setting": train("epochs = ?"),
    "question_dim_then_flatten": "model M { input x: f32[?] layers { Flatten() Dense(1) } }",
    "question_dims_then_dense": "model M { input x: f32[?, ?] layers { Dense(1) } }",
    "question_dims_then_conv": "model M { input x: f32[?, ?, ?] layers { Conv2D(1, 3) } }",
    "question_input_reshape": "model M { input x: f32[?, 4] layers { Reshape((-1,)) } }",
    "question_dim_dataset": 'model M { input x: f32[?] layers { Dense(1) } train { data = dataset("iris") } }',
    "question_as_dtype": "model M { input x: ?[4] layers { Dense(1) } }",
    "question_in_block_params": "block B(?) { Dense(1) }\n" + model("B()"),
    # division by zero
    "div_zero": model("Dense(1 / 0)"),
    "floordiv_zero": model("Dense(4 // 0)"),
    "floordiv_zero_float": model("Dense(4 // 0.0)"),
    "zero_div_zero": model("Dropout(0 / 0)"),
    "div_zero_in_block_default": "block B(a=1 // 0) { Dense(a) }\n" + model("B()"),
    "div_zero_in_block_argument": "block B(a) { Dense(4 // a) }\n" + model("B(0)"),
    "div_zero_in_repeat": model("repeat 1 // 0 { Dense(1) }"),
    "div_zero_in_setting": train('data = dataset("iris")\n epochs = 10 // 0'),
    "div_zero_in_optimizer": model("Dense(1)", "optimizer Adam(learning_rate=1 / 0)"),
    "div_zero_in_tuple": image_model("Conv2D(1, (3 // 0, 3))"),
    "div_by_tiny": model("Dropout(1 / 1e-320)"),
    # huge and edge numbers
    "huge_int_units": model(f"Dense({BIG})"),
    "huge_int_dim": f"model M {{ input x: f32[{BIG}, {BIG}] layers {{ Flatten() Dense({BIG}) }} }}",
    "huge_int_kernel": image_model(f"Conv2D(1, {BIG})"),
    "huge_int_strides": image_model(f"Conv2D(1, 3, strides={BIG}, padding=same)"),
    "huge_int_axis": model(f"a: Dense(4)\n    Dense(3)\n    Concatenate(a, axis=-{BIG})"),
    "huge_int_repeat": model(f"repeat {BIG} {{ Dense(1) }}"),
    "huge_int_epochs": train(f'data = dataset("iris")\n epochs = {BIG}\n batch_size = {BIG}\n seed = -{BIG}'),
    "float_literal_overflow": model("Dense(1e400)"),
    "float_arith_overflow": model("Dropout(1e308 * 10)"),
    "float_floordiv_overflow": model("Dense(1e308 // 1e-308)"),
    "float_huge_int_arith": model(f"Dropout({FLOAT_OVERFLOW} / 3)"),
    "float_huge_int_mixed": model(f"Dropout({FLOAT_OVERFLOW} + 0.5)"),
    "float_arg_huge_int_rescaling": model(f"Rescaling({FLOAT_OVERFLOW})"),
    "float_arg_huge_int_leaky_relu": model(f"LeakyReLU({FLOAT_OVERFLOW})"),
    "float_arg_huge_int_learning_rate": model("Dense(1)", f"optimizer Adam(learning_rate={FLOAT_OVERFLOW})"),
    "float_arg_huge_int_regularizer": model(f"Dense(1, kernel_regularizer=l2({FLOAT_OVERFLOW}))"),
    "int_literal_5000_digits": model(f"Dense({DIGITS_5000})"),
    "int_product_6000_digits_negative": model(f"Dense(-({DIGITS_3000} * {DIGITS_3000}))"),
    "int_product_6000_digits_axis": model(f"Softmax(axis={DIGITS_3000} * {DIGITS_3000})"),
    "int_product_6000_digits_repeat": model(f"repeat {DIGITS_3000} * {DIGITS_3000} {{ Dense(1) }}"),
    "int_product_6000_digits_dropout": model(f"Dropout({DIGITS_3000} * {DIGITS_3000})"),
    "int_where_float_expected": model("Dense(2.0)"),
    "zero_units": model("Dense(0)"),
    "negative_units": model("Dense(-1)"),
    "zero_dim": "model M { input x: f32[0] layers { Dense(1) } }",
    # bad data paths (strings are the user's too)
    "data_path_nul": train('data = csv("\\u0000", target="a")'),
    "data_path_surrogate": train('data = csv("\\ud800", target="a")'),
    "data_path_too_long": train('data = csv("' + "a" * 5000 + '", target="a")'),
    "data_path_directory": train('data = csv("/", target="a")'),
    "data_path_binary_as_npz": train('data = npz("/bin/sh")'),
    # misc
    "semicolons": model("Dense(1);"),
    "single_quotes": model("Dense(1, activation='relu')"),
    "keyword_as_name": "model model { input input: f32[4] layers { layers: Dense(1) } }",
    "two_layers_sections": "model M { input x: f32[4] layers { Dense(1) } layers { Dense(1) } }",
    "positional_after_keyword": model("Dense(activation=relu, 4)"),
    "merge_without_labels": model("Add()"),
    "merge_with_numbers": model("Add(1, 2)"),
    "from_unknown": model("from nowhere\n    Dense(1)"),
    "label_twice": model("a: Dense(1)\n    a: Dense(1)"),
    "bidirectional_of_bidirectional": "model M { input x: f32[3, 4] layers { Bidirectional(Bidirectional(LSTM(2))) } }",
    "bidirectional_of_number": "model M { input x: f32[3, 4] layers { Bidirectional(1) } }",
    "unknown_everything": "model M { input x: q32[4] layers { Dnese(1) } loss foo optimizer Bar() metrics baz }",
}

# Inputs that load (or fail) only slowly or through the CLI's summaries get these too.
CLI_NASTY = [
    "empty",
    "only_comments",
    "pseudo_random_bytes_latin1",
    "huge_int_units",
    "huge_int_dim",
    "int_literal_5000_digits",
    "int_product_6000_digits_negative",
]
CLI_NASTY_EXTRA = {
    # elaborates, but its summary prints a 6000-digit number
    "int_product_6000_digits_units": model(f"Dense({DIGITS_3000} * {DIGITS_3000})"),
}


# These run the 1,000,000 repeat passes the README allows before failing: 1-3 s here, 4 s on a loaded machine
SLOW_NASTY = {"repeat_100000_nested_empty", "repeat_100000_nested_from"}


@pytest.mark.parametrize("name", list(NASTY))
def test_nasty_input_raises_only_dlerror(name):
    path = str(ROOT / "examples" / f"{name}.dl")  # data paths resolve next to the examples
    load_or_dlerror(NASTY[name], path, 5 * TIME_LIMIT_S if name in SLOW_NASTY else TIME_LIMIT_S)


@pytest.mark.parametrize("name", CLI_NASTY + list(CLI_NASTY_EXTRA))
@pytest.mark.parametrize("json_output", [False, True], ids=["table", "json"])
def test_nasty_input_through_cli(name, json_output, tmp_path, capsys):
    text = NASTY[name] if name in NASTY else CLI_NASTY_EXTRA[name]
    path = tmp_path / f"{name}.dl"
    path.write_text(text, encoding="utf-8")
    with time_limit():
        status = cli.main(["check", *(["--json"] if json_output else []), str(path)])
    out, err = capsys.readouterr()
    assert status in (0, 1)
    if status == 1 and json_output:  # the file's errors are in the JSON, each with where and what
        (report,) = json.loads(out)
        assert report["file"] == str(path) and report["errors"], report
        assert all(e["severity"] == "error" and e["message"] for e in report["errors"]), report
    elif status == 1:
        assert re.match(rf"({re.escape(str(path))}:\d+:\d+: )?error: ", err), err[:300]


# ---------------------------------------------------------------------------------------------
# The quoted line: line numbers count '\n' only (as the parser does), so the line shown under
# `file:line:col` must be that line even when the text holds other Unicode line breaks.

LINE_BREAK_CASES = {
    "form_feed_whitespace": "model M {\x0c\n  input x: f32[4]\n  layers { Dense(4 4) }\n}\n",
    "line_separator_in_comment": "model M {  # caf\u00e9\u2028ok\n  input x: f32[4]\n  layers { Dense(4 4) }\n}\n",
    "vertical_tab_in_comment": "# a\x0bb\nmodel M {\n  input x: f32[4]\n  layers { Dense(4 4) }\n}\n",
    "crlf": "model M {\r\n  input x: f32[4]\r\n  layers { Dense(4 4) }\r\n}\r\n",
    "plain": "model M {\n  input x: f32[4]\n  layers { Dense(4 4) }\n}\n",
}


@pytest.mark.parametrize("name", list(LINE_BREAK_CASES))
def test_error_quotes_the_line_it_names(name):
    text = LINE_BREAK_CASES[name]
    error = load_or_dlerror(text, "spec.dl")
    assert error is not None and error.span is not None
    rendered = error.render().split("\n")
    expected = text.split("\n")[error.span.line - 1].removesuffix("\r").expandtabs(1)
    assert rendered[1] == f"{error.span.line} | {expected}", rendered
    caret = rendered[2]
    assert caret.index("^") == len(f"{error.span.line} | ") + error.span.column - 1


# ---------------------------------------------------------------------------------------------
# Documented limits (README: `repeat` counts up to 100,000 and 1,000,000 passes; a layer's size is a positive
# integer; no division by zero) are errors with the location of what broke them, never a model, never a hang.

LIMITS = {  # name: (text, what the error says, the text its span covers)
    "repeat_100001": (
        model("repeat 100001 { Dense(1) }"),
        "repeat count must be an integer from 0 to 100,000",
        "100001",
    ),
    "repeat_100000000": (NASTY["repeat_100000000"], "repeat count", "100000000"),
    "repeat_huge_int": (NASTY["huge_int_repeat"], "out of range", BIG),
    "repeat_passes": (NASTY["repeat_100000_nested_empty"], "more than 1,000,000 passes", "repeat 100000 { }"),
    "dense_0": (NASTY["zero_units"], "'units' must be a positive integer, got 0", "0"),
    "dense_negative": (NASTY["negative_units"], "'units' must be a positive integer, got -1", "-1"),
    "dense_0_from_arithmetic": (model("Dense(2 - 2)"), "'units' must be a positive integer, got 0", "2 - 2"),
    "div_zero": (NASTY["div_zero"], "division by zero", "0"),
    "floordiv_zero": (NASTY["floordiv_zero"], "division by zero", "0"),
    "floordiv_zero_float": (NASTY["floordiv_zero_float"], "division by zero", "0.0"),
    "zero_div_zero": (NASTY["zero_div_zero"], "division by zero", "0"),
    "div_zero_in_block_default": (NASTY["div_zero_in_block_default"], "division by zero", "0"),
    "div_zero_in_block_argument": (NASTY["div_zero_in_block_argument"], "division by zero", "a"),
    "div_zero_in_repeat": (NASTY["div_zero_in_repeat"], "division by zero", "0"),
    "div_zero_in_setting": (NASTY["div_zero_in_setting"], "division by zero", "0"),
    "div_zero_in_optimizer": (NASTY["div_zero_in_optimizer"], "division by zero", "0"),
    "div_zero_in_tuple": (NASTY["div_zero_in_tuple"], "division by zero", "0"),
}


def spanned(text: str, span) -> str:
    lines = text.split("\n")
    if span.end_line == span.line:
        return lines[span.line - 1][span.column - 1 : span.end_column - 1]
    return "\n".join([lines[span.line - 1][span.column - 1 :], *lines[span.line : span.end_line - 1]])


@pytest.mark.parametrize("name", list(LIMITS))
def test_documented_limits_are_errors_with_a_location(name, tmp_path, capsys):
    text, message, covered = LIMITS[name]
    path = tmp_path / f"{name}.dl"
    seconds = 5 * TIME_LIMIT_S if name == "repeat_passes" else TIME_LIMIT_S
    error = load_or_dlerror(text, str(path), seconds)
    assert error is not None, f"{name} loaded: the documented limit is not enforced"
    assert error.span is not None, error.render()
    assert message in error.message, error.render()
    assert spanned(text, error.span) == covered, (error.span, error.render())
    path.write_text(text, encoding="utf-8")
    with time_limit(seconds):
        status = cli.main(["check", str(path)])
    out, err = capsys.readouterr()
    assert status == 1, out[:300]
    assert err.startswith(f"{path}:{error.span.line}:{error.span.column}: error: "), err[:300]
    assert "Traceback" not in err
