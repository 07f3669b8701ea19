"""`train { data = ... }` sources: validated at check time, and fitted against the model's inputs and output."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .argkinds import Anything, ArgSpec, Enum, Text, bind
from .errors import DlArgumentError, DlDataError, DlNameError, Span, did_you_mean
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
    import numpy as np

    span = next((v.span for v in value.positional), value.span)
    path = _resolve(args["path"], span)
    keys = args["x"]
    keys = tuple(keys) if isinstance(keys, list) else (keys,)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise DlArgumentError(f"npz x must be a key or a list of keys, got {describe(args['x'])}", value.span)
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in (*keys, args["y"]) if k not in arrays.files]
            if missing:
                hint = did_you_mean(missing[0], arrays.files) or f"it holds: {', '.join(arrays.files)}"
                raise DlDataError(f"'{args['path']}' has no array '{missing[0]}'", value.span, hint)
            counts = tuple(math.prod(arrays[k].shape[1:]) for k in keys)
            y = arrays[args["y"]]
    except (OSError, ValueError) as error:
        raise DlDataError(f"cannot read '{args['path']}' as .npz: {error}", span) from None
    classes = None
    if y.ndim == 1 and y.dtype.kind in "iub":
        classes = int(y.max()) + 1 if y.size else 0
    elif y.ndim == 2 and y.shape[1] > 1:
        classes = int(y.shape[1])
    return DataSource(
        "npz",
        path=str(path),
        written_path=args["path"],
        x=keys,
        y=args["y"],
        feature_counts=counts,
        classes=classes,
        span=value.span,
    )


def _csv_source(args: dict, value: CallValue) -> DataSource:
    span = next((v.span for v in value.positional), value.span)
    path = _resolve(args["path"], span)
    if path.stat().st_size > MAX_CSV_BYTES:
        raise DlDataError(f"'{args['path']}' is larger than {MAX_CSV_BYTES // 2**20} MiB", span)
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DlDataError(f"cannot read '{args['path']}' as CSV: {error}", span) from None
    if not rows:
        raise DlDataError(f"'{args['path']}' is empty", span)
    header = rows[0]
    if args["target"] not in header:
        hint = did_you_mean(args["target"], header) or f"its columns: {', '.join(header)}"
        raise DlNameError(f"'{args['path']}' has no column '{args['target']}'", value.span, hint)
    column = header.index(args["target"])
    targets = {row[column] for row in rows[1:] if len(row) > column}
    classes = len(targets) if not all(_is_float(t) and not _is_int(t) for t in targets) else None
    # text targets become class ids in sorted order, as the programs number them; numbers are their own ids
    names = None if all(_is_float(t) for t in targets) else tuple(sorted(targets))
    return DataSource(
        "csv",
        path=str(path),
        written_path=args["path"],
        target=args["target"],
        feature_counts=(len(header) - 1,),
        classes=classes,
        class_names=names,
        span=value.span,
    )


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdigit()


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
    if (
        loss is None
        or data.classes is None
        or loss.name not in ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")
    ):
        return
    units = output.shape[-1]
    wanted = 1 if loss.name == "binary_crossentropy" and data.classes <= 2 else data.classes
    if units != wanted:
        raise DlDataError(
            f"the data has {data.classes} classes but the model outputs {units} value(s) per sample",
            data.span,
            f"end the model with Dense({wanted}, ...)",
        )
