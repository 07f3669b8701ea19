"""Loss, optimizer, metrics and `train { }` settings, validated against Keras' names and defaults."""

from __future__ import annotations

from . import syntax as s
from .argkinds import Anything, ArgSpec, Bool, Enum, Float, Int, bind
from .data import build_data_source, check_data_fits
from .errors import DlArgumentError, DlNameError, Span, did_you_mean
from .ir import Graph, Value
from .training_types import Configured, EarlyStopping, Training, TrainSettings
from .values import CallValue, Symbol, describe, evaluate

PROBABILITY = Float(0.0, 1.0)
RATE = Float(low=0.0)


# canonical name -> (Keras class name, short aliases, signature)
LOSSES: dict[str, tuple[str, tuple[str, ...], tuple[ArgSpec, ...]]] = {
    "mean_squared_error": ("MeanSquaredError", ("mse",), ()),
    "mean_absolute_error": ("MeanAbsoluteError", ("mae",), ()),
    "huber": ("Huber", (), (ArgSpec("delta", Float(low=0.0), 1.0),)),
    "binary_crossentropy": (
        "BinaryCrossentropy",
        (),
        (ArgSpec("from_logits", Bool(), False), ArgSpec("label_smoothing", PROBABILITY, 0.0)),
    ),
    "categorical_crossentropy": (
        "CategoricalCrossentropy",
        (),
        (ArgSpec("from_logits", Bool(), False), ArgSpec("label_smoothing", PROBABILITY, 0.0)),
    ),
    "sparse_categorical_crossentropy": (
        "SparseCategoricalCrossentropy",
        (),
        (ArgSpec("from_logits", Bool(), False),),
    ),
}

WEIGHT_DECAY = ArgSpec("weight_decay", RATE, None)
OPTIMIZERS: dict[str, tuple[ArgSpec, ...]] = {
    "SGD": (
        ArgSpec("learning_rate", RATE, 0.01),
        ArgSpec("momentum", Float(0.0, 1.0), 0.0),
        ArgSpec("nesterov", Bool(), False),
        WEIGHT_DECAY,
    ),
    "Adam": (
        ArgSpec("learning_rate", RATE, 0.001),
        ArgSpec("beta_1", PROBABILITY, 0.9),
        ArgSpec("beta_2", PROBABILITY, 0.999),
        ArgSpec("epsilon", RATE, 1e-7),
        WEIGHT_DECAY,
    ),
    "AdamW": (
        ArgSpec("learning_rate", RATE, 0.001),
        ArgSpec("weight_decay", RATE, 0.004),
        ArgSpec("beta_1", PROBABILITY, 0.9),
        ArgSpec("beta_2", PROBABILITY, 0.999),
        ArgSpec("epsilon", RATE, 1e-7),
    ),
    "RMSprop": (
        ArgSpec("learning_rate", RATE, 0.001),
        ArgSpec("rho", PROBABILITY, 0.9),
        ArgSpec("momentum", Float(0.0, 1.0), 0.0),
        ArgSpec("epsilon", RATE, 1e-7),
        ArgSpec("centered", Bool(), False),
        WEIGHT_DECAY,
    ),
    "Adagrad": (
        ArgSpec("learning_rate", RATE, 0.001),
        ArgSpec("initial_accumulator_value", RATE, 0.1),
        ArgSpec("epsilon", RATE, 1e-7),
        WEIGHT_DECAY,
    ),
}

METRICS = (
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "mae",
    "mse",
    "mean_absolute_error",
    "mean_squared_error",
)
CROSS_ENTROPIES = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")


