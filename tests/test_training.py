"""Version 2's training additions (issue 16) through the language and both generated programs: learning-rate
schedules, gradient clipping, ReduceLROnPlateau and ModelCheckpoint in `train { }`, and the top-k, precision
and recall metrics.

The optimizers' and schedules' formulas are proven against Keras in tests/reference/test_training_reference.py,
and each optimizer case steps through the PyTorch program (tests/test_ops.py) and `dlc verify`
(tests/test_verify.py). Here: the language's names, defaults (pinned against Keras' classes) and errors; the
schedules of both programs against Keras' schedule objects; an embedding's sparse gradient rows through the new
optimizers and clipping; the shared loop's callback logic against Keras' own callbacks; real runs of both
programs (the same learning rates, the same best epoch, best.safetensors the weights of that epoch, resumed
runs the same); and the metrics of both programs against each other and NumPy.
"""

from __future__ import annotations

import inspect
import json
import os
import sys

import numpy as np
import pytest
import torch
from test_errors import assert_error, model
from test_keras_program import program_module as keras_program
from test_pytorch_program import program_module as pytorch_program
from test_verify import assert_within, model_text, verified

from backends.keras.emit import emit_program as emit_keras
from backends.program import loop
from backends.program.constants import callbacks
from backends.program.loader import train
from compiler.errors import DlArgumentError, DlNameError
from compiler.frontend import load_text
from compiler.training import (
    CLIPPING,
    METRIC_CALLS,
    MODEL_CHECKPOINT,
    REDUCE_LR_ON_PLATEAU,
    SCHEDULES,
    monitor_mode,
)
from compiler.training_types import Configured
from compiler.weights import load_safetensors

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def spec(optimizer: str = "SGD()", metrics: str = "", train: str = "", loss: str = "categorical_crossentropy") -> str:
    return model(
        "    Dense(5, activation=relu)\n    Dense(3, activation=softmax)",
        f"  loss {loss}\n  optimizer {optimizer}\n{metrics}{train}",
    )


def training_of(text: str):
    (graph,) = load_text(text, "spec.dl")
    return graph.training


# ---------------------------------------------------------------------------------------------- the language


def test_a_schedule_and_clipping_are_an_optimizers_arguments():
    training = training_of(
        spec("Adam(learning_rate=CosineDecay(0.01, 100, warmup_target=0.1, warmup_steps=5), global_clipnorm=1.0)")
    )
    rate = training.optimizer.args["learning_rate"]
    assert rate == Configured(
        "CosineDecay",
        {
            "initial_learning_rate": 0.01,
            "decay_steps": 100,
            "alpha": 0.0,
            "name": "CosineDecay",
            "warmup_target": 0.1,
            "warmup_steps": 5,
        },
    )
    assert training.optimizer.args["global_clipnorm"] == 1.0
    assert "clipnorm" not in training.optimizer.args and "clipvalue" not in training.optimizer.args
    piecewise = training_of(spec("SGD(PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001]))"))
    assert piecewise.optimizer.args["learning_rate"].args["values"] == [0.1, 0.01, 0.001]


def test_metrics_take_keras_class_names_calls_and_names():
    training = training_of(
        spec(
            metrics="  metrics [accuracy, TopKCategoricalAccuracy(k=2), precision, Precision(thresholds=0.3), "
            'Recall(class_id=1, name="recall_of_1"), top_k_categorical_accuracy]\n'
        )
    )
    assert training.metrics == (
        "accuracy",
        "top_k_categorical_accuracy",
        "precision",
        "precision_1",  # as Keras names a second metric of one name
        "recall_of_1",
        "top_k_categorical_accuracy_1",
    )
    assert [m.name for m in training.metric_specs] == [
        "accuracy",
        "top_k_categorical_accuracy",
        "precision",
        "precision",
        "recall",
        "top_k_categorical_accuracy",
    ]
    assert training.metric_specs[1].args["k"] == 2 and training.metric_specs[5].args["k"] == 5
    assert training.metric_specs[3].args["thresholds"] == 0.3
    sparse = training_of(
        spec(metrics="  metrics [SparseTopKCategoricalAccuracy(k=3)]\n", loss="sparse_categorical_crossentropy")
    )
    assert sparse.metrics == ("sparse_top_k_categorical_accuracy",) and sparse.metric_specs[0].args["k"] == 3


