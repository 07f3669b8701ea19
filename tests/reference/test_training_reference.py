"""Proves the NumPy reference of the version-2 training additions right against the real Keras 3 (TensorFlow
backend): Adadelta, Nadam, Adamax and Lion, gradient clipping (clipnorm, clipvalue, global_clipnorm) and where
Keras applies it, and the learning-rate schedules, as values and as the learning rate of an optimizer's steps."""

from __future__ import annotations

import os

import numpy as np
import pytest

from . import optimizers_numpy as O

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OPT_ATOL = 1e-6  # weights after 5 optimizer steps (float32)


def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def keras_schedule(keras, name, args):
    return getattr(keras.optimizers.schedules, name)(**args)


def steps_against_keras(keras, name, args, keras_args=None, steps=5, seed=28):
    """5 steps of Keras' optimizer and the reference's on one fixed quadratic problem (gradients from the
    reference's parameters, given to both; some tiny, where epsilon's placement decides the step)."""
    r = np.random.default_rng(seed)
    params = {"kernel": f32(r.normal(size=(4, 3))), "bias": f32(r.normal(size=3)), "tiny": f32(r.normal(size=5))}
    targets = {k: f32(r.normal(size=v.shape)) for k, v in params.items()}
    variables = {k: keras.Variable(v.copy(), name=k) for k, v in params.items()}
    keras_opt = getattr(keras.optimizers, name)(**(keras_args or args))
    ref_opt = O.make_optimizer(name, args)
    for step in range(steps):
        grads = {k: f32(2.0 * (params[k] - targets[k])) for k in params}
        grads["tiny"] = f32(grads["tiny"] * 1e-4)
        if step == 2:
            grads["bias"] = f32(grads["bias"] * 1e-6)
        keras_opt.apply_gradients([(grads[k], variables[k]) for k in params])
        ref_opt.step(params, grads)
    assert ref_opt.iterations == int(keras_opt.iterations) == steps
    for k in params:
        assert params[k].dtype == np.float32
        np.testing.assert_allclose(params[k], np.asarray(variables[k]), rtol=0, atol=OPT_ATOL, err_msg=k)
    return params


# ---------------------------------------------------------------------------------------------- optimizers

NEW_OPTIMIZER_CASES = [
    ("Adadelta", {}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adadelta", {"learning_rate": 0.5, "rho": 0.8, "epsilon": 1e-4}),
    ("Adadelta", {"learning_rate": 0.5, "weight_decay": 0.05}),
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-3}),
    ("Nadam", {"learning_rate": 0.05, "weight_decay": 0.1}),
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.05, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 1e-3}),
    ("Adamax", {"learning_rate": 0.05, "weight_decay": 0.1}),
    ("Lion", {}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.8}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 1.0}),
    ("Lion", {"learning_rate": 0.01, "weight_decay": 0.3}),
]


@pytest.mark.parametrize("name, args", NEW_OPTIMIZER_CASES, ids=[f"{n}-{a}" for n, a in NEW_OPTIMIZER_CASES])
def test_new_optimizer(keras, name, args):
    steps_against_keras(keras, name, args)


@pytest.mark.parametrize(
    "name, args",
    [
        ("Adadelta", {"learning_rate": 0.5, "rho": 0.7, "epsilon": 1e-3, "weight_decay": 0.1}),
        ("Nadam", {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.95, "epsilon": 1e-3}),
        ("Adamax", {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.95, "epsilon": 1e-3}),
        ("Lion", {"learning_rate": 0.1, "beta_1": 0.7, "beta_2": 0.95}),
    ],
    ids=lambda value: str(value),
)
def test_new_optimizer_float64_rounds_what_keras_rounds(keras, name, args):
    """float64 variables: which hyperparameters pass through float32 shows at 1e-12."""
    r = np.random.default_rng(30)
    params = {"w": r.normal(size=20)}
    target = r.normal(size=20)
    variable = keras.Variable(params["w"].copy(), dtype="float64")
    keras_opt = getattr(keras.optimizers, name)(**args)
    ref_opt = O.make_optimizer(name, args)
    for _ in range(5):
        grad = 2.0 * (params["w"] - target)
        keras_opt.apply_gradients([(grad, variable)])
        ref_opt.step(params, {"w": grad})
    assert params["w"].dtype == np.float64
    np.testing.assert_allclose(params["w"], np.asarray(variable), rtol=0, atol=1e-12)


