"""What every generated program shows and writes about its training: the progress line, atomic writes and the
curves. Framework-free; the programs copy these functions in by source."""

from __future__ import annotations

import os
import sys


def progress(epoch, epochs, step, steps, logs, rate=None, width=24):
    filled = int(width * step / steps)
    bar = "=" * filled + "." * (width - filled)
    shown = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
    speed = f" - {rate:,.0f} samples/s" if rate else ""
    print(f"\rEpoch {epoch}/{epochs} [{bar}] {step}/{steps} - {shown}{speed}", end="", file=sys.stderr, flush=True)


def replace_atomically(path, write):
    """Write `path` through `write(temporary path)` in the same folder and one rename, so that a kill or a
    Ctrl-C at any instant leaves the previous file whole; an interrupted write leaves no partial file."""
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


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
    replace_atomically(path, lambda partial: figure.savefig(partial, dpi=100))
    plt.close(figure)


FUNCTIONS = (progress, replace_atomically, plot_history)  # what every program copies in