SETTINGS = (
    ArgSpec("data", Anything(), None),  # validated by build_data_source
    ArgSpec("epochs", Int(low=1), 1),
    ArgSpec("batch_size", Int(low=1), 32),
    ArgSpec("shuffle", Bool(), True),
    ArgSpec("validation_split", Float(0.0, 1.0, high_open=True), 0.0),
    ArgSpec("test_split", Float(0.0, 1.0, high_open=True), 0.0),
    ArgSpec("seed", Int(low=0, high=2**32 - 1), 0),
    ArgSpec("early_stopping", Anything(), None),  # validated by early_stopping()
)
EARLY_STOPPING = (
    ArgSpec("monitor", Enum(("loss", "val_loss")), "val_loss"),  # widened with the metrics below
    ArgSpec("patience", Int(low=0), 0),
    ArgSpec("min_delta", RATE, 0.0),
    ArgSpec("mode", Enum(("auto", "min", "max")), "auto"),
    ArgSpec("restore_best_weights", Bool(), False),
)


def _as_call(expr: s.Expr) -> CallValue | None:
    value = evaluate(expr, {})
    if isinstance(value, Symbol):
        return CallValue(value.name, (), (), value.span, value.span)
    if isinstance(value, str):
        return CallValue(value, (), (), expr.span, expr.span)
    return value if isinstance(value, CallValue) else None


def build_loss(section: s.Section) -> Configured:
    call = _as_call(section.body)
    if call is None:
        raise DlArgumentError("loss must be a name or a call, like categorical_crossentropy", section.body.span)
    by_name = {key: key for key in LOSSES}
    for key, (cls, aliases, _) in LOSSES.items():
        by_name[cls] = key
        by_name.update({alias: key for alias in aliases})
    if call.callee not in by_name:
        raise DlNameError(f"unknown loss '{call.callee}'", call.callee_span, did_you_mean(call.callee, by_name))
    name = by_name[call.callee]
    return Configured(name, bind(LOSSES[name][2], call, call.callee), call.span)


def build_optimizer(section: s.Section) -> Configured:
    call = _as_call(section.body)
    if call is None:
        raise DlArgumentError("optimizer must be a name or a call, like Adam(learning_rate=0.001)", section.body.span)
    by_name = {key: key for key in OPTIMIZERS} | {key.lower(): key for key in OPTIMIZERS}
    if call.callee not in by_name:
        hint = did_you_mean(call.callee, OPTIMIZERS)
        raise DlNameError(f"unknown optimizer '{call.callee}'", call.callee_span, hint)
    name = by_name[call.callee]
    return Configured(name, bind(OPTIMIZERS[name], call, name), call.span)


def build_metrics(section: s.Section) -> tuple[str, ...]:
    value = evaluate(section.body, {})
    if not isinstance(value, list):
        raise DlArgumentError(f"metrics must be a list like [accuracy], got {describe(value)}", section.body.span)
    items = section.body.items
    names = []
    for item, expr in zip(value, items, strict=True):
        names.append(Enum(METRICS).convert(item, expr.span, "metric"))
    return tuple(names)


def early_stopping(value: object, span: Span, metrics: tuple[str, ...]) -> EarlyStopping:
    if not isinstance(value, CallValue) or value.callee != "EarlyStopping":
        raise DlArgumentError("early_stopping must be EarlyStopping(monitor=..., patience=...)", span)
    monitors = ("loss", "val_loss", *metrics, *(f"val_{m}" for m in metrics))
    signature = (ArgSpec("monitor", Enum(monitors), "val_loss"), *EARLY_STOPPING[1:])
    return EarlyStopping(**bind(signature, value, "EarlyStopping"))


