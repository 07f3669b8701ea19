"""Initializers with arguments (`RandomNormal(stddev=0.02)`) and the normalization layers' initializers: the
language reads Keras 3's classes with Keras' defaults, both generated programs draw exactly what `dlc` draws from
the seed, and what is drawn has the distribution Keras' own initializer draws (Keras' random generator differs,
so values cannot match: means, deviations and bounds do)."""

from __future__ import annotations

import copy
import inspect
import math
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from backends.keras.emit import emit_program as emit_keras
from backends.program.loader import load_program
from backends.pytorch.emit import emit_program as emit_pytorch
from compiler.argkinds import INITIALIZERS, InitializerKind
from compiler.codegen import literal
from compiler.errors import DlArgumentError, DlError, DlNameError
from compiler.frontend import load_text
from compiler.values import Initializer
from compiler.weights import SAMPLERS, TRUNCATION_STDDEV, initial_weights, sample

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHAPE = (200, 300)  # fan_in 200, fan_out 300
FAN_IN, FAN_OUT, FAN_AVG = 200, 300, 250


def spec(layers: str) -> str:
    return f"model M {{\n  input x: f32[6]\n  layers {{\n{layers}\n  }}\n  loss mse\n  optimizer SGD()\n}}\n"


def model(layers: str):
    return load_text(spec(layers), "spec.dl")[0]


def initializer_of(written: str) -> str:
    """What the language makes of `kernel_initializer=<written>`: a name, or an Initializer."""
    return model(f"    Dense(3, kernel_initializer={written})").params[0][1].initializer


def error_of(layers: str) -> DlError:
    with pytest.raises(DlError) as caught:
        model(layers)
    return caught.value


# ---------------------------------------------------------------- the language


def test_a_call_is_its_canonical_text_with_every_argument():
    init = initializer_of("RandomNormal(stddev=0.02)")
    assert isinstance(init, Initializer) and isinstance(init, str)
    assert init == "RandomNormal(mean=0.0, stddev=0.02)"
    assert (init.keras_class, init.settings) == ("RandomNormal", (0.0, 0.02))
    # positional in Keras' order, a class name alone is the call with Keras' defaults, ints become floats
    assert initializer_of("RandomUniform(-1, 1)") == "RandomUniform(minval=-1.0, maxval=1.0)"
    assert initializer_of("RandomNormal") == initializer_of("RandomNormal()") == "RandomNormal(mean=0.0, stddev=0.05)"
    assert initializer_of("VarianceScaling(2, distribution=uniform)") == (
        "VarianceScaling(scale=2.0, mode=fan_in, distribution=uniform)"
    )
    # Keras reads distribution="normal" as truncated_normal
    assert initializer_of('VarianceScaling(distribution="normal")') == initializer_of("VarianceScaling()")
    assert initializer_of("Orthogonal(gain=0.5)").settings == (0.5,)
    assert initializer_of("Constant(3)") == "Constant(value=3.0)"
    # bare names stay plain names, as before
    assert type(initializer_of("he_normal")) is str and initializer_of('"he_normal"') == "he_normal"


def test_an_initializer_is_a_safe_literal_and_survives_pickling():
    init = initializer_of("VarianceScaling(0.5, mode=fan_avg, distribution=untruncated_normal)")
    assert eval(literal(init)) == str(init)  # noqa: S307 (our own literal)
    for again in (pickle.loads(pickle.dumps(init)), copy.deepcopy(init)):
        assert type(again) is Initializer and again == init
        assert (again.keras_class, again.arguments) == (init.keras_class, init.arguments)
    assert len({init, str(init)}) == 1  # hashes as its text


def test_the_printout_shows_the_call():
    from compiler.printer import print_ir

    text = print_ir(model("    Dense(3, kernel_initializer=TruncatedNormal(stddev=0.1))"))
    assert "param dense.kernel: [6, 3] init=TruncatedNormal(mean=0.0, stddev=0.1)" in text


