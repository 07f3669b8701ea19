"""Loss, optimizer, metrics and `train { }` settings, validated against Keras' names and defaults."""

from __future__ import annotations

from . import syntax as s
from .argkinds import Anything, ArgSpec, Bool, Enum, Float, Int, Kind, Text, bind
from .data import build_data_source, check_data_fits
from .errors import DlArgumentError, DlNameError, Span, did_you_mean, unknown_name
from .ir import Graph, Value
from .keras_names import LOSSES as KERAS_LOSSES
from .keras_names import METRICS as KERAS_METRICS
from .keras_names import OPTIMIZERS as KERAS_OPTIMIZERS
from .training_types import (
    Configured,
    EarlyStopping,
    ModelCheckpoint,
    ReduceLROnPlateau,
    Training,
    TrainSettings,
)
from .values import CallValue, Symbol, describe, evaluate

PROBABILITY = Float(0.0, 1.0)
RATE = Float(low=0.0)


class Number(Kind):
    """An int or a float, kept as written (a step count stays an integer in the generated programs)."""

    label = "a number"

    def __init__(self, low: float | None = None, above: bool = False):
        self.low, self.above = low, above
        if low is not None:
            self.label = f"a number {'>' if above else '>='} {low:g}"

    def convert(self, value, span, where):
        if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
            self.fail(value, span, where)
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            self.fail(value, span, where)
        return value


class Numbers(Kind):
    """A non-empty list of numbers (a schedule's boundaries or values)."""

    def __init__(self, item: Kind):
        self.item = item
        self.label = f"a list of numbers like [100, 200] (each {item.label})"

    def convert(self, value, span, where):
        if not isinstance(value, list) or not value:
            self.fail(value, span, where)
        return [self.item.convert(item, span, f"each of {where}") for item in value]


class Verbosity(Kind):
    label = "0, 1 or a boolean (it has no effect here)"

    def convert(self, value, span, where):
        if not isinstance(value, int) or (not isinstance(value, bool) and value < 0):
            self.fail(value, span, where)
        return value


# Keras' learning-rate schedules (keras.optimizers.schedules), each stepped per batch at the optimizer's
# `iterations`: name -> its signature, in Keras' order and with Keras' defaults
STEPS = Number(low=0, above=True)
SCHEDULES: dict[str, tuple[ArgSpec, ...]] = {
    "ExponentialDecay": (
        ArgSpec("initial_learning_rate", RATE),
        ArgSpec("decay_steps", STEPS),
        ArgSpec("decay_rate", RATE),
        ArgSpec("staircase", Bool(), False),
        ArgSpec("name", Text(), "ExponentialDecay"),
    ),
    "PiecewiseConstantDecay": (
        ArgSpec("boundaries", Numbers(Number())),
        ArgSpec("values", Numbers(RATE)),
        ArgSpec("name", Text(), "PiecewiseConstant"),
    ),
    "PolynomialDecay": (
        ArgSpec("initial_learning_rate", RATE),
        ArgSpec("decay_steps", STEPS),
        ArgSpec("end_learning_rate", RATE, 0.0001),
        ArgSpec("power", Float(), 1.0),
        ArgSpec("cycle", Bool(), False),
        ArgSpec("name", Text(), "PolynomialDecay"),
    ),
    "InverseTimeDecay": (
        ArgSpec("initial_learning_rate", RATE),
        ArgSpec("decay_steps", STEPS),
        ArgSpec("decay_rate", RATE),
        ArgSpec("staircase", Bool(), False),
        ArgSpec("name", Text(), "InverseTimeDecay"),
    ),
    "CosineDecay": (
        ArgSpec("initial_learning_rate", RATE),
        ArgSpec("decay_steps", STEPS),
        ArgSpec("alpha", Float(), 0.0),
        ArgSpec("name", Text(), "CosineDecay"),
        ArgSpec("warmup_target", RATE, None),
        ArgSpec("warmup_steps", Number(low=0), 0),
    ),
}