def test_callbacks_take_keras_arguments_and_resolve_auto_modes():
    text = spec(
        metrics="  metrics [accuracy, mae, recall]\n",
        train="  train {\n    validation_split = 0.2\n"
        "    reduce_lr_on_plateau = ReduceLROnPlateau(monitor=val_loss, factor=0.5, patience=2, verbose=1,"
        " cooldown=1, min_lr=0.0001)\n"
        "    checkpoint = ModelCheckpoint(monitor=val_recall, save_best_only=true, verbose=1, save_weights_only=true)\n"
        "    early_stopping = EarlyStopping(monitor=val_recall, restore_best_weights=true)\n  }\n",
    )
    training = training_of(text)
    plateau, saving = training.settings.reduce_lr_on_plateau, training.settings.checkpoint
    assert (plateau.factor, plateau.patience, plateau.cooldown, plateau.min_lr, plateau.min_delta) == (
        0.5,
        2,
        1,
        0.0001,
        1e-4,
    )
    assert saving.save_best_only and saving.monitor == "val_recall"
    modes = {monitor: monitor_mode(monitor, "auto", training) for monitor in ("loss", "val_mae", "accuracy", "recall")}
    assert modes == {"loss": "min", "val_mae": "min", "accuracy": "max", "recall": "max"}
    assert monitor_mode("val_mae", "max", training) == "max"
    found = callbacks(training)
    # the same monitor and mode, no min_delta and no threshold: EarlyStopping restores ModelCheckpoint's best
    assert found["early_stopping"]["weights_file"] == "best.safetensors"
    assert found["checkpoint"] == {
        "monitor": "val_recall",
        "mode": "max",
        "save_best_only": True,
        "initial_value_threshold": None,
    }
    other = training_of(text.replace("EarlyStopping(monitor=val_recall", "EarlyStopping(monitor=val_loss"))
    assert callbacks(other)["early_stopping"]["weights_file"] == "early_stopping_best.safetensors"