def test_new_optimizer_defaults_match_keras(keras):
    for name in ("Adadelta", "Nadam", "Adamax", "Lion"):
        ours, theirs = O.OPTIMIZERS[name](), getattr(keras.optimizers, name)()
        for attr in ("learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon", "rho"):
            assert hasattr(ours, attr) == hasattr(theirs, attr), (name, attr)
            if hasattr(ours, attr):
                expected = getattr(theirs, attr)
                expected = None if expected is None else float(np.asarray(expected))
                assert getattr(ours, attr) == pytest.approx(expected), (name, attr)


def test_lion_refuses_beta_1_outside_0_to_1(keras):
    for beta_1 in (0.0, 1.5):
        with pytest.raises(ValueError):
            keras.optimizers.Lion(beta_1=beta_1)
        with pytest.raises(ValueError):
            O.Lion(beta_1=beta_1)


# ---------------------------------------------------------------------------------------------- clipping

CLIP_CASES = [
    ("SGD", {"learning_rate": 0.1, "clipnorm": 1.0}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "clipvalue": 0.5}),
    ("SGD", {"learning_rate": 0.1, "global_clipnorm": 1.5}),
    ("SGD", {"learning_rate": 0.1, "clipnorm": 100.0}),  # larger than every norm: nothing changes
    ("Adam", {"learning_rate": 0.05, "clipnorm": 0.5, "weight_decay": 0.1}),
    ("Adam", {"learning_rate": 0.05, "global_clipnorm": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.3}),
    ("Adagrad", {"learning_rate": 0.05, "global_clipnorm": 1.0}),
    ("Adadelta", {"learning_rate": 1.0, "clipnorm": 0.5}),
    ("Nadam", {"learning_rate": 0.05, "clipvalue": 0.2}),
    ("Adamax", {"learning_rate": 0.05, "global_clipnorm": 0.7}),
    ("Lion", {"learning_rate": 0.01, "clipnorm": 0.1, "weight_decay": 0.2}),
    ("AdamW", {"learning_rate": 0.05, "clipnorm": 0.0}),  # 0 turns clipping off, as in Keras
]


@pytest.mark.parametrize("name, args", CLIP_CASES, ids=[f"{n}-{a}" for n, a in CLIP_CASES])
def test_clipping(keras, name, args):
    steps_against_keras(keras, name, args)


def test_clipping_changes_the_steps():
    """The clip cases are not vacuous: unclipped, the same steps end elsewhere."""
    r = np.random.default_rng(3)
    grads = {"a": f32(r.normal(size=(4, 3)) * 3), "b": f32(r.normal(size=3))}
    norms = {k: float(np.sqrt((g.astype(np.float64) ** 2).sum())) for k, g in grads.items()}
    clipped = O.make_optimizer("SGD", {"clipnorm": 1.0}).clip(dict(grads))
    for k in grads:
        assert np.sqrt((clipped[k].astype(np.float64) ** 2).sum()) == pytest.approx(min(norms[k], 1.0), rel=1e-6)
    joint = O.make_optimizer("SGD", {"global_clipnorm": 1.0}).clip(dict(grads))
    assert np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in joint.values())) == pytest.approx(1.0, rel=1e-6)
    assert np.abs(O.make_optimizer("SGD", {"clipvalue": 0.5}).clip(dict(grads))["a"]).max() == np.float32(0.5)


def test_only_one_clipping_option(keras):
    with pytest.raises(ValueError, match="Only one of"):
        keras.optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError):
        O.make_optimizer("Adam", {"clipnorm": 1.0, "global_clipnorm": 1.0})


# ---------------------------------------------------------------------------------------------- schedules

SCHEDULE_CASES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}),
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.9, "staircase": True}),
    ("ExponentialDecay", {"initial_learning_rate": 0.01, "decay_steps": 2.5, "decay_rate": 0.96}),
    ("PiecewiseConstantDecay", {"boundaries": [1, 99, 500], "values": [0.1, 0.05, 0.01, 0.001]}),
    ("PiecewiseConstantDecay", {"boundaries": [2.7], "values": [1.0, 0.5]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 100}),
    (
        "PolynomialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 30, "end_learning_rate": 0.01, "power": 0.5, "cycle": True},
    ),
    ("PolynomialDecay", {"initial_learning_rate": 0.05, "decay_steps": 40, "end_learning_rate": 0.0, "power": 2.0}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 2.0, "staircase": True}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 100}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 50, "alpha": 0.1}),
    (
        "CosineDecay",
        {"initial_learning_rate": 0.0, "decay_steps": 100, "warmup_target": 0.1, "warmup_steps": 20, "alpha": 0.05},
    ),
    ("CosineDecay", {"initial_learning_rate": 0.01, "decay_steps": 10, "warmup_target": 0.1, "warmup_steps": 0}),
]
STEPS = (0, 1, 2, 3, 7, 19, 20, 21, 30, 60, 99, 100, 101, 119, 120, 121, 500, 501, 1000, 10**6)


