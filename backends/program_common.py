"""The framework-free part of every generated training program: data, splits, progress, curves.

Pasted verbatim (no user text) into the PyTorch and Keras programs, so both read the same data, split it
the same way and shuffle it in the same order. It reads the module-level names INPUTS, DATA, LABELS and
SETTINGS that the generator emits.
"""
# ruff: noqa: F821

# ---------------------------------------------------------------- data


def load_data(data_path=None):
    """Features (one float array per sample, flattened) and targets from the spec's data source."""
    if DATA["kind"] == "dataset":
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{DATA['name']}")()
        return [bunch.data.astype(np.float32)], bunch.target
    path = data_path or DATA["path"]
    if DATA["kind"] == "npz":
        with np.load(path, allow_pickle=False) as arrays:
            xs = [arrays[key].astype(np.float32).reshape(len(arrays[key]), -1) for key in DATA["x"]]
            return xs, arrays[DATA["y"]]
    import csv

    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], [r for r in rows[1:] if r]
    column = header.index(DATA["target"])
    features = np.array([[float(v) for i, v in enumerate(r) if i != column] for r in rows], dtype=np.float32)
    targets = [r[column] for r in rows]
    try:
        return [features], np.array([float(t) for t in targets], dtype=np.float32)
    except ValueError:
        classes = sorted(set(targets))  # non-numeric targets become class ids, in sorted order
        return [features], np.array([classes.index(t) for t in targets], dtype=np.int64)


def shape_inputs(xs):
    """Split and reshape flat feature arrays into one array per model input, as the spec declares them."""
    if len(xs) == 1 and len(INPUTS) > 1:
        sizes = [int(np.prod(shape)) for _, shape, _ in INPUTS]
        xs = np.split(xs[0], np.cumsum(sizes)[:-1], axis=1)
    shaped = []
    for x, (_, shape, dtype) in zip(xs, INPUTS, strict=True):
        known = int(np.prod([d for d in shape if d is not None]))
        dims = [x.shape[1] // known if d is None else d for d in shape]
        shaped.append(x.reshape(len(x), *dims).astype(dtype))
    return shaped


def shape_targets(y):
    y = np.asarray(y)
    if LABELS == "sparse":
        return y.astype(np.int64).reshape(-1)
    if LABELS == "onehot":
        if y.ndim == 2:
            return y.astype(np.float32)
        return np.eye(SETTINGS["units"], dtype=np.float32)[y.astype(np.int64)]
    return y.astype(np.float32).reshape(len(y), *SETTINGS["output_shape"])


def split_data(xs, y, seed):
    """Shuffle once with the seed, then hold out the test part, then the validation part, from the end."""
    order = np.random.default_rng(seed).permutation(len(y))
    xs, y = [x[order] for x in xs], y[order]
    n = len(y)
    n_test = int(n * SETTINGS["test_split"])
    n_val = int((n - n_test) * SETTINGS["validation_split"])
    ends = [n - n_test - n_val, n - n_test, n]
    parts, start = [], 0
    for end in ends:
        parts.append(([x[start:end] for x in xs], y[start:end]))
        start = end
    return parts


# ---------------------------------------------------------------- progress and outputs


def progress(epoch, epochs, step, steps, logs, rate=None, width=24):
    filled = int(width * step / steps)
    bar = "=" * filled + "." * (width - filled)
    shown = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
    speed = f" - {rate:,.0f} samples/s" if rate else ""
    print(f"\rEpoch {epoch}/{epochs} [{bar}] {step}/{steps} - {shown}{speed}", end="", file=sys.stderr, flush=True)


def monitor_improved(value, best, mode, min_delta):
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def plot_history(history, path):
    """Loss and metric curves, train and validation, one panel per quantity."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no curves.png", file=sys.stderr)
        return
    names = [k for k in history if not k.startswith("val_")]
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], label="train")
        if f"val_{name}" in history:
            axis.plot(epochs, history[f"val_{name}"], label="validation")
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