@pytest.mark.parametrize(
    "layers, kind, message, hint",
    [
        ("Dense(3, kernel_initializer=RandomNormel(stddev=0.1))", DlNameError, "unknown initializer 'RandomNormel'",
         "RandomNormal"),
        ("Dense(3, kernel_initializer=he_normel)", DlNameError, "unknown initializer 'he_normel'", "he_normal"),
        ("Dense(3, kernel_initializer=he_normal())", DlNameError, "unknown initializer 'he_normal'",
         "takes no arguments"),
        ("Dense(3, kernel_initializer=RandomNormal(stddev=0.1, seed=4))", DlArgumentError, "takes no seed here",
         "model's seed"),
        ("Dense(3, kernel_initializer=RandomNormal(sd=0.1))", DlNameError, "RandomNormal has no argument 'sd'", None),
        ("Dense(3, kernel_initializer=VarianceScaling(scale=0))", DlArgumentError, "scale must be positive", None),
        ("Dense(3, kernel_initializer=VarianceScaling(mode=fan_sum))", DlNameError, "unknown value 'fan_sum'",
         "fan_out"),
        ("Dense(3, kernel_initializer=Constant(value=true))", DlArgumentError, "must be a number", None),
        ("Dense(3, kernel_initializer=3)", DlArgumentError, "must be an initializer", None),
        ("LayerNormalization(gamma_initializer=Ones())", DlNameError, "unknown initializer 'Ones'", None),
    ],
)  # fmt: skip
def test_mistakes_are_named(layers, kind, message, hint):
    error = error_of(f"    {layers}")
    assert isinstance(error, kind), error.render()
    assert message in error.message, error.message
    if hint is not None:
        assert hint in (error.hint or ""), error.hint


def test_an_orthogonal_vector_is_a_weight_error():
    graph = model("    BatchNormalization(gamma_initializer=Orthogonal(gain=2.0))")
    with pytest.raises(DlError, match=r"cannot initialise batch_normalization\.gamma: the orthogonal initializer"):
        initial_weights(graph, 0)


# ---------------------------------------------------------------- normalization layers


def test_normalization_initializers_reach_their_weights():
    graph = model(
        "    BatchNormalization(gamma_initializer=Constant(2.0), beta_initializer=Constant(-1.0), "
        "moving_mean_initializer=Constant(0.5), moving_variance_initializer=Constant(3.0))\n"
        "    LayerNormalization(gamma_initializer=RandomNormal(mean=1.0, stddev=0.1), beta_initializer=ones)"
    )
    weights = initial_weights(graph, 0)
    for key, value in {
        "batch_normalization.gamma": 2.0,
        "batch_normalization.beta": -1.0,
        "batch_normalization.moving_mean": 0.5,
        "batch_normalization.moving_variance": 3.0,
        "layer_normalization.beta": 1.0,
    }.items():
        np.testing.assert_array_equal(weights[key], np.full(6, value, np.float32), err_msg=key)
    gamma = weights["layer_normalization.gamma"]
    assert not np.array_equal(gamma, np.ones(6)) and np.abs(gamma - 1).max() < 0.6
    inits = {f"{node.name}.{param.name}": param.initializer for node, param in graph.params}
    assert inits["layer_normalization.gamma"] == "RandomNormal(mean=1.0, stddev=0.1)"


def test_normalization_defaults_and_argument_order_are_keras(keras):
    from compiler.ops import REGISTRY

    for op in ("BatchNormalization", "LayerNormalization"):
        ours = REGISTRY[op].args
        theirs = list(inspect.signature(getattr(keras.layers, op).__init__).parameters)[1:]
        assert [a.name for a in ours] == theirs[: len(ours)]  # positional arguments bind as in Keras
        config = getattr(keras.layers, op)().get_config()
        for arg in ours:
            if arg.name.endswith("_initializer"):
                expected = type(keras.initializers.get(arg.default)).__name__
                assert config[arg.name]["class_name"] == expected, (op, arg.name)
    graph = model("    BatchNormalization()\n    LayerNormalization()")
    assert [p.initializer for _, p in graph.params] == ["ones", "zeros", "zeros", "ones", "ones", "zeros"]


# ---------------------------------------------------------------- defaults against Keras


@pytest.mark.parametrize("name", list(InitializerKind.CALLS))
def test_call_defaults_are_keras(keras, name):
    config = getattr(keras.initializers, name)().get_config()
    ours = {arg: default for arg, _, default in InitializerKind.CALLS[name]}
    assert {arg: config[arg] for arg in ours} == ours
    assert set(config) - set(ours) <= {"seed", "input_axes", "output_axes"}  # what the language leaves out


KERAS_SETTINGS = {  # the attributes of Keras' initializer that our SAMPLERS row sets, in the row's order
    "variance_scaling": ("scale", "mode", "distribution"),
    "random_normal": ("mean", "stddev"),
    "random_truncated_normal": ("mean", "stddev"),
    "random_uniform": ("minval", "maxval"),
}