def build_schedule(call: CallValue) -> Configured:
    """A learning-rate schedule called with its arguments, checked as Keras checks it."""
    if call.callee not in SCHEDULES:
        hint = did_you_mean(call.callee, SCHEDULES) or f"the schedules are {', '.join(SCHEDULES)}"
        raise DlNameError(f"unknown learning-rate schedule '{call.callee}'", call.callee_span, hint)
    args = bind(SCHEDULES[call.callee], call, call.callee)
    if call.callee == "PiecewiseConstantDecay":
        boundaries, values = args["boundaries"], args["values"]
        if len(boundaries) != len(values) - 1:
            raise DlArgumentError(
                f"PiecewiseConstantDecay needs one value more than boundaries: {len(boundaries)} boundaries, "
                f"{len(values)} values",
                call.span,
                "values[0] holds up to boundaries[0], values[i] up to boundaries[i], the last value after",
            )
        if any(b >= a for b, a in zip(boundaries, boundaries[1:], strict=False)):
            raise DlArgumentError(
                f"PiecewiseConstantDecay's boundaries must increase, got {boundaries}",
                argument_span(call, "boundaries", SCHEDULES[call.callee]),
            )
    return Configured(call.callee, args, call.span)


class LearningRate(Kind):
    """An optimizer's learning rate: a number >= 0, or a schedule called with its arguments."""

    label = "a number >= 0, or a schedule like ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96)"

    def convert(self, value, span, where):
        if isinstance(value, Symbol) and value.name in SCHEDULES:
            value = CallValue(value.name, (), (), span, span)  # the schedule's required arguments are named
        if isinstance(value, CallValue):
            return build_schedule(value)
        if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
            self.fail(value, span, where)
        return float(value)


def learning_rate(default: float) -> ArgSpec:
    return ArgSpec("learning_rate", LearningRate(), default)


def argument_span(call: CallValue, name: str, signature: tuple[ArgSpec, ...] = ()) -> Span:
    """Where `call` gives argument `name` (by keyword, or by position in `signature`); the call's span without."""
    for keyword, _, keyword_span in call.keyword:
        if keyword == name:
            return keyword_span
    names = [spec.name for spec in signature]
    if name in names and names.index(name) < len(call.positional):
        return call.positional[names.index(name)].span
    return call.span


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
        learning_rate(0.01),
        ArgSpec("momentum", Float(0.0, 1.0), 0.0),
        ArgSpec("nesterov", Bool(), False),
        WEIGHT_DECAY,
    ),
    "Adam": (
        learning_rate(0.001),
        ArgSpec("beta_1", PROBABILITY, 0.9),
        ArgSpec("beta_2", PROBABILITY, 0.999),
        ArgSpec("epsilon", RATE, 1e-7),
        WEIGHT_DECAY,
    ),
    "AdamW": (
        learning_rate(0.001),
        ArgSpec("weight_decay", RATE, 0.004),
        ArgSpec("beta_1", PROBABILITY, 0.9),
        ArgSpec("beta_2", PROBABILITY, 0.999),
        ArgSpec("epsilon", RATE, 1e-7),
    ),
    "RMSprop": (
        learning_rate(0.001),
        ArgSpec("rho", PROBABILITY, 0.9),
        ArgSpec("momentum", Float(0.0, 1.0), 0.0),
        ArgSpec("epsilon", RATE, 1e-7),
        ArgSpec("centered", Bool(), False),
        WEIGHT_DECAY,
    ),
    "Adagrad": (
        learning_rate(0.001),
        ArgSpec("initial_accumulator_value", RATE, 0.1),
        ArgSpec("epsilon", RATE, 1e-7),
        WEIGHT_DECAY,
    ),
    "Adadelta": (
        learning_rate(0.001),
        ArgSpec("rho", PROBABILITY, 0.95),
        ArgSpec("epsilon", RATE, 1e-7),
        WEIGHT_DECAY,
    ),
    "Nadam": (
        learning_rate(0.001),
        ArgSpec("beta_1", PROBABILITY, 0.9),
        ArgSpec("beta_2", PROBABILITY, 0.999),
        ArgSpec("epsilon", RATE, 1e-7),
        WEIGHT_DECAY,
    ),
    "Adamax": (
        learning_rate(0.001),
        ArgSpec("beta_1", PROBABILITY, 0.9),
        ArgSpec("beta_2", PROBABILITY, 0.999),
        ArgSpec("epsilon", RATE, 1e-7),
        WEIGHT_DECAY,
    ),
    "Lion": (
        learning_rate(0.001),
        ArgSpec("beta_1", PROBABILITY, 0.9),  # Keras: in (0, 1], checked in build_optimizer
        ArgSpec("beta_2", PROBABILITY, 0.99),
        WEIGHT_DECAY,
    ),
}
# every optimizer's gradient clipping, after its own arguments (Keras' base optimizer arguments; at most one)
CLIPPING = (
    ArgSpec("clipnorm", RATE, None),
    ArgSpec("clipvalue", RATE, None),
    ArgSpec("global_clipnorm", RATE, None),
)


