"""What every generated program shows and writes about its training: the progress line, atomic writes and the
curves. Framework-free; the programs copy these functions in by source."""

from __future__ import annotations

import os
import signal
import sys
import threading


def progress(epoch, epochs, step, steps, logs, rate=None, width=24):
    filled = int(width * step / steps)
    bar = "=" * filled + "." * (width - filled)
    shown = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
    speed = f" - {rate:,.0f} samples/s" if rate else ""
    print(f"\rEpoch {epoch}/{epochs} [{bar}] {step}/{steps} - {shown}{speed}", end="", file=sys.stderr, flush=True)


def replace_atomically(path, write):
    """Write `path` through `write(temporary path)` in the same folder and one rename, so that a kill at any
    instant leaves the previous file whole; a failed write leaves no partial file.

    A Ctrl-C during the write is held until the file is in place, then delivered: raised inside a library's
    saving code, a KeyboardInterrupt was now and then swallowed by its cleanup, and the run went on as if no
    Ctrl-C had come (2 of about 50 tries, each at the moment a checkpoint was being written)."""
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    held = []
    # only the main thread may set a handler; None is one set outside Python, which could not be put back
    holding = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is not None
    previous = signal.signal(signal.SIGINT, lambda *caught: held.append(caught)) if holding else None
    try:
        write(partial)
        # the mode open() gives a new file: safetensors writes through a temporary file of its own, left 0600;
        # the umask is read by setting it, to a value that makes a thread's file private for that instant
        umask = os.umask(0o077)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        if holding:
            signal.signal(signal.SIGINT, previous)
    if held:
        signal.raise_signal(signal.SIGINT)  # to the handler the program had: KeyboardInterrupt, as a rule


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