@pytest.mark.parametrize("name", [n for n in INITIALIZERS if SAMPLERS[n][1]])
def test_named_initializer_settings_are_keras(keras, name):
    draw, settings = SAMPLERS[name]
    theirs = keras.initializers.get(name)
    assert tuple(getattr(theirs, attribute) for attribute in KERAS_SETTINGS[draw.__name__]) == settings


# ---------------------------------------------------------------- distributions against Keras

# written -> (Keras' initializer, expected mean, expected std, support or None), for SHAPE
CASES = {
    "RandomNormal(mean=0.5, stddev=0.02)": (("RandomNormal", {"mean": 0.5, "stddev": 0.02}), 0.5, 0.02, None),
    "random_normal": (("RandomNormal", {}), 0.0, 0.05, None),
    "RandomUniform(minval=-0.2, maxval=0.6)": (
        ("RandomUniform", {"minval": -0.2, "maxval": 0.6}),
        0.2,
        0.8 / math.sqrt(12),
        (-0.2, 0.6),
    ),
    "random_uniform": (("RandomUniform", {}), 0.0, 0.1 / math.sqrt(12), (-0.05, 0.05)),
    "TruncatedNormal(mean=1.0, stddev=0.1)": (
        ("TruncatedNormal", {"mean": 1.0, "stddev": 0.1}),
        1.0,
        0.1 * TRUNCATION_STDDEV,
        (0.8, 1.2),
    ),
    "truncated_normal": (("TruncatedNormal", {}), 0.0, 0.05 * TRUNCATION_STDDEV, (-0.1, 0.1)),
    "VarianceScaling(scale=2.0, mode=fan_out, distribution=untruncated_normal)": (
        ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal"}),
        0.0,
        math.sqrt(2.0 / FAN_OUT),
        None,
    ),
    "VarianceScaling(0.5, mode=fan_avg, distribution=uniform)": (
        ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg", "distribution": "uniform"}),
        0.0,
        math.sqrt(0.5 / FAN_AVG),
        (-math.sqrt(1.5 / FAN_AVG), math.sqrt(1.5 / FAN_AVG)),
    ),
    "VarianceScaling()": (
        ("VarianceScaling", {}),
        0.0,
        math.sqrt(1.0 / FAN_IN),
        (-2 * math.sqrt(1.0 / FAN_IN) / TRUNCATION_STDDEV, 2 * math.sqrt(1.0 / FAN_IN) / TRUNCATION_STDDEV),
    ),
    "variance_scaling": (
        ("VarianceScaling", {}),
        0.0,
        math.sqrt(1.0 / FAN_IN),
        (-2 * math.sqrt(1.0 / FAN_IN) / TRUNCATION_STDDEV, 2 * math.sqrt(1.0 / FAN_IN) / TRUNCATION_STDDEV),
    ),
    "lecun_uniform": (
        ("LecunUniform", {}), 0.0, math.sqrt(1.0 / FAN_IN), (-math.sqrt(3 / FAN_IN), math.sqrt(3 / FAN_IN))
    ),
}  # fmt: skip


def assert_distribution(values: np.ndarray, mean: float, std: float, support) -> None:
    tolerance = 4 / math.sqrt(values.size)  # a few standard errors
    assert values.shape == SHAPE and values.dtype == np.float32
    assert abs(values.mean() - mean) < tolerance * std * 1.5
    assert abs(values.std() / std - 1) < tolerance
    if support is not None:
        low, high = support
        width = high - low
        assert values.min() >= np.float32(low) - 1e-6 and values.max() <= np.float32(high) + 1e-6
        assert values.min() < low + 0.02 * width and values.max() > high - 0.02 * width  # reaches its bounds


@pytest.mark.parametrize("written", list(CASES))
def test_distribution_is_keras(keras, written):
    (keras_class, args), mean, std, support = CASES[written]
    ours = sample(initializer_of(written), SHAPE, np.random.default_rng(3))
    theirs = np.asarray(getattr(keras.initializers, keras_class)(**args, seed=3)(SHAPE))
    for values in (ours, theirs):
        assert_distribution(values, mean, std, support)


def test_constant_is_keras(keras):
    ours = sample(initializer_of("Constant(0.25)"), (3, 4), np.random.default_rng(0))
    theirs = np.asarray(keras.initializers.Constant(0.25)((3, 4)))
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == np.float32


