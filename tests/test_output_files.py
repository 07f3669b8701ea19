"""Every file dlc writes goes through a temporary file in its folder and one rename, with the mode a plain open()
gives; an output path that cannot be written is a one-line error naming it, exit 1, before the work."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from backends.program.reporting import replace_atomically as program_replace_atomically
from compiler.frontend import load_model
from compiler.weights import initial_weights, save_safetensors
from dlc import cli

SPEC = """model Small {
  input x: f32[4]
  layers {
    Dense(8, activation=relu)
    Dense(3, activation=softmax)
  }
  loss categorical_crossentropy
  optimizer Adam(learning_rate=0.001)
}
"""
PREVIOUS = b"the previous file, whole"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A spec, its weights (naming the spec), a wider model's weights, an exported model and inputs for it."""
    folder = tmp_path_factory.mktemp("made")
    spec = folder / "spec.dl"
    spec.write_text(SPEC)
    graph = load_model(spec)
    save_safetensors(folder / "w.safetensors", initial_weights(graph, 0), {"model": "Small", "source": str(spec)})
    (folder / "wide.dl").write_text(SPEC.replace("f32[4]", "f32[5]").replace("Small", "Wide"))
    save_safetensors(folder / "wide.safetensors", initial_weights(load_model(folder / "wide.dl"), 0))
    assert cli.main(["export", str(spec), "-o", str(folder / "m.onnx")]) == 0
    (folder / "num.csv").write_text("1,2,3,4\n5,6,7,8\n")
    return folder


@pytest.fixture
def known_umask():
    previous = os.umask(0o027)
    yield 0o640
    os.umask(previous)


def written_halfway(target, *args, **kwargs):
    """A save that dies halfway, as on a full disk or a kill: half a file where it was told to write."""
    if isinstance(target, str | os.PathLike):
        Path(target).write_bytes(b"half")
    else:
        target.write(b"half")
    raise OSError(errno.ENOSPC, "No space left on device")


def temporary_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def command(made: Path, name: str, output: Path) -> list[str]:
    return {
        "quantize": ["export", made / "spec.dl", "-o", output, "--quantize", "int8"],
        "pytorch": ["convert", made / "w.safetensors", "--to", "pytorch", "-o", output],
        "keras": ["convert", made / "w.safetensors", "--to", "keras", "-o", output],
        "predict": ["predict", made / "m.onnx", "--input", made / "num.csv", "-o", output],
    }[name]


@pytest.mark.parametrize("name", ["quantize", "pytorch", "keras", "predict"])
def test_a_write_that_dies_halfway_leaves_the_previous_file_and_no_temporary_one(
    made, name, tmp_path, monkeypatch, capsys
):
    output = tmp_path / {"quantize": "q.onnx", "pytorch": "good.pt", "keras": "good.weights.h5"}.get(name, "p.npy")
    output.write_bytes(PREVIOUS)
    told = []
    if name == "quantize":
        import onnxruntime.quantization

        def quantize_halfway(model_input, model_output, **kwargs):
            told.append(str(model_output))
            written_halfway(model_output)

        monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", quantize_halfway)
    elif name == "pytorch":
        import torch

        monkeypatch.setattr(torch, "save", lambda obj, target, *args, **kwargs: written_halfway(target))
    elif name == "keras":
        import keras

        def save_weights_halfway(model, filepath, *args, **kwargs):
            told.append(str(filepath))
            written_halfway(filepath)

        monkeypatch.setattr(keras.Model, "save_weights", save_weights_halfway)
    else:
        monkeypatch.setattr(np, "save", lambda target, array, *args, **kwargs: written_halfway(target))
    assert cli.main([str(part) for part in command(made, name, output)]) == 1
    assert f"error: {output}: cannot write " in capsys.readouterr().err
    assert output.read_bytes() == PREVIOUS
    assert temporary_files(tmp_path) == []
    if name == "keras":  # Keras refuses to save weights under any other name
        assert told and told[0].endswith(".weights.h5"), told
    if name == "quantize":
        assert told and Path(told[0]).parent != tmp_path  # ONNX Runtime writes in place: never in the target's folder


