"""Data and weight files that cannot be used are the user's mistakes, not dlc's: exit 1 with a message naming the
file and the row and column (or the array, sample or tensor), never "internal error" (exit 70) and never a
model trained to loss=nan. And a spec or a weights file cannot make dlc print other files or drive the
terminal: column names are shown only from files that read as CSV tables, capped, and everything echoed is
escaped."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from compiler.errors import DlError, Source, Span
from compiler.frontend import load_model
from compiler.weights import initial_weights, save_safetensors
from dlc import cli

IRIS = ROOT / "examples/iris_mlp.dl"
MARKER = "hunter2-dlc-marker"

SPEC = """model M {{
  input x: f32[{features}]
  layers {{
    Dense({units}{activation})
  }}
  loss {loss}
  optimizer Adam()
  train {{
    data = {data}
    epochs = 1
  }}
}}
"""


def spec(folder: Path, data: str, loss="categorical_crossentropy", units=2, features=2, name="spec.dl") -> Path:
    activation = ", activation=softmax" if "categorical" in loss else ""
    path = folder / name
    path.write_text(SPEC.format(data=data, loss=loss, units=units, features=features, activation=activation))
    return path


def dlc(*args, env=None, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlc", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def refused(capsys, *argv) -> str:
    """The CLI's stderr for a command that must fail as the user's mistake (exit 1, not 70)."""
    status = cli.main([*map(str, argv)])
    err = capsys.readouterr().err
    assert status == 1, err
    assert "internal error" not in err
    return err


def npy(shape, dtype="<f4", payload=b"") -> bytes:
    """A .npy file's bytes: a header for `shape` and then `payload`, whatever the header claims."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


# ---------------------------------------------------------------- item 5: nothing leaks, nothing drives the terminal


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="needs Linux's /proc")
def test_a_spec_pointed_at_the_environment_does_not_print_it(tmp_path):
    path = spec(tmp_path, 'csv("/proc/self/environ", target="a")')
    # a value with commas and a newline, so the environment splits into fields and rows of a would-be table
    env = os.environ | {"DLC_SECRET_MARKER": f"{MARKER},x,y\nz,{MARKER}"}
    result = dlc("check", path, env=env)
    assert result.returncode == 1, result.stderr
    assert "spec.dl:9:16: error: '/proc/self/environ'" in result.stderr
    assert MARKER not in result.stdout + result.stderr
    assert "DLC_SECRET_MARKER" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "content",
    [
        f"root:{MARKER}:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/bin/sh\n",  # one field a line
        f"{MARKER},b\n1,2,3\n",  # ragged rows
        f"{MARKER},b\n",  # a first line and nothing else
        f"\x1b[31m{MARKER},b\n1,2\n",  # a table, but its first line is not names
        f"{MARKER}{'x' * 80},b\n1,2\n",  # nor is a 90-character "name"
        f"\x00\x01{MARKER}\n".encode() + b"\xff,b\n1,2\n",  # not UTF-8
    ],
    ids=["passwd", "ragged", "one_line", "control_chars", "long_name", "binary"],
)
def test_no_line_of_a_file_that_is_not_a_table_is_shown(content, tmp_path, capsys):
    (tmp_path / "secret").write_bytes(content if isinstance(content, bytes) else content.encode())
    err = refused(capsys, "check", spec(tmp_path, 'csv("secret", target="a")'))
    assert MARKER not in err
    assert "'secret'" in err


def test_columns_of_a_real_table_are_listed_capped(tmp_path, capsys):
    names = [f"feature_{k}" for k in range(30)]
    (tmp_path / "wide.csv").write_text(",".join(names) + "\n" + ",".join("1" * 30) + "\n")
    err = refused(capsys, "check", spec(tmp_path, 'csv("wide.csv", target="zzz")', features=29))
    help_line = err.splitlines()[-1]
    assert help_line.startswith("help: its columns: feature_0, feature_1, ")
    assert help_line.endswith("feature_11 and 18 more")