@pytest.mark.parametrize("name, args", SCHEDULE_CASES, ids=[f"{n}-{a}" for n, a in SCHEDULE_CASES])
def test_schedule_values(keras, name, args):
    """The reference's rate at each step equals Keras' schedule object's (float32, to an ulp or two)."""
    schedule = keras_schedule(keras, name, args)
    reference = O.make_schedule(name, args)
    for step in STEPS:
        expected = np.float32(np.asarray(schedule(keras.Variable(step, dtype="int64"))))
        value = reference(step)
        assert value.dtype == np.float32, (name, step)
        np.testing.assert_allclose(value, expected, rtol=2e-7, atol=0, err_msg=f"{name} at step {step}")


def test_schedule_defaults_match_keras(keras):
    """The reference's defaults are Keras': its functions' keyword defaults against each class' get_config()."""
    import inspect

    required = {
        "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.5},
        "PiecewiseConstantDecay": {"boundaries": [1], "values": [0.1, 0.01]},
        "PolynomialDecay": {"initial_learning_rate": 0.1, "decay_steps": 1},
        "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.5},
        "CosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 1},
    }
    for name, function in O.SCHEDULES.items():
        config = keras_schedule(keras, name, required[name]).get_config()
        defaults = {
            key: parameter.default
            for key, parameter in inspect.signature(function).parameters.items()
            if parameter.default is not inspect.Parameter.empty and key != "name"
        }
        assert set(config) - {"name"} == set(required[name]) | set(defaults), name
        for key, value in defaults.items():
            assert config[key] == value, (name, key)


SCHEDULED_STEPS = [
    ("SGD", {"decay_steps": 2, "decay_rate": 0.5, "initial_learning_rate": 0.1}, "ExponentialDecay", {}),
    ("SGD", {"boundaries": [1, 3], "values": [0.1, 0.02, 0.005]}, "PiecewiseConstantDecay", {"momentum": 0.9}),
    ("Adam", {"initial_learning_rate": 0.05, "decay_steps": 4}, "CosineDecay", {"weight_decay": 0.2}),
    (
        "AdamW",
        {"initial_learning_rate": 0.0, "decay_steps": 3, "warmup_target": 0.05, "warmup_steps": 2},
        "CosineDecay",
        {"weight_decay": 0.3},
    ),
    ("Lion", {"initial_learning_rate": 0.01, "decay_steps": 3, "power": 2.0}, "PolynomialDecay", {"clipnorm": 0.1}),
    ("Nadam", {"initial_learning_rate": 0.05, "decay_steps": 1, "decay_rate": 1.0}, "InverseTimeDecay", {}),
]


@pytest.mark.parametrize(
    "name, schedule_args, schedule, args", SCHEDULED_STEPS, ids=[f"{o}-{s}" for o, _, s, _ in SCHEDULED_STEPS]
)
def test_schedule_steps_the_learning_rate_as_keras_does(keras, name, schedule_args, schedule, args):
    """Keras evaluates the schedule at `iterations` before counting the step (the first step uses the rate of
    step 0), for the update and for the weight decay alike."""
    keras_args = {**args, "learning_rate": keras_schedule(keras, schedule, schedule_args)}
    reference_args = {**args, "learning_rate": O.make_schedule(schedule, schedule_args)}
    steps_against_keras(keras, name, reference_args, keras_args)


def test_a_schedule_one_step_late_is_caught(keras):
    """The scheduled-step tests can tell an off-by-one step: the rates of steps 1..5 end elsewhere."""
    schedule_args = {"initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.5}
    late = O.make_schedule("ExponentialDecay", schedule_args)
    with pytest.raises(AssertionError):
        steps_against_keras(
            keras,
            "SGD",
            {"learning_rate": lambda step: late(step + 1)},
            {"learning_rate": keras_schedule(keras, "ExponentialDecay", schedule_args)},
        )
