"""The spec's data as every generated program reads it: load, shape for the inputs and targets, split.

Framework-free (NumPy), each function taking its configuration as parameters. The programs copy these
functions in by source, so the PyTorch and Keras programs read the same data, split it the same way and
shuffle it in the same order; `load_splits` runs them here for tools outside a training run (the
validation accuracy of `dlc export --quantize`).
"""

from __future__ import annotations

import csv

import numpy as np


def load_data(source, path=None):
    """Features (one float array per sample, flattened) and targets from the spec's data `source`."""
    if source["kind"] == "dataset":
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{source['name']}")()
        return [bunch.data.astype(np.float32)], bunch.target
    path = path or source["path"]
    if source["kind"] == "npz":
        with np.load(path, allow_pickle=False) as arrays:
            xs = [arrays[key].astype(np.float32).reshape(len(arrays[key]), -1) for key in source["x"]]
            return xs, arrays[source["y"]]
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], [r for r in rows[1:] if r]
    column = header.index(source["target"])
    features = np.array([[float(v) for i, v in enumerate(r) if i != column] for r in rows], dtype=np.float32)
    targets = [r[column] for r in rows]
    try:
        return [features], np.array([float(t) for t in targets], dtype=np.float32)
    except ValueError:
        classes = sorted(set(targets))  # non-numeric targets become class ids, in sorted order
        return [features], np.array([classes.index(t) for t in targets], dtype=np.int64)


def shape_inputs(xs, inputs):
    """Split and reshape flat feature arrays into one array per model input (name, shape, dtype)."""
    if len(xs) == 1 and len(inputs) > 1:
        sizes = [int(np.prod(shape)) for _, shape, _ in inputs]
        xs = np.split(xs[0], np.cumsum(sizes)[:-1], axis=1)
    shaped = []
    for x, (_, shape, dtype) in zip(xs, inputs, strict=True):
        known = int(np.prod([d for d in shape if d is not None]))
        dims = [x.shape[1] // known if d is None else d for d in shape]
        shaped.append(x.reshape(len(x), *dims).astype(dtype))
    return shaped


def shape_targets(y, labels, output_shape):
    """Targets as the loss wants them: class ids ("sparse"), one-hot rows ("onehot") or values of the output's shape."""
    y = np.asarray(y)
    if labels == "sparse":
        return y.astype(np.int64).reshape(-1)
    if labels == "onehot":
        if y.ndim == 2:
            return y.astype(np.float32)
        return np.eye(output_shape[-1], dtype=np.float32)[y.astype(np.int64)]
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
    """((train_x, train_y), (val_x, val_y), (test_x, test_y)) of a program's SETTINGS, as the program splits them."""
    xs, y = load_data(settings["data"], path)
    shaped = shape_inputs(xs, settings["inputs"]), shape_targets(y, settings["labels"], settings["output_shape"])
    seed = settings["seed"] if seed is None else seed
    return split_data(*shaped, seed, settings["validation_split"], settings["test_split"])


FUNCTIONS = (load_data, shape_inputs, shape_targets, split_data, load_splits)  # what every program copies in