TRAIN = "  train {{\n    validation_split = 0.2\n    {setting}\n  }}\n"
ERRORS = [
    (
        spec("Adam(clipnorm=1.0, clipvalue=2.0)"),
        "clipvalue=2.0",
        DlArgumentError,
        "clips gradients one way only, as in Keras: clipnorm and clipvalue are both set",
        "keep one of clipnorm (each weight's gradient), global_clipnorm (all together) and clipvalue",
    ),
    (spec("Lion(beta_1=0.0)"), "beta_1=0.0", DlArgumentError, "Lion's beta_1 must be in (0, 1]", None),
    (
        spec("SGD(learning_rate=ExponentialDecy(0.1, 10, 0.5))"),
        "ExponentialDecy",
        DlNameError,
        "unknown learning-rate schedule 'ExponentialDecy'",
        "did you mean 'ExponentialDecay'?",
    ),
    (
        spec("SGD(learning_rate=ExponentialDecay(0.1, 0, 0.5))"),
        "0, 0.5",
        DlArgumentError,
        "'decay_steps' must be a number > 0, got 0",
        None,
    ),
    (
        spec("SGD(learning_rate=PiecewiseConstantDecay([10, 20], [0.1, 0.01]))"),
        "PiecewiseConstantDecay",
        DlArgumentError,
        "needs one value more than boundaries: 2 boundaries, 2 values",
        "values[0] holds up to boundaries[0], values[i] up to boundaries[i], the last value after",
    ),
    (
        spec("SGD(learning_rate=PiecewiseConstantDecay([20, 10], [0.1, 0.01, 0.001]))"),
        "[20, 10]",
        DlArgumentError,
        "boundaries must increase",
        None,
    ),
    (
        spec(
            "SGD(learning_rate=ExponentialDecay(0.1, 10, 0.5))",
            train=TRAIN.format(setting="reduce_lr_on_plateau = ReduceLROnPlateau(patience=2)"),
        ),
        "ReduceLROnPlateau(",
        DlArgumentError,
        "ReduceLROnPlateau cannot change the learning rate of ExponentialDecay",
        "give the optimizer a constant learning_rate, or drop reduce_lr_on_plateau",
    ),
    (
        spec(train=TRAIN.format(setting="reduce_lr_on_plateau = ReduceLROnPlateau(factor=1.5)")),
        "factor=1.5",
        DlArgumentError,
        "ReduceLROnPlateau's factor must be below 1.0",
        None,
    ),
    (
        spec(train=TRAIN.format(setting='checkpoint = ModelCheckpoint("best.keras", save_best_only=true)')),
        '"best.keras"',
        DlArgumentError,
        "ModelCheckpoint takes no file path here",
        "the best weights go to OUT/best.safetensors (every epoch's, without save_best_only, to "
        "OUT/epoch_N.safetensors), canonical; OUT is the run's --out folder",
    ),
    (
        spec(train=TRAIN.format(setting="checkpoint = ModelCheckpoint(save_freq=100)")),
        "save_freq=100",
        DlArgumentError,
        "ModelCheckpoint saves once per epoch here",
        'leave save_freq out, or write save_freq="epoch"',
    ),
    (
        spec(train="  train {\n    checkpoint = ModelCheckpoint(save_best_only=true)\n  }\n"),
        "ModelCheckpoint(",
        DlArgumentError,
        "ModelCheckpoint monitors val_loss but there is no validation data",
        "set validation_split, or monitor=loss",
    ),
    (
        spec(train=TRAIN.format(setting="checkpoint = ModelCheckpoint(monitor=val_precision)")),
        "val_precision",
        DlNameError,
        "unknown value 'val_precision'",
        "choose one of loss, val_loss",
    ),
    (
        spec(metrics="  metrics [precission]\n"),
        "precission",
        DlNameError,
        "unknown metric 'precission'",
        "did you mean 'precision'?",
    ),
    (
        spec(metrics="  metrics [Precision]\n", loss="sparse_categorical_crossentropy"),
        "Precision",
        DlArgumentError,
        "Precision compares each output with its target",
        "use categorical_crossentropy (one-hot targets), or class_id= with one-hot targets",
    ),
    (
        spec(metrics="  metrics [sparse_top_k_categorical_accuracy]\n"),
        "sparse_top_k_categorical_accuracy",
        DlArgumentError,
        "sparse_top_k_categorical_accuracy wants class ids as targets",
        "use top_k_categorical_accuracy",
    ),
    (spec(metrics="  metrics [Recall(class_id=3)]\n"), "Recall", DlArgumentError, "class_id is 3", None),
    (
        spec(metrics='  metrics [precision(name="loss")]\n'),
        'name="loss"',
        DlArgumentError,
        "a metric cannot be named 'loss'",
        None,
    ),
]


@pytest.mark.parametrize("text, at, kind, message, hint", ERRORS, ids=[e[3][:40] for e in ERRORS])
def test_training_errors_name_the_place(text, at, kind, message, hint):
    assert_error(text, at, kind, message, hint)


# ---------------------------------------------------------------------------------------------- Keras' defaults


def keras_signature(cls) -> dict[str, object]:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    }


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_signatures_are_keras(keras, name):
    theirs = keras_signature(getattr(keras.optimizers.schedules, name))
    ours = SCHEDULES[name]
    assert [spec.name for spec in ours] == list(theirs), name  # Keras' order: positional arguments bind alike
    for spec_ in ours:
        if spec_.required:
            assert theirs[spec_.name] is inspect.Parameter.empty, (name, spec_.name)
        else:
            assert spec_.default == theirs[spec_.name], (name, spec_.name)


