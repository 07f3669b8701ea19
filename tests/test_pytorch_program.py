"""The generated PyTorch program: it runs, matches the core's weights, round-trips them, and cannot be injected."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import EXAMPLES, ROOT, assert_resumed

from backends.program.loader import load_program, train
from backends.pytorch.emit import emit_program
from compiler.frontend import load, load_text
from compiler.weights import initial_weights, load_safetensors


def program_module(graph, tmp_path, name="program"):
    path = tmp_path / f"{name}.py"
    path.write_text(emit_program(graph))
    return load_program(path, f"dlc_test_{name}"), path


def random_inputs(graph, batch=3, length=5):
    rng = np.random.default_rng(0)
    arrays = []
    for value in graph.inputs:
        shape = [length if d is None else d for d in value.shape]
        if value.dtype.startswith("i"):
            arrays.append(torch.from_numpy(rng.integers(0, 10, (batch, *shape))))
        else:
            arrays.append(torch.from_numpy(rng.standard_normal((batch, *shape)).astype(np.float32)))
    return arrays


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_program_builds_the_seeded_weights_and_round_trips_them(example, tmp_path):
    (graph,) = load(example)
    module, _ = program_module(graph, tmp_path)
    expected = initial_weights(graph, 7)
    produced = module.initial_weights(7)
    assert list(produced) == list(expected)
    for key in expected:
        np.testing.assert_array_equal(produced[key], expected[key])
    model = module.MODEL_CLASS()
    module.load_canonical(model, expected)
    back = module.to_canonical(model)
    assert set(back) == set(expected)
    for key in expected:
        np.testing.assert_array_equal(back[key], expected[key])
    model.eval()
    with torch.inference_mode():
        output = model(*random_inputs(graph))
    assert tuple(output.shape[1:]) == graph.output.shape
    assert torch.isfinite(output).all()


RUFF = [sys.executable, "-m", "ruff"]
LINT_RULES = "--select=E,F,W,I,B,UP,SIM"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_dlc_compile_writes_a_program_ruff_leaves_alone(example, tmp_path):
    path = tmp_path / f"{example.stem}.py"
    result = subprocess.run(
        [sys.executable, "-m", "dlc", "compile", str(example), "--target", "pytorch", "-o", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    compile(path.read_text(), str(path), "exec")
    for check in (["format", "--check", "--diff"], ["check", LINT_RULES]):
        ruffed = subprocess.run(
            [*RUFF, *check, "--isolated", "--line-length=120", str(path)], capture_output=True, text=True, timeout=120
        )
        assert ruffed.returncode == 0, ruffed.stdout + ruffed.stderr


def test_generated_program_compiles_and_has_help(tmp_path):
    (graph,) = load(ROOT / "examples/digits_resnet.dl")
    path = tmp_path / "resnet.py"
    path.write_text(emit_program(graph))
    result = subprocess.run([sys.executable, str(path), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for option in ("--epochs", "--batch-size", "--out", "--seed", "--resume"):
        assert option in result.stdout


def test_program_as_subprocess_writes_the_weights_dlc_train_writes(tmp_path):
    (graph,) = load(ROOT / "examples/iris_mlp.dl")
    train(graph, "pytorch", tmp_path / "dlc", epochs=3, seed=11)
    path = tmp_path / "iris.py"
    path.write_text(emit_program(graph))
    command = [sys.executable, str(path), "--epochs", "3", "--seed", "11", "--out", str(tmp_path / "sub")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    ours, _ = load_safetensors(tmp_path / "dlc/weights.safetensors")
    theirs, _ = load_safetensors(tmp_path / "sub/weights.safetensors")
    assert set(ours) == set(graph.weight_names())
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key])
    for name in ("history.json", "curves.png", "checkpoint.pt"):
        assert (tmp_path / "sub" / name).stat().st_size > 0


def test_resume_continues_from_the_checkpoint(tmp_path, capsys):
    (graph,) = load(ROOT / "examples/iris_mlp.dl")
    straight = train(graph, "pytorch", tmp_path / "straight", epochs=4)
    module, _ = program_module(graph, tmp_path, "resume")
    module.main(["--epochs", "2", "--out", str(tmp_path / "resumed")])
    capsys.readouterr()
    resumed = module.main(["--epochs", "4", "--out", str(tmp_path / "resumed"), "--resume"])
    assert_resumed(tmp_path / "resumed", 2, 4, capsys.readouterr().err)
    assert resumed["loss"] == pytest.approx(straight["loss"], abs=1e-6)
    a, _ = load_safetensors(tmp_path / "straight/weights.safetensors")
    b, _ = load_safetensors(tmp_path / "resumed/weights.safetensors")
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6)


def test_iris_reaches_ninety_percent_validation_accuracy(tmp_path):
    (graph,) = load(ROOT / "examples/iris_mlp.dl")
    final = train(graph, "pytorch", tmp_path)
    assert final["val_accuracy"] >= 0.9


def test_digits_convnet_reaches_ninety_five_percent_test_accuracy(tmp_path):
    (graph,) = load(ROOT / "examples/digits_convnet.dl")
    final = train(graph, "pytorch", tmp_path)  # its configured epochs
    assert final["test_accuracy"] >= 0.95
    history = (tmp_path / "history.json").read_text()
    assert '"val_accuracy"' in history and '"test_accuracy"' in history


@pytest.mark.parametrize("target", ["pytorch", "keras"])
def test_crafted_names_and_paths_stay_inert(target, tmp_path):
    """Names that are Python keywords and a data path that closes its string literal and calls `open`: both
    generated programs compile, train and write their weights under those names, and the code never runs."""
    from backends.program.loader import emit_program as emit_for

    marker = tmp_path / "pwned"
    evil = "x.csv\\\"); open('pwned', 'w'); (\\\""
    data_name = evil.replace("\\", "")
    (tmp_path / data_name).write_text("a,b,class\n1,2,x\n2,1,y\n3,3,x\n0,1,y\n")
    text = f'''
    model class {{
      input self: f32[2]
      layers {{
        forward: Dense(4, activation=relu)
        import: Dense(2, activation=softmax)
      }}
      loss sparse_categorical_crossentropy
      optimizer Adam()
      metrics [accuracy]
      train {{ data = csv("{evil}", target="class") epochs = 1 batch_size = 2 }}
    }}
    '''
    (graph,) = load_text(text, str(tmp_path / "evil.dl"))
    source = emit_for(graph, target)
    compile(source, "evil.py", "exec")
    path = tmp_path / "evil.py"
    path.write_text(source)
    result = subprocess.run(
        [sys.executable, str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    weights, _ = load_safetensors(tmp_path / "out/weights.safetensors")
    assert set(weights) == {"forward.kernel", "forward.bias", "import.kernel", "import.bias"}


@pytest.mark.parametrize("target", ["pytorch", "keras"])
def test_underscore_names_become_public_identifiers(target):
    """The namer never loops on a leading underscore (it once appended `_` forever) and never hands torch a
    private attribute: `_x`, `__init__` and `_` name layers and inputs like any other name."""
    from backends.program.loader import import_program

    text = """
    model _M {
      input _: f32[3]
      layers {
        _x: Dense(4, activation=relu)
        __init__: Dense(2)
      }
      loss mse
      optimizer SGD()
    }
    """
    (graph,) = load_text(text, "underscores.dl")
    program = import_program(graph, target)
    weights = initial_weights(graph, 0)
    assert set(program.to_canonical(build_with(program, weights))) == set(weights)


def build_with(program, weights):
    model = program.MODEL_CLASS() if hasattr(program, "MODEL_CLASS") else program.build_model()
    program.load_canonical(model, weights)
    return model


COLLIDING_NAMES = [
    ("pytorch", "json"),
    ("pytorch", "sys"),
    ("pytorch", "Path"),
    ("pytorch", "SETTINGS"),
    ("pytorch", "OPTIMIZER"),
    ("pytorch", "KerasAdam"),
    ("pytorch", "print"),
    ("pytorch", "parameters"),  # torch.nn.Module's own members
    ("pytorch", "state_dict"),
    ("pytorch", "zero_grad"),
    ("keras", "keras"),
    ("keras", "json"),
    ("keras", "np"),
    ("keras", "model"),
    ("keras", "inputs"),
    ("keras", "_x"),  # TensorFlow refuses a model name scope beginning with `_`
]


def test_the_reserved_module_members_are_torchs_own():
    """The namer keeps submodules off torch.nn.Module's members; a torch upgrade that adds one fails here."""
    import torch

    from backends.pytorch.emit import MODULE_ATTRIBUTES

    public = {name for name in (*dir(torch.nn.Module), *vars(torch.nn.Module())) if not name.startswith("_")}
    assert public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)


@pytest.mark.parametrize(("target", "name"), COLLIDING_NAMES, ids=[f"{t}-{n}" for t, n in COLLIDING_NAMES])
def test_model_and_layer_names_never_shadow_what_the_program_defines(tmp_path, target, name):
    """A model, input or layer named like one of the program's own globals (an import, a constant, a support
    class, a builtin) or a local of its model builder trains for an epoch and writes its history: the generated
    identifiers step aside."""
    text = f"""
    model {name} {{
      input {name}_in: f32[4]
      layers {{
        pad_same: Dense(5, activation=relu)
        {name}: Dense(4, activation=relu)
        {name}_layer: Dense(3, activation=softmax)
      }}
      loss sparse_categorical_crossentropy
      optimizer Adam()
      train {{ data = dataset("iris") epochs = 1 batch_size = 50 }}
    }}
    """
    (graph,) = load_text(text, str(tmp_path / "names.dl"))
    final = train(graph, target, tmp_path / "out", epochs=1)
    assert np.isfinite(final["loss"])
    assert (tmp_path / "out/history.json").exists()
    weights, _ = load_safetensors(tmp_path / "out/weights.safetensors")
    assert set(weights) == set(graph.weight_names())