@pytest.mark.parametrize(
    "name, target",
    [
        ("quantize", "afile/q.onnx"),
        ("quantize", "adir"),
        ("pytorch", "adir"),
        ("pytorch", "afile/x.pt"),
        ("keras", "afile/x.weights.h5"),
        ("predict", "afile/p.npy"),
        ("predict", "adir"),
        ("predict", "/proc/p.npy"),
        ("export", "afile/x.onnx"),
        ("export", "afile/sub/x.onnx"),
        ("back", "adir"),
    ],
)
def test_an_output_path_that_cannot_be_a_file_is_a_user_error_naming_it(made, name, target, tmp_path, capsys):
    if target.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("needs Linux's /proc, a folder that takes no new files")
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "adir").mkdir()
    output = Path(target) if target.startswith("/") else tmp_path / target
    argv = {
        "export": ["export", made / "spec.dl", "-o", output],
        "back": ["convert", made / "w.safetensors", "--from", "pytorch", "--spec", made / "spec.dl", "-o", output],
    }.get(name) or command(made, name, output)
    assert cli.main([str(part) for part in argv]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("no --weights given")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {output}: cannot write "), errors
    assert (tmp_path / "afile").read_text() == "a file, not a folder" and list((tmp_path / "adir").iterdir()) == []
    assert temporary_files(tmp_path) == []


def test_export_still_makes_a_missing_folder(made, tmp_path):
    assert cli.main(["export", str(made / "spec.dl"), "-o", str(tmp_path / "new" / "m.onnx")]) == 0
    assert (tmp_path / "new" / "m.onnx").stat().st_size > 0


def test_predict_writes_exactly_the_path_given(made, tmp_path, capsys):
    output = tmp_path / "p.txt"
    assert cli.main(["predict", str(made / "m.onnx"), "--input", str(made / "num.csv"), "-o", str(output)]) == 0
    assert f"wrote {output} (2 rows)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.txt"]
    assert np.load(output).shape == (2, 3)


def test_dlc_writes_files_with_the_mode_a_plain_open_gives(made, tmp_path, known_umask):
    path = tmp_path / "w.safetensors"
    (tmp_path / ".w.safetensors.partial").write_bytes(b"left by a killed run")
    (tmp_path / ".w.safetensors.partial").chmod(0o600)
    save_safetensors(path, {"x": np.ones(2, np.float32)})
    assert path.stat().st_mode & 0o777 == known_umask
    output = tmp_path / "w.pt"
    assert cli.main(["convert", str(made / "w.safetensors"), "--to", "pytorch", "-o", str(output)]) == 0
    assert output.stat().st_mode & 0o777 == known_umask


def test_programs_write_files_with_the_mode_a_plain_open_gives(tmp_path, known_umask):
    """safetensors writes through a temporary file of its own, 0600: the programs' weights must not be."""
    from safetensors.numpy import save_file

    path = tmp_path / "weights.safetensors"
    program_replace_atomically(path, lambda partial: save_file({"x": np.ones(2, np.float32)}, str(partial)))
    assert path.stat().st_mode & 0o777 == known_umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.safetensors"]


@pytest.mark.parametrize("name", ["export", "convert", "verify"])
def test_weights_of_another_model_are_named(made, name, tmp_path, capsys):
    wide = made / "wide.safetensors"
    argv = {
        "export": ["export", made / "spec.dl", "--weights", wide, "-o", tmp_path / "m.onnx"],
        "convert": ["convert", wide, "--to", "pytorch", "--spec", made / "spec.dl", "-o", tmp_path / "w.pt"],
        "verify": ["verify", made / "spec.dl", "--weights", wide],
    }[name]
    assert cli.main([str(part) for part in argv]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {wide}: the weights do not fit model 'Small': ") and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