def test_control_characters_in_a_spec_are_escaped(tmp_path, capsys):
    """ESC, BEL and NUL written in a string literal, and a raw ESC in the source, reach the terminal as text."""
    path = spec(tmp_path, 'csv("\\u001b[2J\\u0007\\u0000.csv", target="a")')
    err = refused(capsys, "check", path)
    assert not {"\x1b", "\x07", "\x00"} & set(err)
    assert "data file '\\x1b[2J\\x07\\x00.csv' cannot be opened" in err
    path.write_text("model M\x1b[31m\x07 {\n}\n")
    err = refused(capsys, "check", path)
    assert not {"\x1b", "\x07"} & set(err)
    assert "1 | model M\\x1b[31m\\x07 {" in err


def test_the_caret_stays_under_its_column_after_escapes():
    text = 'x = "\x1b\x07" + y'
    span = Span(Source("s.dl", text), 1, text.index("y") + 1, 1, text.index("y") + 2)
    quoted, caret = DlError("unknown name 'y'", span).render().splitlines()[1:3]
    assert quoted == '1 | x = "\\x1b\\x07" + y'
    assert caret.index("^") == quoted.index("y") and caret.count("^") == 1


def test_convert_does_not_read_a_file_that_hostile_metadata_names(tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{MARKER} = value\n")
    weights = initial_weights(load_model(IRIS), 0)
    save_safetensors(tmp_path / "w.safetensors", weights, {"source": str(secret), "model": "M\x1b[2J"})
    err = refused(capsys, "convert", tmp_path / "w.safetensors", "--to", "pytorch", "-o", tmp_path / "w.pt")
    assert MARKER not in err
    assert f"(it names {secret}, which is not a .dl spec); add --spec FILE.dl" in err
    # a tensor name is the file's too: escaped where it is echoed
    save_safetensors(tmp_path / "odd.safetensors", weights | {"\x1b[2Jodd": np.zeros(1, np.float32)})
    err = refused(
        capsys, "convert", tmp_path / "odd.safetensors", "--to", "pytorch", "--spec", IRIS, "-o", tmp_path / "w.pt"
    )
    assert "\x1b" not in err and "unexpected \\x1b[2Jodd" in err


def test_a_spec_that_is_a_kernel_file_is_not_quoted(tmp_path, capsys):
    """A `.dl` link to /proc/self/environ is a regular file of size 0 that reads as the environment: named by
    a weights file's metadata, `convert` read it and quoted its first line (every variable) in a syntax error.
    Neither `check` nor `convert` reads one."""
    link = tmp_path / "spec.dl"
    link.symlink_to("/proc/self/environ")
    os.environ[MARKER] = "leaked"
    try:
        err = refused(capsys, "check", link)
        assert MARKER not in err and "kernel" in err
        save_safetensors(tmp_path / "w.safetensors", initial_weights(load_model(IRIS), 0), {"source": str(link)})
        err = refused(capsys, "convert", tmp_path / "w.safetensors", "--to", "pytorch", "-o", tmp_path / "w.pt")
        assert MARKER not in err and "kernel" in err
    finally:
        del os.environ[MARKER]


def test_names_too_long_for_the_file_system_are_the_users_mistake(tmp_path, capsys):
    err = refused(capsys, "train", IRIS, "--out", tmp_path / ("a" * 300))
    assert "File name too long" in err
    save_safetensors(tmp_path / "w.safetensors", initial_weights(load_model(IRIS), 0), {"source": "a" * 5000 + ".dl"})
    err = refused(capsys, "convert", tmp_path / "w.safetensors", "--to", "pytorch", "-o", tmp_path / "w.pt")
    assert "add --spec FILE.dl" in err


def test_a_terminal_that_cannot_show_the_summary_still_gets_it(tmp_path):
    """The summary's box lines are not ASCII: on an ASCII terminal they became an internal error (exit 70)."""
    done = dlc("check", IRIS, env=os.environ | {"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 0, done.stderr
    assert "IrisMLP" in done.stdout and "Total params" in done.stdout


# ---------------------------------------------------------------- item 9: data faults are the user's, named


CSV_FAULTS = {
    # name: (table, loss, units, phrases the message must hold)
    "not_a_number": ("a,b,y\n1,2,0\n3,x,1\n", "categorical_crossentropy", 2, ["row 3, column 2 ('b')", "not a number"]),
    "empty_cell": ("a,b,y\n1,2,0\n,1,1\n", "categorical_crossentropy", 2, ["row 3, column 1 ('a')", "empty"]),
    "empty_target": ("a,b,y\n1,2,0\n2,1,\n", "categorical_crossentropy", 2, ["row 3, column 3 ('y')", "empty"]),
    "short_row": ("a,b,y\n1,2,0\n3,1\n", "categorical_crossentropy", 2, ["row 3 has 2 fields", "header has 3"]),
    "long_row": ("a,b,y\n1,2,0\n\n3,1,1,7\n", "categorical_crossentropy", 2, ["row 4 has 4 fields"]),
    "nan_feature": ("a,b,y\n1,2,0\n3,nan,1\n", "categorical_crossentropy", 2, ["row 3, column 2 ('b')", "nan"]),
    "inf_feature": ("a,b,y\n1,-inf,0\n3,1,1\n", "categorical_crossentropy", 2, ["row 2, column 2 ('b')", "inf"]),
    "float32_overflow": ("a,b,y\n1,1e39,0\n3,1,1\n", "categorical_crossentropy", 2, ["row 2, column 2 ('b')"]),
    "nan_target": ("a,b,y\n1,2,0.5\n3,1,NaN\n", "mse", 1, ["row 3, column 3 ('y')", "target is nan"]),
    "float_labels": ("a,b,y\n1,2,0\n3,1,0.5\n", "categorical_crossentropy", 2, ["row 3: the target is 0.5, not"]),
    "negative_label": ("a,b,y\n1,2,0\n3,1,-1\n", "sparse_categorical_crossentropy", 2, ["row 3: the target is -1,"]),
    # numbers are their own ids: 1 and 2 are three classes (0, 1, 2), not two
    "labels_from_1": ("a,b,y\n1,2,1\n3,1,2\n", "sparse_categorical_crossentropy", 2, ["the data has 3 classes"]),
    "labels_onehot": ("a,b,y\n1,2,1\n3,1,2\n", "categorical_crossentropy", 2, ["the data has 3 classes"]),
    "values_for_3_outputs": ("a,b,y\n1,2,1\n3,1,2\n", "mse", 3, ["one value per sample", "outputs [3]"]),
    "three_classes_binary": ("a,b,y\n1,2,a\n3,1,b\n0,0,c\n", "binary_crossentropy", 1, ["takes two (0 and 1)"]),
}


@pytest.mark.parametrize("case", list(CSV_FAULTS))
def test_csv_faults_are_named_by_dlc_check(case, tmp_path, capsys):
    table, loss, units, phrases = CSV_FAULTS[case]
    (tmp_path / "d.csv").write_text(table)
    err = refused(capsys, "check", spec(tmp_path, 'csv("d.csv", target="y")', loss=loss, units=units))
    assert err.startswith(f"{tmp_path / 'spec.dl'}:9:"), err
    for phrase in phrases:
        assert phrase in err


def test_whole_number_float_labels_are_class_ids(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,1.0\n3,1,0.0\n")
    assert cli.main(["check", str(spec(tmp_path, 'csv("d.csv", target="y")'))]) == 0, capsys.readouterr().err


def test_dlc_train_refuses_bad_data_before_it_trains(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\n3,x,1\n")
    result = dlc("train", spec(tmp_path, 'csv("d.csv", target="y")'), "--out", tmp_path / "run")
    assert result.returncode == 1, result.stderr
    assert "row 3, column 2 ('b'): not a number" in result.stderr
    assert "Traceback" not in result.stderr


def write_npz(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, blob in members.items():
            archive.writestr(name, blob)


def saved(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return buffer.getvalue()


X = np.arange(8, dtype=np.float32).reshape(4, 2)
Y = np.array([0, 1, 0, 1])
NPZ_FAULTS = {
    "header_claims_1e12_rows": (
        {"x.npy": npy((10**12, 2), payload=bytes(64)), "y.npy": saved(Y)},
        ["array 'x'", "claims shape [1000000000000, 2]"],
    ),
    "nan_feature": ({"x.npy": saved(np.where(X == 5, np.nan, X)), "y.npy": saved(Y)}, ["array 'x'", "at sample 2"]),
    "inf_target": ({"x.npy": saved(X), "y.npy": saved([0.0, 1.0, np.inf, 0.0])}, ["array 'y'", "inf at sample 2"]),
    "rows_disagree": ({"x.npy": saved(X), "y.npy": saved(Y[:3])}, ["array 'y' has 3 rows, but 'x' has 4"]),
    "text_labels": ({"x.npy": saved(X), "y.npy": saved(np.array(["a", "b", "a", "b"]))}, ["array 'y' holds <U1"]),
    "float_labels": ({"x.npy": saved(X), "y.npy": saved([0.0, 0.5, 1.0, 1.0])}, ["'y': sample 1 is 0.5, not a"]),
    "missing_array": ({"x.npy": saved(X), "labels.npy": saved(Y)}, ["has no array 'y'", "it holds: x, labels"]),
    "not_only_arrays": ({"x.npy": saved(X), "y.npy": saved(Y), "notes.txt": b"hi"}, ["not an .npz archive"]),
}


@pytest.mark.parametrize("case", list(NPZ_FAULTS))
def test_npz_faults_are_named_by_dlc_check(case, tmp_path, capsys):
    members, phrases = NPZ_FAULTS[case]
    write_npz(tmp_path / "d.npz", members)
    err = refused(capsys, "check", spec(tmp_path, 'npz("d.npz")', loss="sparse_categorical_crossentropy"))
    assert "'d.npz'" in err
    for phrase in phrases:
        assert phrase in err


def test_a_npy_named_as_npz_is_not_read(tmp_path, capsys):
    (tmp_path / "d.npy").write_bytes(npy((10**12, 2), payload=bytes(64)))
    err = refused(capsys, "check", spec(tmp_path, 'npz("d.npy")', loss="sparse_categorical_crossentropy"))
    assert "'d.npy': cannot read: not an .npz (zip) archive" in err


def test_predict_refuses_a_npy_header_that_claims_1e12_rows(tmp_path, capsys):
    (tmp_path / "x.npy").write_bytes(npy((10**12, 4), payload=bytes(64)))
    assert cli.main(["export", str(IRIS), "-o", str(tmp_path / "iris.onnx")]) == 0
    capsys.readouterr()
    err = refused(capsys, "predict", tmp_path / "iris.onnx", "--input", tmp_path / "x.npy")
    assert "x.npy" in err and "claims shape [1000000000000, 4]" in err


def test_a_safetensors_header_nested_a_thousand_deep_is_refused(tmp_path, capsys):
    header = json.dumps({"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "deep": "@"})
    header = header.replace('"@"', "[" * 1000 + "]" * 1000).encode()
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    for argv in (["verify", IRIS, "--weights", path], ["convert", path, "--to", "pytorch", "-o", tmp_path / "w.pt"]):
        assert "deep.safetensors: not a valid safetensors file" in refused(capsys, *argv)


def test_train_out_naming_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "taken").write_text("keep me")
    err = refused(capsys, "train", IRIS, "--out", tmp_path / "taken")
    assert "--out" in err and "taken" in err and "is a file" in err
    assert (tmp_path / "taken").read_text() == "keep me"


@pytest.fixture(scope="module")
def nan_weights(tmp_path_factory) -> Path:
    weights = initial_weights(load_model(IRIS), 0)
    weights["dense_1.kernel"][2, 3] = np.inf
    path = tmp_path_factory.mktemp("nan") / "nan.safetensors"
    save_safetensors(path, weights, {"source": str(IRIS), "model": "IrisMLP"})
    return path


@pytest.mark.parametrize("command", ["train", "verify", "convert", "export"])
def test_nan_or_inf_weights_are_refused_with_the_tensor(command, nan_weights, tmp_path, capsys):
    argv = {
        "train": ["train", IRIS, "--weights", nan_weights, "--out", tmp_path / "run"],
        "verify": ["verify", IRIS, "--weights", nan_weights],
        "convert": ["convert", nan_weights, "--to", "keras", "-o", tmp_path / "w.weights.h5"],
        "export": ["export", IRIS, "--weights", nan_weights, "-o", tmp_path / "m.onnx"],
    }[command]
    err = refused(capsys, *argv)
    assert "nan.safetensors: tensor 'dense_1.kernel' holds inf at [2, 3]" in err
    assert not (tmp_path / "run").exists()


def test_convert_from_pytorch_refuses_nan(tmp_path, capsys):
    import torch

    from backends.convert import to_framework

    graph = load_model(IRIS)
    to_framework(graph, initial_weights(graph, 0), "pytorch", tmp_path / "w.pt")
    state = torch.load(tmp_path / "w.pt", weights_only=True)
    next(iter(state.values()))[0, 0] = float("nan")
    torch.save(state, tmp_path / "w.pt")
    err = refused(capsys, "convert", tmp_path / "w.pt", "--from", "pytorch", "--spec", IRIS, "-o", tmp_path / "w")
    assert "w.pt: tensor 'dense" in err and "holds nan at [" in err


# ---------------------------------------------------------------- the generated program, run by hand


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("program")
    (folder / "d.csv").write_text("a,b,y\n1,2,0\n3,1,1\n2,2,0\n")
    path = folder / "program.py"
    assert cli.main(["compile", str(spec(folder, 'csv("d.csv", target="y")')), "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize(
    ("table", "phrase"),
    [
        ("a,b,y\n1,2,0\n3,x,1\n", "row 3, column 2 ('b'): not a number"),
        ("a,b,y\n1,2,0\n3,1\n", "row 3 has 2 fields, but the header has 3"),
        ("a,b,y\n1,2,0\n3,1,2\n", "the target at index 1 is 2, not a class id from 0 to 1"),
        ("a,b,c,y\n1,2,3,0\n3,1,1,1\n", "3 values per sample do not fit input 'x' [2]"),
    ],
    ids=["not_a_number", "short_row", "label_out_of_range", "feature_count"],
)
def test_the_program_refuses_bad_data_with_one_line(program, table, phrase, tmp_path):
    (tmp_path / "bad.csv").write_text(table)
    result = subprocess.run(
        [sys.executable, str(program), "--data", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{tmp_path / 'bad.csv'}: " in result.stderr and phrase in result.stderr


def test_a_refusal_of_the_program_run_by_dlc_train_is_a_dlc_error(tmp_path, capsys):
    err = refused(capsys, "train", IRIS, "--out", tmp_path / "run", "--resume")
    assert "\nerror: --resume: there is no checkpoint" in err


def test_class_targets_per_position_fit_a_segmenter(tmp_path):
    """A categorical cross-entropy on an output with positions takes a class id per position or one-hot targets
    of the output's shape; anything else names the shapes."""
    from backends.program.data import shape_targets
    from compiler.errors import DlDataError
    from compiler.frontend import load_text

    ids = np.random.default_rng(0).integers(0, 3, (6, 4, 4))
    np.savez(tmp_path / "masks.npz", x=np.zeros((6, 4, 4, 1), np.float32), y=ids, onehot=np.eye(3)[ids], bad=ids[:, :2])

    def spec(loss: str, y: str) -> str:
        layers = "  layers {\n    Conv2D(3, 1, activation=softmax)\n  }\n"
        data = f'  train {{ data = npz("masks.npz", x="x", y="{y}") }}\n'
        return f"model Seg {{\n  input x: f32[4, 4, 1]\n{layers}  loss {loss}\n  optimizer Adam()\n{data}}}\n"

    path = str(tmp_path / "seg.dl")
    load_text(spec("sparse_categorical_crossentropy", "y"), path)
    load_text(spec("categorical_crossentropy", "onehot"), path)
    with pytest.raises(DlDataError, match=r"a class id per position of \[4, 4\]"):
        load_text(spec("sparse_categorical_crossentropy", "bad"), path)
    assert shape_targets(ids, "sparse", (4, 4, 3)).shape == (6, 4, 4)
    np.testing.assert_array_equal(shape_targets(ids, "onehot", (4, 4, 3)), np.eye(3, dtype=np.float32)[ids])