@pytest.mark.parametrize(
    "ours, keras_name, required, inert",
    [
        (REDUCE_LR_ON_PLATEAU, "ReduceLROnPlateau", set(), set()),
        (MODEL_CHECKPOINT, "ModelCheckpoint", {"filepath"}, set()),
    ],
)
def test_callback_signatures_are_keras(keras, ours, keras_name, required, inert):
    theirs = keras_signature(getattr(keras.callbacks, keras_name))
    assert [spec.name for spec in ours] == list(theirs)
    for spec_ in ours:
        if spec_.name not in required:
            assert spec_.default == theirs[spec_.name], (keras_name, spec_.name)
        else:
            assert theirs[spec_.name] is inspect.Parameter.empty


def test_clipping_defaults_are_keras(keras):
    theirs = keras_signature(keras.optimizers.Adam)
    assert {spec.name: spec.default for spec in CLIPPING} == {spec.name: theirs[spec.name] for spec in CLIPPING}


@pytest.mark.parametrize("name", [name for name, (cls, _) in METRIC_CALLS.items() if cls])
def test_metric_defaults_and_names_are_keras(keras, name):
    keras_class, signature = METRIC_CALLS[name]
    cls = getattr(keras.metrics, keras_class)
    theirs = keras_signature(cls)
    ours = [spec.name for spec in signature]
    assert [key for key in theirs if key in ours] == ours, name  # in Keras' order
    for spec_ in signature:
        if spec_.name != "name":  # the language's None is Keras' own name, checked next
            assert spec_.default == theirs[spec_.name], (name, spec_.name)
    assert cls().name == name  # the history key of the bare name


# ---------------------------------------------------------------------------------------------- schedules

SCHEDULE_TEXTS = [
    "ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=true)",
    "PiecewiseConstantDecay(boundaries=[1, 99, 500], values=[0.1, 0.05, 0.01, 0.001])",
    "PolynomialDecay(0.1, 300, end_learning_rate=0.01, power=0.5, cycle=true)",
    "InverseTimeDecay(0.1, decay_steps=7, decay_rate=0.5)",
    "CosineDecay(0.0, 500, alpha=0.1, warmup_target=0.1, warmup_steps=99)",
]


@pytest.mark.parametrize("schedule", SCHEDULE_TEXTS, ids=lambda text: text.split("(")[0])
def test_both_programs_step_the_schedule_as_keras(keras, schedule, tmp_path):
    """The learning rate at steps 0, 1, 99 and 1000 in the PyTorch program's schedule, in the Keras program's
    optimizer, and in Keras' own schedule object built from the same arguments."""
    (graph,) = load_text(spec(f"SGD(learning_rate={schedule})"), "schedule.dl")
    rate = graph.training.optimizer.args["learning_rate"]
    theirs = getattr(keras.optimizers.schedules, rate.name)(**rate.args)
    torch_schedule = pytorch_program(graph, tmp_path, "t_schedule")[0].OPTIMIZER["learning_rate"]
    keras_optimizer = keras_program(emit_keras(graph), tmp_path, "k_schedule").build_optimizer()
    for step in (0, 1, 99, 1000):
        expected = float(np.asarray(theirs(step)))
        keras_optimizer.iterations.assign(step)
        assert float(np.asarray(keras_optimizer.learning_rate)) == expected, step
        assert torch_schedule(step) == pytest.approx(expected, rel=2e-7, abs=0), step


# ---------------------------------------------------------------------------------------------- sparse gradients


