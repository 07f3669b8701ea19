"""`train { data = ... }` sources: validated at check time, and fitted against the model's inputs and output."""

from __future__ import annotations

import math
from pathlib import Path

from .argkinds import Anything, ArgSpec, Enum, Text, bind
from .errors import DlArgumentError, DlDataError, DlNameError, Span, did_you_mean, listing
from .ir import Value, show_shape
from .training_types import Configured, DataSource
from .values import CallValue, describe

# scikit-learn's bundled sets: features per sample, and their target_names in class-id order
DATASETS = {
    "digits": (64, tuple(str(k) for k in range(10))),
    "iris": (4, ("setosa", "versicolor", "virginica")),
    "wine": (13, ("class_0", "class_1", "class_2")),
    "breast_cancer": (30, ("malignant", "benign")),
}
MAX_CSV_BYTES = 200 * 2**20


SIGNATURES = {
    "dataset": (ArgSpec("name", Enum(tuple(DATASETS))),),
    "npz": (ArgSpec("path", Text()), ArgSpec("x", Anything(), "x"), ArgSpec("y", Text(), "y")),
    "csv": (ArgSpec("path", Text()), ArgSpec("target", Text())),
}


def _resolve(written: str, span: Span) -> Path:
    base = Path(span.source.path).resolve().parent if span.source.path != "<string>" else Path.cwd()
    try:
        path = (base / written).resolve()
        found = path.is_file()
    except (OSError, ValueError) as error:
        raise DlDataError(f"data file '{written}' cannot be opened: {error}", span) from None
    if not found:
        raise DlDataError(f"data file '{written}' not found (looked in {path.parent})", span)
    return path


def _npz_source(args: dict, value: CallValue) -> DataSource:
    from .datafiles import DataFileError, read_npz_arrays

    span = next((v.span for v in value.positional), value.span)
    path = _resolve(args["path"], span)
    keys = args["x"]
    keys = tuple(keys) if isinstance(keys, list) else (keys,)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise DlArgumentError(f"npz x must be a key or a list of keys, got {describe(args['x'])}", value.span)
    try:
        *xs, y = read_npz_arrays(str(path), [*keys, args["y"]], repr(args["path"]))
    except DataFileError as fault:
        if fault.missing is None:
            raise DlDataError(str(fault), span) from None
        near = did_you_mean(fault.missing, [name for name in fault.columns if len(name) <= 64])
        hint = near or f"it holds: {listing(fault.columns)}"
        raise DlDataError(str(fault), value.span, hint) from None
    classes = label_problem = None
    if y.ndim == 1 or y.shape[1:] == (1,):
        where = f"{args['path']!r}, array '{args['y']}'"
        classes, label_problem = _class_ids(y.reshape(-1), lambda i: f"{where}: sample {i}")
    elif y.ndim == 2:
        classes = int(y.shape[1])  # one-hot rows (or one value per output unit)
    return DataSource(
        "npz",
        path=str(path),
        written_path=args["path"],
        x=keys,
        y=args["y"],
        feature_counts=tuple(math.prod(x.shape[1:]) for x in xs),
        classes=classes,
        target_shape=tuple(int(d) for d in y.shape[1:]),
        label_problem=label_problem,
        span=value.span,
    )


def _class_ids(numbers, name) -> tuple[int | None, str | None]:
    """(class count, None) when `numbers` are class ids, whole numbers from 0 that are their own ids; else
    (None, the first one that is not, named by `name(index)`)."""
    import numpy as np

    numbers = np.asarray(numbers)
    if numbers.dtype.kind == "b" or not numbers.size:
        return (2 if numbers.size else 0), None
    bad = np.flatnonzero((numbers < 0) | (numbers != np.floor(numbers)))
    if bad.size:
        return None, f"{name(int(bad[0]))} is {numbers[bad[0]]:g}, not a class id (a whole number from 0)"
    return int(numbers.max()) + 1, None


def _csv_source(args: dict, value: CallValue) -> DataSource:
    from .datafiles import DataFileError, read_csv_table

    span = next((v.span for v in value.positional), value.span)
    path = _resolve(args["path"], span)
    if path.stat().st_size > MAX_CSV_BYTES:
        raise DlDataError(f"'{args['path']}' is larger than {MAX_CSV_BYTES // 2**20} MiB", span)
    try:
        features, targets, lines = read_csv_table(str(path), args["target"], repr(args["path"]))
    except DataFileError as fault:
        if fault.missing is None:
            raise DlDataError(str(fault), span) from None
        # the columns are named only when the first line reads as a header of names: never a line of a file
        # that is not a table (an environment, a password file) that the spec happens to point at
        columns = fault.columns
        hint = None if columns is None else did_you_mean(args["target"], columns) or f"its columns: {listing(columns)}"
        raise DlNameError(str(fault), value.span, hint or "its first line is not a header of column names") from None
    if isinstance(targets, list):
        # text targets become class ids in sorted order, as the programs number them
        names = tuple(sorted(set(targets)))
        classes, label_problem = len(names), None
    else:
        names = None
        classes, label_problem = _class_ids(targets, lambda i: f"{args['path']!r}, row {lines[i]}: the target")
    return DataSource(
        "csv",
        path=str(path),
        written_path=args["path"],
        target=args["target"],
        feature_counts=(features.shape[1],),
        classes=classes,
        class_names=names,
        label_problem=label_problem,
        span=value.span,
    )