@pytest.mark.parametrize("shape", [(32, 96), (96, 24), (3, 3, 4, 8)])
def test_orthogonal_gain_is_keras(keras, shape):
    gain = 2.5
    ours = sample(initializer_of(f"Orthogonal(gain={gain})"), shape, np.random.default_rng(5))
    theirs = np.asarray(keras.initializers.Orthogonal(gain=gain, seed=5)(shape))
    for values in (ours, theirs):
        flat = values.reshape(-1, shape[-1]) / gain
        small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
        assert np.abs(small - np.eye(len(small))).max() < 1e-5
        assert abs(values.std() / (gain / math.sqrt(max(flat.shape))) - 1) < 0.03
    # gain 1 draws exactly what the bare name draws
    np.testing.assert_array_equal(
        sample(initializer_of("Orthogonal()"), shape, np.random.default_rng(5)),
        sample("orthogonal", shape, np.random.default_rng(5)),
    )


# ---------------------------------------------------------------- the generated programs draw what dlc draws

EVERY_NEW_INITIALIZER = """\
    Dense(8, kernel_initializer=RandomNormal(mean=0.1, stddev=0.02), bias_initializer=Constant(0.3))
    Dense(8, kernel_initializer=RandomUniform(-0.5, 0.25), bias_initializer=TruncatedNormal(mean=1.0, stddev=0.5))
    BatchNormalization(gamma_initializer=RandomUniform(minval=0.9, maxval=1.1), beta_initializer=random_normal,
      moving_mean_initializer=TruncatedNormal(), moving_variance_initializer=Constant(value=2.0))
    Dense(8, kernel_initializer=VarianceScaling(2.0, mode=fan_out, distribution=untruncated_normal))
    Dense(8, kernel_initializer=VarianceScaling(0.5, mode=fan_avg, distribution=uniform), bias_initializer=uniform)
    Dense(8, kernel_initializer=VarianceScaling(distribution=normal), bias_initializer=random_uniform)
    LayerNormalization(gamma_initializer=truncated_normal, beta_initializer=Constant(-0.5))
    Dense(8, kernel_initializer=Orthogonal(gain=2.0), bias_initializer=RandomNormal)
    Dense(8, kernel_initializer=lecun_uniform)
    Dense(3, kernel_initializer=variance_scaling)"""


def program(source: str, tmp_path, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return load_program(path, f"dlc_test_initializers_{name}")


def test_both_programs_draw_the_initial_weights_dlc_draws(tmp_path, keras):
    graph = model(EVERY_NEW_INITIALIZER)
    used = {param.initializer for _, param in graph.params}
    assert {i.keras_class for i in used if isinstance(i, Initializer)} == set(InitializerKind.CALLS)
    expected = initial_weights(graph, 11)
    torch_program = program(emit_pytorch(graph), tmp_path, "torch")
    keras_program = program(emit_keras(graph), tmp_path, "keras")
    for produced in (torch_program.initial_weights(11), keras_program.to_canonical(keras_program.compiled_model(11))):
        assert list(produced) == list(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(produced[key], value, err_msg=key)
    # the program's table names each initializer as the spec's canonical call and draws it with its settings
    assert torch_program.SAMPLERS["RandomNormal(mean=0.1, stddev=0.02)"] == (torch_program.random_normal, (0.1, 0.02))
    assert torch_program.SAMPLERS["lecun_uniform"] == (torch_program.variance_scaling, (1.0, "fan_in", "uniform"))
    assert "_initializer=" not in emit_keras(graph)  # Keras draws its own, then loads the seed's over them


@pytest.mark.parametrize("target", ["pytorch", "keras"])
def test_the_programs_are_ones_ruff_leaves_alone(tmp_path, target):
    source = tmp_path / "m.dl"
    source.write_text(spec(EVERY_NEW_INITIALIZER))
    path = tmp_path / f"m_{target}.py"
    command = [sys.executable, "-m", "dlc", "compile", str(source), "--target", target, "-o", str(path)]
    compiled = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr
    for check in (["format", "--check", "--diff"], ["check", "--select=E,F,W,I,B,UP,SIM"]):
        ruffed = subprocess.run(
            [sys.executable, "-m", "ruff", *check, "--isolated", "--line-length=120", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ruffed.returncode == 0, ruffed.stdout + ruffed.stderr