@pytest.mark.parametrize(
    "optimizer",
    [
        "Adadelta(learning_rate=1.0)",
        "Nadam(learning_rate=0.05)",
        "Adamax(learning_rate=0.05)",
        "Lion(learning_rate=0.01)",
        "Adam(learning_rate=0.05, clipnorm=0.05)",
        "SGD(learning_rate=0.5, clipvalue=0.01)",
        "Adamax(learning_rate=0.05, global_clipnorm=0.05)",
    ],
)
def test_embedding_rows_through_new_optimizers_and_clipping(optimizer):
    """Repeated token ids: Keras clips an embedding's gradient rows one by one (their norm is the rows', not
    their sums'), and squares (Adadelta, Nadam) or takes absolute values of (Adamax) each row before summing;
    global_clipnorm turns the rows into their sums. Treating the sums as the gradient is 3e-3 to 0.16 off."""
    layers = "Embedding(4, 3)\nFlatten()\nDense(2)"  # 6 ids from 4 tokens: repeats guaranteed
    assert_within(verified(model_text("ids: i32[6]", layers, optimizer=optimizer), "embedding"))


# ---------------------------------------------------------------------------------------------- callback logic


def drive(keras, callback, values, learning_rate=0.1):
    """Keras' callback on a sequence of monitored values: per epoch, the learning rate it logged and the one
    after, and whether it stopped training."""
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    net.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    callback.set_model(net)
    callback.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        logs = {"loss": value, "val_loss": value}
        callback.on_epoch_end(epoch, logs)
        seen.append((logs.get("learning_rate"), float(np.asarray(net.optimizer.learning_rate)), net.stop_training))
        if net.stop_training:
            break
    return seen


def sequences():
    rng = np.random.default_rng(4)
    walks = [np.cumsum(rng.normal(0, 1, 14)) for _ in range(3)]
    plateaus = [np.round(1 + np.cumsum(rng.normal(-0.05, 0.1, 14)), 1) for _ in range(3)]  # ties, small steps
    return [[float(v) for v in sequence] for sequence in (*walks, *plateaus)]


PLATEAUS = [
    {"factor": 0.5, "patience": 2},
    {"factor": 0.5, "patience": 1, "cooldown": 1, "min_lr": 0.02},
    {"factor": 0.2, "patience": 0, "cooldown": 2, "min_delta": 0.1},
    {"factor": 0.5, "patience": 1, "mode": "max", "min_delta": 0.0},
]


@pytest.mark.parametrize("options", PLATEAUS, ids=lambda options: str(options))
def test_plateau_logic_is_keras_reduce_lr_on_plateau(keras, options):
    for values in sequences():
        theirs = drive(keras, keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **options), values)
        settings = {"factor": 0.1, "patience": 10, "min_delta": 1e-4, "cooldown": 0, "min_lr": 0.0, "mode": "min"}
        settings |= options
        state, rate, ours = {"best": None, "wait": 0, "cooldown": 0}, float(np.float32(0.1)), []
        for value in values:
            logged = rate
            state, reduced = loop.plateau_step(state, value, rate, settings)
            rate = float(np.float32(reduced)) if reduced is not None else rate
            ours.append((logged, rate, False))
        assert ours == theirs, (options, values)
    assert any(after != before for before, after, _ in ours)  # the cases reduce


@pytest.mark.parametrize(
    "options",
    [
        {"patience": 0},
        {"patience": 1},
        {"patience": 3},
        {"patience": 2, "min_delta": 0.2},
        {"patience": 1, "mode": "max"},
    ],
    ids=lambda options: str(options),
)
def test_early_stopping_logic_is_keras_early_stopping(keras, options):
    """Keras stops after `patience` epochs without improvement (the language's loop stopped one epoch later
    before version 2, for patience >= 1)."""
    for values in sequences():
        theirs = [stop for _, _, stop in drive(keras, keras.callbacks.EarlyStopping(**options), values)]
        settings = {"min_delta": 0.0, "mode": "min"} | options
        state, ours = {"best": None, "wait": 0}, []
        for epoch, value in enumerate(values):
            state, _, stop = loop.early_stopping_step(state, value, epoch, settings)
            ours.append(stop)
            if stop:
                break
        assert ours == theirs, (options, values)