def build_data_source(value: object, span: Span) -> DataSource:
    if not isinstance(value, CallValue):
        raise DlArgumentError(
            f"data must be dataset(...), npz(...) or csv(...), got {describe(value)}",
            span,
            'for example: data = dataset("digits")',
        )
    if value.callee not in SIGNATURES:
        hint = did_you_mean(value.callee, SIGNATURES) or "use dataset(...), npz(...) or csv(...)"
        raise DlNameError(f"unknown data source '{value.callee}'", value.callee_span, hint)
    args = bind(SIGNATURES[value.callee], value, value.callee)
    if value.callee == "dataset":
        features, names = DATASETS[args["name"]]
        return DataSource(
            "dataset",
            name=args["name"],
            feature_counts=(features,),
            classes=len(names),
            class_names=names,
            span=value.span,
        )
    return _npz_source(args, value) if value.callee == "npz" else _csv_source(args, value)


def fit_shape(shape: tuple[int | None, ...], count: int) -> tuple[int, ...] | None:
    """`shape` with its one `?` filled so that it holds `count` values; None when it cannot."""
    known = math.prod(d for d in shape if d is not None)
    unknown = sum(d is None for d in shape)
    if unknown > 1 or count % known or (unknown == 0 and known != count):
        return None
    return tuple(count // known if d is None else d for d in shape)


def input_split(inputs: tuple[Value, ...], features: int) -> list[tuple[int, ...]] | None:
    """Each input's shape when a sample's `features` values are split across inputs in order; None if they don't fit."""
    if len(inputs) == 1:
        shape = fit_shape(inputs[0].shape, features)
        return None if shape is None else [shape]
    if any(None in v.shape for v in inputs):
        return None
    shapes = [v.shape for v in inputs]
    return shapes if sum(math.prod(s) for s in shapes) == features else None


def check_data_fits(data: DataSource, inputs: tuple[Value, ...], output: Value, loss: Configured | None) -> None:
    """The data's samples fit the inputs, and its class count the output, for a cross-entropy loss."""
    shown = ", ".join(f"{v.name} {show_shape(v.shape)}" for v in inputs)
    if len(data.feature_counts) > 1:
        if len(data.feature_counts) != len(inputs):
            raise DlDataError(f"npz gives {len(data.feature_counts)} x arrays for {len(inputs)} inputs", data.span)
        for count, value in zip(data.feature_counts, inputs, strict=True):
            if fit_shape(value.shape, count) is None:
                raise DlDataError(
                    f"x array for '{value.name}' has {count} values per sample; it needs {show_shape(value.shape)}",
                    data.span,
                )
    elif input_split(inputs, data.feature_counts[0]) is None:
        raise DlDataError(
            f"the data has {data.feature_counts[0]} values per sample, which do not fit the inputs ({shown})",
            data.span,
            "samples are reshaped to the input shape when their element counts match",
        )
    if loss is None:
        return
    check_targets_fit(data, output, loss)


CLASS_ID_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")


def check_targets_fit(data: DataSource, output: Value, loss: Configured) -> None:
    """The targets are what the loss takes for this output, as the programs shape them: class ids (or one-hot
    rows) for the categorical cross-entropies, else as many values per sample as the output holds."""
    units = output.shape[-1]
    per_sample = math.prod(data.target_shape)
    shown_targets = f"{per_sample} value(s) per sample" if data.target_shape else "one value per sample"
    if loss.name in CLASS_ID_LOSSES:
        # a class id per sample, or per position of an output with positions (a segmenter's pixels), or one-hot
        positions = tuple(output.shape[:-1])
        ids = {(), (1,)} | ({positions, (*positions, 1)} if positions else set())
        one_hot = {tuple(output.shape)} if loss.name == "categorical_crossentropy" else set()
        if data.target_shape not in ids | one_hot and None not in positions:
            rows = " or one-hot rows" if loss.name == "categorical_crossentropy" else ""
            where = f"position of {show_shape(positions)}" if positions else "sample"
            raise DlDataError(
                f"the targets have shape {list(data.target_shape)} per sample; {loss.name} takes a class id per "
                f"{where}{rows} for an output of {show_shape(output.shape)}",
                data.span,
            )
        if data.target_shape in ((), (1,)) and data.label_problem:
            raise DlDataError(
                f"{loss.name} takes class ids; {data.label_problem}",
                data.span,
                "for numeric targets use a regression loss such as mse",
            )
    elif None not in output.shape and per_sample != math.prod(output.shape):
        raise DlDataError(
            f"the data has {shown_targets} as targets, but the model outputs {show_shape(output.shape)}",
            data.span,
            f"end the model with Dense({per_sample}, ...)" if len(output.shape) == 1 else None,
        )
    if data.classes is None or loss.name not in (*CLASS_ID_LOSSES, "binary_crossentropy"):
        return
    if loss.name == "binary_crossentropy" and per_sample == 1 and data.classes > 2:
        raise DlDataError(
            f"the data has {data.classes} classes; binary_crossentropy takes two (0 and 1)",
            data.span,
            f"use categorical_crossentropy and end the model with Dense({data.classes}, activation=softmax)",
        )
    wanted = 1 if loss.name == "binary_crossentropy" and data.classes <= 2 else data.classes
    if units != wanted:
        raise DlDataError(
            f"the data has {data.classes} classes but the model outputs {units} value(s) per sample",
            data.span,
            f"end the model with Dense({wanted}, ...)",
        )
