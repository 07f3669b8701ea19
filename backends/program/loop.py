"""The training loop every generated program runs, one skeleton for both backends; the framework's part sits
behind a trainer class the backend's program defines, with these hooks:

    trainer = Trainer(args)        joins the other workers (if any), seeds, places the model on --device and
                                   builds it from canonical weights (--weights, else the seed's)
    trainer.chief                  whether this worker prints and writes (the only one, or rank 0 of several)
    trainer.train_epoch(xs, y, order, batch_size, epoch, epochs) -> logs    one epoch on batches cut in `order`
    trainer.evaluate(xs, y, batch_size) -> logs                              loss and metrics, inference mode
    trainer.weights() -> canonical arrays;  trainer.load_weights(arrays)
    trainer.learning_rate() -> float32 value;  trainer.set_learning_rate(value)        (ReduceLROnPlateau)
    trainer.save_checkpoint(folder, state)       on every worker; only the chief's file is written
    trainer.load_checkpoint(folder) -> state     the chief's checkpoint on every worker; None when it has none
    trainer.shared_file(path) -> bytes | None    the chief's file, on every worker
    trainer.stop_on(error)                       a SystemExit naming the lost worker, when one caused `error`
    trainer.finish()                             leaves the other workers
    Trainer.framework, Trainer.checkpoint_name       a checkpoint is one file, written through replace_atomically

With several workers (torchrun, or TensorFlow's TF_CONFIG) every worker runs this loop on the same data in the
same order; the trainer cuts each global batch into the workers' parts and returns figures summed over all of
them, so every worker takes the same decisions (early stopping, learning rate) and only the chief writes.

Framework-free and configured by parameters (the program's SETTINGS); the programs copy these functions in by
source after the data and reporting functions they call.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load, load_file, save_file

from .data import load_splits
from .reporting import plot_history, progress, replace_atomically


def improved(value, best, mode, min_delta):
    """Keras' `MonitorCallback._is_improvement`: `value + min_delta < best` ("min") or `value - min_delta > best`
    ("max"), compared in float32 as Keras' ops compare Python numbers; anything beats no best yet."""
    if best is None:
        return True
    current, best = np.float32(value + (min_delta if mode == "min" else -min_delta)), np.float32(best)
    return bool(current < best) if mode == "min" else bool(current > best)


def early_stopping_step(state, value, epoch, early):
    """Keras' `EarlyStopping.on_epoch_end`: the new state, whether `value` improved, whether to stop (after
    `patience` epochs without improvement, never after the first)."""
    if improved(value, state["best"], early["mode"], early["min_delta"]):
        return {"best": value, "wait": 0}, True, False
    wait = state["wait"] + 1
    return {"best": state["best"], "wait": wait}, False, wait >= early["patience"] and epoch > 0


def plateau_step(state, value, learning_rate, plateau):
    """Keras' `ReduceLROnPlateau.on_epoch_end`: the new state, and the reduced learning rate (None when it
    stays): `learning_rate * factor`, at least `min_lr`, after `patience` epochs without improvement, then
    `cooldown` epochs in which the waiting does not count."""
    best, wait, cooldown = state["best"], state["wait"], state["cooldown"]
    if cooldown > 0:
        cooldown, wait = cooldown - 1, 0
    reduced = None
    if improved(value, best, plateau["mode"], plateau["min_delta"]):
        best, wait = value, 0
    elif cooldown == 0:
        wait += 1
        if wait >= plateau["patience"] and learning_rate > np.float32(plateau["min_lr"]):
            reduced = max(learning_rate * plateau["factor"], plateau["min_lr"])
            cooldown, wait = plateau["cooldown"], 0
    return {"best": best, "wait": wait, "cooldown": cooldown}, reduced


def train(args, trainer_class, settings):
    """Train for the epochs asked, with the spec's callbacks (early stopping, ReduceLROnPlateau,
    ModelCheckpoint) and a checkpoint after each epoch; write the canonical weights, history.json and curves.png
    into args.out and return the final figures."""
    out = Path(args.out)
    checkpoint = out / trainer_class.checkpoint_name
    trainer = trainer_class(args)  # first: a worker that ended before joining would leave the others waiting
    try:
        return train_with(trainer, args, settings, out, checkpoint)
    except Exception as error:
        trainer.stop_on(error)  # a lost worker ends the run here, named; anything else goes on up
        raise
    finally:
        trainer.finish()