@pytest.mark.parametrize(
    "options", [{}, {"mode": "max"}, {"initial_value_threshold": 0.5}], ids=lambda options: str(options)
)
def test_best_epochs_are_keras_model_checkpoints(keras, options, tmp_path):
    for values in sequences():
        keras_checkpoint = keras.callbacks.ModelCheckpoint(
            str(tmp_path / "m.keras"), monitor="val_loss", save_best_only=True, **options
        )
        keras_checkpoint.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        keras_checkpoint._set_monitor_op()
        theirs = [keras_checkpoint._should_save_model(e, None, {"val_loss": v}, "m") for e, v in enumerate(values)]
        best, ours = options.get("initial_value_threshold"), []
        for value in values:
            better = loop.improved(value, best, options.get("mode", "min"), 0.0)
            best = value if better else best
            ours.append(better)
        assert ours == theirs, (options, values)


def test_improvement_is_judged_in_float32_as_keras_does():
    assert not loop.improved(0.30000001, 0.3, "min", 0.0)  # equal in float32
    assert loop.improved(0.2999, 0.3, "min", 0.0)
    assert not loop.improved(0.2999, 0.3, "min", 0.001)
    assert loop.improved(0.5, 0.3, "max", 0.1)


# ---------------------------------------------------------------------------------------------- real runs

RUN = """model Plateau {
  input x: f32[4]
  layers {
    Dense(8, activation=relu)
    Dense(3, activation=softmax)
  }
  loss categorical_crossentropy
  optimizer SGD(learning_rate=0.1, momentum=0.9)
  metrics [accuracy, precision]
  train {
    data = dataset("iris")
    epochs = 5
    batch_size = 16
    validation_split = 0.2
    seed = 1
    reduce_lr_on_plateau = ReduceLROnPlateau(monitor=val_loss, factor=0.5, patience=1, min_delta=0.08, cooldown=1)
    checkpoint = ModelCheckpoint(monitor=val_accuracy, save_best_only=true)
  }
}
"""


def history(out) -> dict[str, list[float]]:
    return json.loads((out / "history.json").read_text())["history"]


def best_epoch(values: list[float]) -> int:
    """1-based: the first epoch of the highest value, ties judged in float32."""
    best = None
    for epoch, value in enumerate(values, 1):
        if best is None or np.float32(value) > np.float32(values[best - 1]):
            best = epoch
    return best