def optimizer_signature(name: str) -> tuple[ArgSpec, ...]:
    """Everything optimizer `name` takes: its own arguments, then the clipping every optimizer takes."""
    return (*OPTIMIZERS[name], *CLIPPING)


# metric -> (Keras' class, or None where Keras resolves the name itself; its arguments in Keras' order). A bare
# name is the call with Keras' defaults; `name=` sets the history key (Keras' own name by default).
METRIC_NAME = ArgSpec("name", Text(), None)
KTH = ArgSpec("k", Int(low=1), 5)
CONFUSION = (
    ArgSpec("thresholds", PROBABILITY, None),  # None: 0.5, or every top_k prediction with top_k
    ArgSpec("top_k", Int(low=1), None),
    ArgSpec("class_id", Int(low=0), None),
    METRIC_NAME,
)
METRIC_CALLS: dict[str, tuple[str | None, tuple[ArgSpec, ...]]] = {
    "accuracy": (None, (METRIC_NAME,)),
    "binary_accuracy": ("BinaryAccuracy", (METRIC_NAME, ArgSpec("threshold", Float(), 0.5))),
    "categorical_accuracy": ("CategoricalAccuracy", (METRIC_NAME,)),
    "sparse_categorical_accuracy": ("SparseCategoricalAccuracy", (METRIC_NAME,)),
    "mae": (None, (METRIC_NAME,)),
    "mse": (None, (METRIC_NAME,)),
    "mean_absolute_error": ("MeanAbsoluteError", (METRIC_NAME,)),
    "mean_squared_error": ("MeanSquaredError", (METRIC_NAME,)),
    "top_k_categorical_accuracy": ("TopKCategoricalAccuracy", (KTH, METRIC_NAME)),
    "sparse_top_k_categorical_accuracy": ("SparseTopKCategoricalAccuracy", (KTH, METRIC_NAME)),
    "precision": ("Precision", CONFUSION),
    "recall": ("Recall", CONFUSION),
}
METRICS = tuple(METRIC_CALLS)
METRIC_SPELLINGS = {name: name for name in METRICS} | {
    keras_class: name for name, (keras_class, _) in METRIC_CALLS.items() if keras_class
}
MINIMIZED_METRICS = ("mae", "mse", "mean_absolute_error", "mean_squared_error")  # the others are maximized
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
    ArgSpec("reduce_lr_on_plateau", Anything(), None),  # validated by reduce_lr_on_plateau()
    ArgSpec("checkpoint", Anything(), None),  # validated by model_checkpoint()
)
MODES = Enum(("auto", "min", "max"))
EARLY_STOPPING = (
    ArgSpec("monitor", Enum(("loss", "val_loss")), "val_loss"),  # widened with the metrics below
    ArgSpec("patience", Int(low=0), 0),
    ArgSpec("min_delta", RATE, 0.0),
    ArgSpec("mode", Enum(("auto", "min", "max")), "auto"),
    ArgSpec("restore_best_weights", Bool(), False),
)
# Keras' ReduceLROnPlateau and ModelCheckpoint, `monitor` widened with the metrics as for EarlyStopping
REDUCE_LR_ON_PLATEAU = (
    ArgSpec("monitor", Enum(("loss", "val_loss")), "val_loss"),
    ArgSpec("factor", RATE, 0.1),
    ArgSpec("patience", Int(low=0), 10),
    ArgSpec("verbose", Verbosity(), 0),
    ArgSpec("mode", MODES, "auto"),
    ArgSpec("min_delta", RATE, 1e-4),
    ArgSpec("cooldown", Int(low=0), 0),
    ArgSpec("min_lr", RATE, 0.0),
)
MODEL_CHECKPOINT = (
    ArgSpec("filepath", Anything(), None),  # refused: the weights go to the run folder
    ArgSpec("monitor", Enum(("loss", "val_loss")), "val_loss"),
    ArgSpec("verbose", Verbosity(), 0),
    ArgSpec("save_best_only", Bool(), False),
    ArgSpec("save_weights_only", Bool(), False),
    ArgSpec("mode", MODES, "auto"),
    ArgSpec("save_freq", Anything(), "epoch"),  # only "epoch"
    ArgSpec("initial_value_threshold", Float(), None),
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
        raise unknown_name("loss", call.callee, call.callee_span, by_name, KERAS_LOSSES, listed=True)
    name = by_name[call.callee]
    return Configured(name, bind(LOSSES[name][2], call, call.callee), call.span)


def build_optimizer(section: s.Section) -> Configured:
    call = _as_call(section.body)
    if call is None:
        raise DlArgumentError("optimizer must be a name or a call, like Adam(learning_rate=0.001)", section.body.span)
    by_name = {key: key for key in OPTIMIZERS} | {key.lower(): key for key in OPTIMIZERS}
    if call.callee not in by_name:
        raise unknown_name("optimizer", call.callee, call.callee_span, OPTIMIZERS, KERAS_OPTIMIZERS, listed=True)
    name = by_name[call.callee]
    signature = optimizer_signature(name)
    args = bind(signature, call, name)
    clipping = [spec.name for spec in CLIPPING if args[spec.name] is not None]
    if len(clipping) > 1:
        raise DlArgumentError(
            f"{name} clips gradients one way only, as in Keras: {' and '.join(clipping)} are both set",
            argument_span(call, clipping[1], signature),
            "keep one of clipnorm (each weight's gradient), global_clipnorm (all together) and clipvalue",
        )
    if name == "Lion" and not args["beta_1"] > 0:
        raise DlArgumentError(
            "Lion's beta_1 must be in (0, 1]: at 0 it is sign descent", argument_span(call, "beta_1", signature)
        )
    # clipping appears where it is set (the IR printout of a model without it stays as it was)
    return Configured(
        name, {k: v for k, v in args.items() if v is not None or k not in {c.name for c in CLIPPING}}, call.span
    )


def build_metrics(section: s.Section) -> tuple[str, ...]:
    """The metrics' history keys: Keras' names, made unique as Keras makes them (`precision_1`)."""
    return metric_calls(section)[0]


def metric_calls(section: s.Section) -> tuple[tuple[str, ...], tuple[Configured, ...]]:
    """The metrics: their history keys and each one's canonical name and arguments (`name` the key)."""
    value = evaluate(section.body, {})
    if not isinstance(value, list):
        raise DlArgumentError(f"metrics must be a list like [accuracy], got {describe(value)}", section.body.span)
    names: list[str] = []
    specs: list[Configured] = []
    for item, expr in zip(value, section.body.items, strict=True):
        call = item if isinstance(item, CallValue) else None
        if isinstance(item, Symbol | str):
            name = item.name if isinstance(item, Symbol) else item
            call = CallValue(name, (), (), expr.span, expr.span)
        if call is None:
            raise DlArgumentError(f"a metric is a name or a call, got {describe(item)}", expr.span)
        if call.callee not in METRIC_SPELLINGS:
            raise unknown_name("metric", call.callee, call.callee_span, METRIC_SPELLINGS, KERAS_METRICS, listed=True)
        metric = METRIC_SPELLINGS[call.callee]
        args = bind(METRIC_CALLS[metric][1], call, call.callee)
        key = args["name"] or metric
        if key in ("loss", "learning_rate") or key.startswith("val_") or not key:
            raise DlArgumentError(
                f"a metric cannot be named '{key}': the history has that key", argument_span(call, "name")
            )
        unique, count = key, 0
        while unique in names:
            count += 1
            unique = f"{key}_{count}"
        names.append(unique)
        specs.append(Configured(metric, args | {"name": unique}, call.span))
    return tuple(names), tuple(specs)


def monitored(signature: tuple[ArgSpec, ...], metrics: tuple[str, ...]) -> tuple[ArgSpec, ...]:
    """A callback's signature with `monitor` taking the loss and every metric, on training or validation data."""
    monitors = ("loss", "val_loss", *metrics, *(f"val_{m}" for m in metrics))
    return tuple(ArgSpec("monitor", Enum(monitors), "val_loss") if a.name == "monitor" else a for a in signature)


def early_stopping(value: object, span: Span, metrics: tuple[str, ...]) -> EarlyStopping:
    if not isinstance(value, CallValue) or value.callee != "EarlyStopping":
        raise DlArgumentError("early_stopping must be EarlyStopping(monitor=..., patience=...)", span)
    return EarlyStopping(**bind(monitored(EARLY_STOPPING, metrics), value, "EarlyStopping"))


def reduce_lr_on_plateau(value: object, span: Span, metrics: tuple[str, ...]) -> ReduceLROnPlateau:
    if not isinstance(value, CallValue) or value.callee != "ReduceLROnPlateau":
        raise DlArgumentError(
            "reduce_lr_on_plateau must be ReduceLROnPlateau(monitor=..., factor=..., patience=...)", span
        )
    signature = monitored(REDUCE_LR_ON_PLATEAU, metrics)
    args = bind(signature, value, "ReduceLROnPlateau")
    if args["factor"] >= 1.0:
        raise DlArgumentError(
            f"ReduceLROnPlateau's factor must be below 1.0 (it multiplies the learning rate), got {args['factor']}",
            argument_span(value, "factor", signature),
        )
    return ReduceLROnPlateau(**args, span=span)


def model_checkpoint(value: object, span: Span, metrics: tuple[str, ...]) -> ModelCheckpoint:
    if not isinstance(value, CallValue) or value.callee != "ModelCheckpoint":
        raise DlArgumentError("checkpoint must be ModelCheckpoint(monitor=..., save_best_only=true)", span)
    signature = monitored(MODEL_CHECKPOINT, metrics)
    args = bind(signature, value, "ModelCheckpoint")
    if args.pop("filepath") is not None:
        raise DlArgumentError(
            "ModelCheckpoint takes no file path here",
            argument_span(value, "filepath", signature),
            "the best weights go to OUT/best.safetensors (every epoch's, without save_best_only, to "
            "OUT/epoch_N.safetensors), canonical; OUT is the run's --out folder",
        )
    if args["save_freq"] != "epoch":
        raise DlArgumentError(
            f"ModelCheckpoint saves once per epoch here, got save_freq={describe(args['save_freq'])}",
            argument_span(value, "save_freq", signature),
            'leave save_freq out, or write save_freq="epoch"',
        )
    return ModelCheckpoint(**args)


def build_settings(section: s.Section | None, metrics: tuple[str, ...]) -> TrainSettings:
    found: dict[str, object] = {}
    spans: dict[str, Span] = {}
    known = [a.name for a in SETTINGS]
    for setting in section.body if section else ():
        if setting.name not in known:
            raise unknown_name("train setting", setting.name, setting.span, known, listed=True)
        if setting.name in found:
            raise DlArgumentError(f"train setting '{setting.name}' is set twice", setting.span)
        value = evaluate(setting.value, {})
        spans[setting.name] = setting.value.span
        if setting.name == "data":
            found["data"] = build_data_source(value, setting.value.span)
        elif setting.name in CALLBACKS:
            found[setting.name] = CALLBACKS[setting.name](value, setting.value.span, metrics)
        else:
            spec = next(a for a in SETTINGS if a.name == setting.name)
            found[setting.name] = spec.kind.convert(value, setting.value.span, f"train setting '{setting.name}'")
    settings = TrainSettings(**{a.name: found.get(a.name, a.default) for a in SETTINGS})
    if settings.validation_split + settings.test_split >= 1.0:
        raise DlArgumentError("validation_split + test_split leave no training data", spans.get("test_split"))
    for name, what in (
        ("early_stopping", "early stopping"),
        ("reduce_lr_on_plateau", "ReduceLROnPlateau"),
        ("checkpoint", "ModelCheckpoint"),
    ):
        callback = getattr(settings, name)
        if callback and callback.monitor.startswith("val_") and settings.validation_split == 0:
            raise DlArgumentError(
                f"{what} monitors {callback.monitor} but there is no validation data",
                spans[name],
                "set validation_split, or monitor=loss",
            )
    return settings


CALLBACKS = {
    "early_stopping": early_stopping,
    "reduce_lr_on_plateau": reduce_lr_on_plateau,
    "checkpoint": model_checkpoint,
}


def build_training(inputs: tuple[Value, ...], output: Value, sections: dict[str, s.Section]) -> Training:
    """The model's training sections, validated and checked against its inputs and output."""
    loss = build_loss(sections["loss"]) if "loss" in sections else None
    optimizer = build_optimizer(sections["optimizer"]) if "optimizer" in sections else None
    metrics, specs = metric_calls(sections["metrics"]) if "metrics" in sections else ((), ())
    settings = build_settings(sections.get("train"), metrics)
    if loss is not None:
        check_loss_fits(output, loss)
    check_metrics_fit(output, loss, specs)
    plateau = settings.reduce_lr_on_plateau
    if plateau and optimizer and isinstance(optimizer.args["learning_rate"], Configured):
        raise DlArgumentError(
            f"ReduceLROnPlateau cannot change the learning rate of {optimizer.args['learning_rate'].name}: "
            "a schedule sets it every step (Keras refuses this too)",
            plateau.span,
            "give the optimizer a constant learning_rate, or drop reduce_lr_on_plateau",
        )
    if settings.data is not None:
        check_data_fits(settings.data, inputs, output, loss)
    return Training(loss, optimizer, metrics, settings, specs)


def check_metrics_fit(output: Value, loss: Configured | None, specs: tuple[Configured, ...]) -> None:
    """Refuse the metrics Keras could not compute on this output and these targets."""
    units = output.shape[-1] if output.shape else None
    labels = label_kind(loss)
    for spec in specs:
        keras_class = METRIC_CALLS[spec.name][0]
        if spec.name in ("precision", "recall"):
            if labels == "sparse" and units != 1:
                raise DlArgumentError(
                    f"{keras_class} compares each output with its target, and sparse_categorical_crossentropy's "
                    f"targets are class ids, not one value per output",
                    spec.span,
                    "use categorical_crossentropy (one-hot targets), or class_id= with one-hot targets",
                )
            for argument in ("class_id", "top_k"):
                limit = spec.args[argument]
                if limit is not None and units is not None and limit >= units + (argument == "top_k"):
                    raise DlArgumentError(
                        f"{keras_class}'s {argument} is {limit}, but the output has {units} values",
                        spec.span,
                    )
        if spec.name in ("top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"):
            if units is None:
                raise DlArgumentError(f"{spec.name} needs an output with a known class axis", spec.span)
            sparse = spec.name.startswith("sparse")
            if labels == ("onehot" if sparse else "sparse"):
                other = spec.name.removeprefix("sparse_") if sparse else f"sparse_{spec.name}"
                raise DlArgumentError(
                    f"{spec.name} wants {'class ids' if sparse else 'one-hot rows'} as targets, and "
                    f"{loss.name} gives {'one-hot rows' if sparse else 'class ids'}",
                    spec.span,
                    f"use {other}",
                )


def monitor_mode(monitor: str, mode: str, training: Training) -> str:
    """ "min" or "max": a callback's mode, with "auto" resolved as Keras resolves it (the loss and the error
    metrics go down, the accuracies, precision and recall up)."""
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    if name == "loss":
        return "min"
    metric = dict(zip(training.metrics, training.metric_specs, strict=False)).get(name)
    return "min" if metric is not None and metric.name in MINIMIZED_METRICS else "max"


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
    """'softmax' or 'sigmoid' when the loss is computed from the last layer's logits (LANGUAGE.md): the activation
    the model ends in, which the program applies after the loss's logits formula has been taken."""
    loss = graph.training.loss
    if loss is None or loss.args.get("from_logits"):
        return None
    last = graph.nodes[-1]
    activation = last.spec.output_activation(last.args)
    if last.op == "Softmax" and last.args["axis"] not in (-1, len(last.output.shape)):
        return None
    # Keras' sigmoid and softmax keep their input beside their output, and its cross-entropies read that instead
    # of the probabilities, whichever of the two it was: a softmax into binary_crossentropy is scored as sigmoid
    # logits (measured: a loss 0.26 apart when the PyTorch program used the probabilities)
    if loss.name in CROSS_ENTROPIES and activation in ("softmax", "sigmoid"):
        return activation
    return None


def label_kind(loss: Configured | None) -> str:
    """How targets are given for this loss: class ids ("sparse"), one-hot rows ("onehot") or values ("regression")."""
    if loss is None:
        return "regression"
    return {"sparse_categorical_crossentropy": "sparse", "categorical_crossentropy": "onehot"}.get(
        loss.name, "regression"
    )


def metric_kind(metric: str, units: int | None, labels: str) -> str:
    """What a metric name computes for this output and these targets, as Keras resolves `accuracy`: one of
    METRIC_KINDS."""
    if metric in ("top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "precision", "recall"):
        return metric
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
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "precision",
    "recall",
)


def configured_metrics(training: Training) -> tuple[Configured, ...]:
    """Each metric's canonical name and arguments, `name` its history key (a Training built without the calls
    has the names only: each is then the call with Keras' defaults)."""
    if training.metric_specs:
        return training.metric_specs
    return tuple(
        Configured(name, {spec.name: spec.default for spec in METRIC_CALLS[name][1]} | {"name": name})
        for name in training.metrics
    )