def train_with(trainer, args, settings, out, checkpoint):
    """The loop of `train`, on a trainer that has joined the other workers (if any)."""
    chief = trainer.chief
    if chief and out.exists() and not out.is_dir():
        raise SystemExit(f"--out {out}: is a file; name a folder (it is created if missing)")
    if chief:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # a file on the way, no permission, a read-only place
            raise SystemExit(f"--out {out}: cannot create the folder: {error.strerror or error}") from None
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = load_splits(settings, args.seed, args.data)
    early, plateau, saving = settings["early_stopping"], settings["reduce_lr_on_plateau"], settings["checkpoint"]
    # each callback's state, as the checkpoint keeps it: EarlyStopping's, ReduceLROnPlateau's, ModelCheckpoint's
    callbacks = {
        "stopping": {"best": None, "wait": 0},
        "plateau": {"best": None, "wait": 0, "cooldown": 0},
        "saving": {"best": saving["initial_value_threshold"] if saving else None},
    }
    history, start_epoch = {}, 0
    timing = []  # seconds per epoch of this run, for throughput; not resumed
    shuffler = np.random.default_rng([args.seed, 1])
    if args.resume:
        try:
            state = trainer.load_checkpoint(out)
        except Exception as error:  # the file is the user's to mend (or delete), not a bug in this program
            raise SystemExit(f"--resume: {checkpoint} does not load: {type(error).__name__}: {error}") from None
        if state is None:
            raise SystemExit(f"--resume: there is no checkpoint at {checkpoint}; run once without --resume first")
        history, start_epoch = state["history"], state["epoch"]
        callbacks |= {name: state[name] for name in callbacks if name in state}
        shuffler.bit_generator.state = state["shuffler"]
        if chief:
            print(f"resumed from {checkpoint} after epoch {start_epoch}", file=sys.stderr)
    elif chief:  # best weights of an earlier run in this folder are not this run's
        for name in ("best.safetensors", early and early["weights_file"]):
            if name:
                (out / name).unlink(missing_ok=True)
    steps = max(1, -(-len(train_y) // args.batch_size))
    for epoch in range(start_epoch, args.epochs):
        order = shuffler.permutation(len(train_y)) if settings["shuffle"] else np.arange(len(train_y))
        started = time.perf_counter()
        logs = trainer.train_epoch(train_x, train_y, order, args.batch_size, epoch, args.epochs)
        seconds = time.perf_counter() - started
        timing.append({"train_seconds": seconds, "train_samples": len(train_y)})
        if len(val_y):
            logs.update({f"val_{k}": v for k, v in trainer.evaluate(val_x, val_y, args.batch_size).items()})
        if plateau:  # the rate this epoch trained with, as Keras' ReduceLROnPlateau logs it
            logs["learning_rate"] = trainer.learning_rate()
        if chief:
            progress(epoch + 1, args.epochs, steps, steps, logs, len(train_y) / seconds)
            print(file=sys.stderr)
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        stop, keep = False, set()  # keep: the files that get this epoch's weights
        if early:
            callbacks["stopping"], better, stop = early_stopping_step(
                callbacks["stopping"], logs[early["monitor"]], epoch, early
            )
            if better and early["restore_best_weights"]:
                keep.add(early["weights_file"])
        if plateau:
            callbacks["plateau"], reduced = plateau_step(
                callbacks["plateau"], logs[plateau["monitor"]], logs["learning_rate"], plateau
            )
            if reduced is not None:
                trainer.set_learning_rate(reduced)
                if chief:
                    print(f"epoch {epoch + 1}: learning rate reduced to {trainer.learning_rate():.4g}", file=sys.stderr)
        if saving and not saving["save_best_only"]:
            keep.add(f"epoch_{epoch + 1}.safetensors")
        elif saving and improved(logs[saving["monitor"]], callbacks["saving"]["best"], saving["mode"], 0.0):
            callbacks["saving"] = {"best": logs[saving["monitor"]]}
            keep.add("best.safetensors")
        weights = trainer.weights() if keep and chief else None
        for name in sorted(keep) if chief else ():
            replace_atomically(out / name, lambda partial, weights=weights: save_file(weights, str(partial)))
        state = {"history": history, "epoch": epoch + 1, **callbacks, "shuffler": shuffler.bit_generator.state}
        trainer.save_checkpoint(out, state)
        if stop:
            if chief:
                print(f"early stopping after epoch {epoch + 1}: {early['monitor']} did not improve", file=sys.stderr)
            break
    best = trainer.shared_file(out / early["weights_file"]) if early and early["restore_best_weights"] else None
    if best is not None:
        trainer.load_weights(load(best))
    results = {}
    if len(test_y):
        results = {f"test_{k}": v for k, v in trainer.evaluate(test_x, test_y, args.batch_size).items()}
    final = {key: values[-1] for key, values in history.items()} | results
    if not chief:
        return final
    metadata = {"model": settings["model"], "source": settings["source"]}
    weights = trainer.weights()
    replace_atomically(out / "weights.safetensors", lambda partial: save_file(weights, str(partial), metadata=metadata))
    record = json.dumps({"history": history, "final": results, "timing": timing}, indent=2)
    replace_atomically(out / "history.json", lambda partial: partial.write_text(record))
    plot_history(history, out / "curves.png")
    print("final: " + ", ".join(f"{k}={v:.4f}" for k, v in final.items()))
    print(f"wrote {out / 'weights.safetensors'}, {out / 'history.json'}, {out / 'curves.png'}")
    return final


def read_weights(path):
    """Canonical weights from a `--weights` file; a file that does not read as safetensors, or that holds NaN or
    infinite values, ends the program with a message naming it (training from it would only print loss=nan)."""
    try:
        tensors = load_file(str(path))
    except Exception as error:  # SafetensorError or OSError: the user's file, not a bug in this program
        raise SystemExit(f"--weights {path}: not a readable .safetensors file: {error}") from None
    for key, array in tensors.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise SystemExit(f"--weights {path}: tensor '{key}' holds NaN or infinite values")
    return tensors


def run_training(argv, trainer_class, settings):
    """The program's command line: its options default to the spec's settings."""
    origin = f"generated by dlc from {settings['source']}".replace("%", "%%")  # a file name may hold %(prog)s
    parser = argparse.ArgumentParser(
        description=f"%(prog)s trains {settings['model']} with {trainer_class.framework} ({origin})."
    )
    parser.add_argument("--epochs", type=int, default=settings["epochs"], help="epochs to train (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=settings["batch_size"], help="default: %(default)s")
    parser.add_argument("--out", default=f"runs/{settings['model']}", help="output directory (default: %(default)s)")
    parser.add_argument(
        "--seed", type=int, default=settings["seed"], help="initial weights, split and shuffling (default: %(default)s)"
    )
    parser.add_argument("--resume", action="store_true", help=f"continue from OUT/{trainer_class.checkpoint_name}")
    parser.add_argument("--weights", default=None, help="start from these canonical .safetensors weights")
    parser.add_argument("--data", default=None, help="a different data file of the same kind (npz/csv sources)")
    parser.add_argument(
        "--device",
        default="auto",
        help=f"where to train: {trainer_class.devices} (default: %(default)s, {trainer_class.auto_device})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for each worker's operations (default: half the CPUs this process may use, shared among "
        "the workers on this machine, at least 1)",
    )
    args = parser.parse_args(argv)
    check_options(args)
    return train(args, trainer_class, settings)


def check_options(args):
    """The options' ranges, as the language bounds the spec's own settings (one line and exit 1 beyond them)."""
    for option, value, low, high in (
        ("--epochs", args.epochs, 1, None),
        ("--batch-size", args.batch_size, 1, None),
        ("--seed", args.seed, 0, 2**32 - 1),  # Keras' seeds are 32-bit, and both programs take the same ones
        ("--threads", args.threads, 1, None),
    ):
        if value is not None and (value < low or (high is not None and value > high)):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise SystemExit(f"{option} {value}: give {bounds}")


def default_threads():
    """Half the CPUs this process may use, shared among the workers on this machine, at least one.

    Half: most machines count two hyper-threads per core, and an OpenMP thread that waits for a busy core
    spins; measured on a busy 2-core machine, two threads per step were up to 100x slower than one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity masks
        cpus = os.cpu_count() or 1
    local_workers = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, cpus // 2 // max(1, local_workers))


def run_as_script(main):
    """Run the program's `main` from the command line: Ctrl-C ends it with one line and status 130, not a
    traceback (every file it writes is replaced whole, so the last finished epoch's checkpoint is kept)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_DFL:  # set while the frameworks loaded: Python's again
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        main()
    except KeyboardInterrupt:
        print("\ninterrupted: the last finished epoch's checkpoint is kept (--resume continues)", file=sys.stderr)
        sys.exit(130)


FUNCTIONS = (
    improved,
    early_stopping_step,
    plateau_step,
    train,
    train_with,
    read_weights,
    run_training,
    check_options,
    default_threads,
    run_as_script,
)  # what every program copies in