def build_settings(section: s.Section | None, metrics: tuple[str, ...]) -> TrainSettings:
    found: dict[str, object] = {}
    spans: dict[str, Span] = {}
    known = [a.name for a in SETTINGS]
    for setting in section.body if section else ():
        if setting.name not in known:
            raise DlNameError(
                f"unknown train setting '{setting.name}'", setting.span, did_you_mean(setting.name, known)
            )
        if setting.name in found:
            raise DlArgumentError(f"train setting '{setting.name}' is set twice", setting.span)
        value = evaluate(setting.value, {})
        spans[setting.name] = setting.value.span
        if setting.name == "data":
            found["data"] = build_data_source(value, setting.value.span)
        elif setting.name == "early_stopping":
            found["early_stopping"] = early_stopping(value, setting.value.span, metrics)
        else:
            spec = next(a for a in SETTINGS if a.name == setting.name)
            found[setting.name] = spec.kind.convert(value, setting.value.span, f"train setting '{setting.name}'")
    settings = TrainSettings(**{a.name: found.get(a.name, a.default) for a in SETTINGS})
    if settings.validation_split + settings.test_split >= 1.0:
        raise DlArgumentError("validation_split + test_split leave no training data", spans.get("test_split"))
    stopping = settings.early_stopping
    if stopping and stopping.monitor.startswith("val_") and settings.validation_split == 0:
        raise DlArgumentError(
            f"early stopping monitors {stopping.monitor} but there is no validation data",
            spans["early_stopping"],
            "set validation_split, or monitor=loss",
        )
    return settings


def build_training(inputs: tuple[Value, ...], output: Value, sections: dict[str, s.Section]) -> Training:
    """The model's training sections, validated and checked against its inputs and output."""
    loss = build_loss(sections["loss"]) if "loss" in sections else None
    optimizer = build_optimizer(sections["optimizer"]) if "optimizer" in sections else None
    metrics = build_metrics(sections["metrics"]) if "metrics" in sections else ()
    settings = build_settings(sections.get("train"), metrics)
    if loss is not None:
        check_loss_fits(output, loss)
    if settings.data is not None:
        check_data_fits(settings.data, inputs, output, loss)
    return Training(loss, optimizer, metrics, settings)


def check_loss_fits(output: Value, loss: Configured) -> None:
    shape = output.shape
    if loss.name in CROSS_ENTROPIES and (not shape or shape[-1] is None):
        raise DlArgumentError(f"{loss.name} needs an output with a known class axis, got {shape}", loss.span)
    if loss.name == "categorical_crossentropy" and shape[-1] == 1:
        raise DlArgumentError(
            "categorical_crossentropy on a single output unit is always 0",
            loss.span,
            "use binary_crossentropy with a sigmoid output",
        )


def fused_logits(graph: Graph) -> str | None:
    """'softmax' or 'sigmoid' when the loss is computed from the last layer's logits (LANGUAGE.md)."""
    loss = graph.training.loss
    if loss is None or loss.args.get("from_logits"):
        return None
    last = graph.nodes[-1]
    activation = last.spec.output_activation(last.args)
    if last.op == "Softmax" and last.args["axis"] not in (-1, len(last.output.shape)):
        return None
    wanted = {"binary_crossentropy": "sigmoid"}.get(loss.name, "softmax")
    if loss.name in CROSS_ENTROPIES and activation == wanted:
        return wanted
    return None


def label_kind(loss: Configured | None) -> str:
    """How targets are given for this loss: class ids ("sparse"), one-hot rows ("onehot") or values ("regression")."""
    if loss is None:
        return "regression"
    return {"sparse_categorical_crossentropy": "sparse", "categorical_crossentropy": "onehot"}.get(
        loss.name, "regression"
    )


def metric_kind(metric: str, units: int | None, labels: str) -> str:
    """What a metric name computes for this output and these targets, as Keras resolves `accuracy`:
    one of mean_absolute_error, mean_squared_error, binary_accuracy, sparse_categorical_accuracy and
    categorical_accuracy."""
    if metric in ("mae", "mean_absolute_error"):
        return "mean_absolute_error"
    if metric in ("mse", "mean_squared_error"):
        return "mean_squared_error"
    if metric == "binary_accuracy" or (metric == "accuracy" and units == 1):
        return "binary_accuracy"
    if labels == "sparse" and metric in ("accuracy", "sparse_categorical_accuracy"):
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


METRIC_KINDS = (
    "mean_absolute_error",
    "mean_squared_error",
    "binary_accuracy",
    "sparse_categorical_accuracy",
    "categorical_accuracy",
)