@pytest.fixture
def no_curves(monkeypatch):
    """The runs skip curves.png (matplotlib takes seconds per run; the curves are not what is tested here)."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_both_programs_reduce_the_learning_rate_and_keep_the_best_epoch_alike(tmp_path, no_curves):
    (graph,) = load_text(RUN, "plateau.dl")
    train(graph, "pytorch", tmp_path / "torch")
    train(graph, "keras", tmp_path / "keras")
    ours, theirs = history(tmp_path / "torch"), history(tmp_path / "keras")
    assert ours["learning_rate"] == theirs["learning_rate"]  # float32 values, reduced at the same epochs
    rates = ours["learning_rate"]
    assert rates[0] == float(np.float32(0.1)) and rates[-1] == float(np.float32(0.05)), rates
    np.testing.assert_allclose(ours["val_loss"], theirs["val_loss"], rtol=1e-5, atol=1e-5)
    best = best_epoch(ours["val_accuracy"])
    assert best == best_epoch(theirs["val_accuracy"]) and 1 < best < 5, ours["val_accuracy"]
    # best.safetensors holds the weights of the best epoch: a run stopped there ends with them
    train(graph, "pytorch", tmp_path / "short", epochs=best)
    kept, _ = load_safetensors(tmp_path / "torch/best.safetensors")
    short, _ = load_safetensors(tmp_path / "short/weights.safetensors")
    assert kept.keys() == short.keys() == {key for key in graph.weight_names()}
    for key in kept:
        np.testing.assert_array_equal(kept[key], short[key], err_msg=key)
    keras_kept, _ = load_safetensors(tmp_path / "keras/best.safetensors")
    for key in kept:
        np.testing.assert_allclose(keras_kept[key], kept[key], atol=1e-5, rtol=0, err_msg=key)
    assert history(tmp_path / "short")["learning_rate"] == rates[:best]


@pytest.mark.parametrize("target", ["pytorch", "keras"])
def test_resume_carries_the_callbacks_state(target, tmp_path, no_curves):
    """Interrupted after epoch 4, where the learning rate was just reduced, and resumed to 5: the same learning
    rates (the reduced rate and the cooldown carried over) and the same best weights as one run."""
    (graph,) = load_text(RUN, "plateau.dl")
    train(graph, target, tmp_path / "straight")
    train(graph, target, tmp_path / "resumed", epochs=4)
    train(graph, target, tmp_path / "resumed", resume=True)
    straight, resumed = history(tmp_path / "straight"), history(tmp_path / "resumed")
    assert resumed["learning_rate"] == straight["learning_rate"]
    np.testing.assert_allclose(resumed["val_loss"], straight["val_loss"], rtol=1e-6, atol=1e-6)
    a, _ = load_safetensors(tmp_path / "straight/best.safetensors")
    b, _ = load_safetensors(tmp_path / "resumed/best.safetensors")
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, rtol=0, err_msg=key)


def test_checkpoint_without_save_best_only_keeps_every_epoch(tmp_path, no_curves):
    text = RUN.replace("ModelCheckpoint(monitor=val_accuracy, save_best_only=true)", "ModelCheckpoint()")
    (graph,) = load_text(text.replace("epochs = 5", "epochs = 2"), "every.dl")
    train(graph, "pytorch", tmp_path / "run")
    assert not (tmp_path / "run/best.safetensors").exists()
    last, _ = load_safetensors(tmp_path / "run/epoch_2.safetensors")
    final, _ = load_safetensors(tmp_path / "run/weights.safetensors")
    assert (tmp_path / "run/epoch_1.safetensors").exists()
    for key in final:
        np.testing.assert_array_equal(last[key], final[key])


# ---------------------------------------------------------------------------------------------- metrics


def top_k(output, ids, k):
    above = (output > np.take_along_axis(output, ids[..., None], -1)).sum(-1)
    return (above < k).astype(np.float64)


def confusion(output, target, threshold=0.5, top=None, class_id=None):
    predicted = output > threshold
    if top is not None:
        ranked = np.argsort(-output, axis=-1, kind="stable")[..., :top]
        mask = np.zeros_like(predicted)
        np.put_along_axis(mask, ranked, True, -1)
        predicted &= mask
    actual = target.reshape(predicted.shape) != 0
    if class_id is not None:
        predicted, actual = predicted[..., class_id], actual[..., class_id]
    tp = (predicted & actual).sum()
    return tp / max(predicted.sum(), 1), tp / max(actual.sum(), 1)


METRIC_CASES = {
    "onehot": (
        "Dense(4, activation=softmax)",
        "categorical_crossentropy",
        "[accuracy, top_k_categorical_accuracy, TopKCategoricalAccuracy(k=2), precision, recall, "
        "Precision(thresholds=0.3, class_id=1), Recall(top_k=2), Precision(top_k=1, thresholds=0.2)]",
        lambda p, y: {
            "accuracy": (p.argmax(-1) == y.argmax(-1)).mean(),
            "top_k_categorical_accuracy": top_k(p, y.argmax(-1), 5).mean(),
            "top_k_categorical_accuracy_1": top_k(p, y.argmax(-1), 2).mean(),
            "precision": confusion(p, y)[0],
            "recall": confusion(p, y)[1],
            "precision_1": confusion(p, y, 0.3, class_id=1)[0],
            "recall_1": confusion(p, y, -1e10, top=2)[1],
            "precision_2": confusion(p, y, 0.2, top=1)[0],
        },
    ),
    "sparse": (
        "Dense(5, activation=softmax)",
        "sparse_categorical_crossentropy",
        "[sparse_top_k_categorical_accuracy, SparseTopKCategoricalAccuracy(k=2), accuracy]",
        lambda p, y: {
            "sparse_top_k_categorical_accuracy": top_k(p, y, 5).mean(),
            "sparse_top_k_categorical_accuracy_1": top_k(p, y, 2).mean(),
            "accuracy": (p.argmax(-1) == y).mean(),
        },
    ),
    "binary": (
        "Dense(1, activation=sigmoid)",
        "binary_crossentropy",
        "[precision, recall, BinaryAccuracy(threshold=0.7), Recall(thresholds=0.4)]",
        lambda p, y: {
            "precision": confusion(p, y)[0],
            "recall": confusion(p, y)[1],
            "binary_accuracy": ((p > 0.7) == y).mean(),
            "recall_1": confusion(p, y, 0.4)[1],
        },
    ),
}


@pytest.mark.parametrize("case", sorted(METRIC_CASES))
def test_epoch_metrics_are_keras_stateful_metrics(keras, case, tmp_path):
    """The PyTorch program's metrics over a data set (5-row batches) equal the Keras program's on the same
    weights and data, and NumPy's over the whole set; precision and recall are not means of the batches'."""
    last, loss, metrics, expected_of = METRIC_CASES[case]
    text = (
        f"model M {{\n  input x: f32[6]\n  layers {{\n    Dense(8, activation=tanh)\n    {last}\n  }}\n"
        f"  loss {loss}\n  optimizer SGD()\n  metrics {metrics}\n}}\n"
    )
    (graph,) = load_text(text, "metrics.dl")
    rng = np.random.default_rng(7)
    weights = {
        f"{node.name}.{param.name}": rng.normal(0, 1.5, param.shape).astype(np.float32) for node, param in graph.params
    }
    x = rng.normal(size=(23, 6)).astype(np.float32)
    units = graph.output.shape[-1]
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, 23).astype(np.int64)
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, (23, 1)).astype(np.float32)
    else:
        y = np.eye(units, dtype=np.float32)[rng.integers(0, units, 23)]
    torch_module, _ = pytorch_program(graph, tmp_path, f"t_metrics_{case}")
    net = torch_module.MODEL_CLASS()
    torch_module.load_canonical(net, weights)
    ours = torch_module.evaluate(net, [x], y, 5, torch_module.Workers())
    keras_module = keras_program(emit_keras(graph), tmp_path, f"k_metrics_{case}")
    keras_model = keras_module.build_model()
    keras_module.load_canonical(keras_model, weights)
    keras_model.compile(
        optimizer=keras_module.build_optimizer(), loss=keras_module.build_loss(), metrics=keras_module.METRICS
    )
    theirs = keras_module.evaluate(keras_model, [x], y, 5)
    assert list(ours) == ["loss", *graph.training.metrics] and set(theirs) == set(ours)
    net.eval()
    with torch.inference_mode():
        probabilities = net(torch.from_numpy(x)).numpy().astype(np.float64)
    expected = expected_of(probabilities, y)
    assert set(expected) == set(graph.training.metrics)
    for name in graph.training.metrics:
        assert ours[name] == pytest.approx(theirs[name], abs=1e-6), name
        assert ours[name] == pytest.approx(expected[name], abs=1e-6), name
    if case != "sparse":  # the cases are not degenerate: a mean of the batches' precisions would differ
        batches = [confusion(probabilities[i : i + 5], y[i : i + 5])[0] for i in range(0, 23, 5)]
        assert abs(np.mean(batches) - expected["precision"]) > 1e-3
