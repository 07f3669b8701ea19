"""The spec's data as every generated program reads it: load, shape for the inputs and targets, split.

Framework-free (NumPy), each function taking its configuration as parameters. The programs copy these
functions in by source, so the PyTorch and Keras programs read the same data, split it the same way and
shuffle it in the same order; `load_splits` runs them here for tools outside a training run (the
validation accuracy of `dlc export --quantize`). Files are read by compiler/datafiles.py's readers, copied
in too, so a program refuses exactly the files that `dlc check` refuses, with the same messages.
"""

from __future__ import annotations

import numpy as np

from compiler.datafiles import (
    DataFileError,
    column_names,
    finite_float32,
    read_csv_table,
    read_npy_header,
    read_npz_arrays,
)


def load_data(source, path=None):
    """Features (one float array per sample, flattened) and targets from the spec's data `source`."""
    if source["kind"] == "dataset":
        if path is not None:  # trained on the package's data instead, the user would never know
            raise DataFileError(f"--data {path}: the spec trains on dataset('{source['name']}'), not on a file")
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{source['name']}")()
        return [bunch.data.astype(np.float32)], bunch.target
    path = path or source["path"]
    if source["kind"] == "npz":
        *xs, y = read_npz_arrays(path, [*source["x"], source["y"]])
        return [x.astype(np.float32).reshape(len(x), -1) for x in xs], y
    features, targets, _ = read_csv_table(path, source["target"])
    if isinstance(targets, list):
        classes = sorted(set(targets))  # non-numeric targets become class ids, in sorted order
        ids = {name: k for k, name in enumerate(classes)}
        return [features], np.array([ids[t] for t in targets], dtype=np.int64)
    return [features], targets.astype(np.float32)


def shape_inputs(xs, inputs):
    """Split and reshape flat feature arrays into one array per model input (name, shape, dtype)."""
    counts = [x.shape[1] for x in xs]
    if len(xs) == 1 and len(inputs) > 1:
        sizes = [int(np.prod(shape)) for _, shape, _ in inputs]
        if None in [d for _, shape, _ in inputs for d in shape] or sum(sizes) != counts[0]:
            raise DataFileError(f"{counts[0]} values per sample do not split into the inputs {input_shapes(inputs)}")
        xs = np.split(xs[0], np.cumsum(sizes)[:-1], axis=1)
    if len(xs) != len(inputs):
        raise DataFileError(f"{len(xs)} feature arrays for {len(inputs)} inputs {input_shapes(inputs)}")
    shaped = []
    for x, (name, shape, dtype) in zip(xs, inputs, strict=True):
        known = int(np.prod([d for d in shape if d is not None]))
        if x.shape[1] % known or (None not in shape and x.shape[1] != known):
            shown = input_shapes([(name, shape, dtype)])
            raise DataFileError(f"{x.shape[1]} values per sample do not fit input '{name}' {shown}")
        dims = [x.shape[1] // known if d is None else d for d in shape]
        shaped.append(x.reshape(len(x), *dims).astype(dtype))
    return shaped


def input_shapes(inputs):
    """The inputs' shapes as messages show them: [8, 8], [?, 8]."""
    return ", ".join(f"[{', '.join('?' if d is None else str(d) for d in shape)}]" for _, shape, _ in inputs)


def shape_targets(y, labels, output_shape):
    """Targets as the loss wants them: class ids ("sparse"), one-hot rows ("onehot") or values of the output's
    shape; targets that do not fit are a DataFileError naming the first sample that does not."""
    y = np.asarray(y)
    units, positions = output_shape[-1], tuple(output_shape[:-1])  # a segmenter's output has a class per pixel
    if labels == "onehot" and y.shape[1:] == tuple(output_shape) and units > 1:
        return y.astype(np.float32)  # one-hot rows already
    if labels in ("sparse", "onehot"):
        if None in positions or y[0].size != int(np.prod(positions)):
            shape, where = list(y.shape[1:]), "position" if positions else "sample"
            raise DataFileError(f"the targets have shape {shape} per sample; the loss takes one class id per {where}")
        ids = y.reshape(len(y), *positions).astype(np.float64)
        bad = np.flatnonzero((ids < 0) | (ids >= units) | (ids != np.floor(ids)))
        if bad.size:
            value = ids.reshape(-1)[bad[0]]
            raise DataFileError(f"the target at index {bad[0]} is {value:g}, not a class id from 0 to {units - 1}")
        ids = ids.astype(np.int64)
        return ids if labels == "sparse" else np.eye(units, dtype=np.float32)[ids]
    if None in output_shape or y[0].size != int(np.prod(output_shape)):
        shape = ["?" if d is None else d for d in output_shape]
        raise DataFileError(f"{y[0].size} target value(s) per sample do not fit the output shape {shape}")
    return y.astype(np.float32).reshape(len(y), *output_shape)


def split_data(xs, y, seed, validation_split, test_split):
    """Shuffle once with the seed, then hold out the test part, then the validation part, from the end."""
    order = np.random.default_rng(seed).permutation(len(y))
    xs, y = [x[order] for x in xs], y[order]
    n = len(y)
    n_test = int(n * test_split)
    n_val = int((n - n_test) * validation_split)
    ends = [n - n_test - n_val, n - n_test, n]
    parts, start = [], 0
    for end in ends:
        parts.append(([x[start:end] for x in xs], y[start:end]))
        start = end
    return parts


def load_splits(settings, seed=None, path=None):
    """((train_x, train_y), (val_x, val_y), (test_x, test_y)) of a program's SETTINGS, as the program splits them.

    Data that cannot be trained on ends the program with one line naming the file and where in it, and exit
    status 1, as the program answers its user's other mistakes: it is the data's fault, not the program's."""
    source = settings["data"]
    try:
        xs, y = load_data(source, path)
    except DataFileError as error:
        raise SystemExit(str(error)) from None
    try:
        shaped = shape_inputs(xs, settings["inputs"]), shape_targets(y, settings["labels"], settings["output_shape"])
    except DataFileError as error:
        raise SystemExit(f"{path or source.get('path') or source.get('name')}: {error}") from None
    seed = settings["seed"] if seed is None else seed
    return split_data(*shaped, seed, settings["validation_split"], settings["test_split"])


# what every program copies in: the file readers first, as the functions after them call them
FUNCTIONS = (
    DataFileError,
    column_names,
    finite_float32,
    read_csv_table,
    read_npy_header,
    read_npz_arrays,
    load_data,
    shape_inputs,
    input_shapes,
    shape_targets,
    split_data,
    load_splits,
)
