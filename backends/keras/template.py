"""The static part of every generated Keras program: canonical weights, the training loop, the options.

Pasted verbatim (no user text) after the emitted constants, build_model(), build_optimizer(), build_loss(),
METRICS, WEIGHTS and initial_weights(), and after backends/program_common.py. Batches come in the same
order as in the PyTorch program (same split, same shuffling generator), so both backends see the same data.
"""
# ruff: noqa: F821

# ---------------------------------------------------------------- canonical weights


def weight_variables(model):
    """Canonical key -> the Keras variable that holds it."""
    return {key: model.get_layer(layer).weights[index] for key, layer, index in WEIGHTS}


def to_canonical(model):
    """The model's weights as canonical `LAYER.WEIGHT` arrays (Keras' own layouts)."""
    return {
        key: np.ascontiguousarray(variable.numpy(), dtype=np.float32)
        for key, variable in weight_variables(model).items()
    }


def load_canonical(model, tensors):
    """Assign canonical arrays to the model's variables."""
    variables = weight_variables(model)
    missing, unexpected = set(variables) - set(tensors), set(tensors) - set(variables)
    if missing or unexpected:
        raise SystemExit(f"weights do not fit {MODEL_NAME}: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    for key, variable in variables.items():
        value = np.asarray(tensors[key])
        if tuple(value.shape) != tuple(variable.shape):
            raise SystemExit(f"{key}: expected {list(variable.shape)}, got {list(value.shape)}")
        variable.assign(value.astype(variable.dtype))


# ---------------------------------------------------------------- training


def compiled_model(seed, weights_path=None):
    """The model from canonical weights (the seed's initial ones without a path), compiled for training."""
    model = build_model()
    load_canonical(model, load_file(weights_path) if weights_path else initial_weights(seed))
    model.compile(optimizer=build_optimizer(), loss=build_loss(), metrics=METRICS)
    return model


def loss_first(logs):
    """Keras' logs with the loss first, as the PyTorch program orders them."""
    return {"loss": float(logs["loss"])} | {key: float(value) for key, value in logs.items() if key != "loss"}


def evaluate(model, xs, y, batch_size):
    """Loss and metrics on a data set, in inference mode and in batches."""
    return loss_first(model.evaluate(xs, y, batch_size=batch_size, verbose=0, return_dict=True))


class EpochProgress(keras.callbacks.Callback):
    """The progress line every 10 steps, from fit's running means of the loss and metrics."""

    def __init__(self, epoch, epochs, samples, batch_size):
        super().__init__()
        self.epoch, self.epochs, self.samples, self.batch_size = epoch, epochs, samples, batch_size
        self.steps = max(1, -(-samples // batch_size))

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch % 10 == 0 and batch < self.steps - 1:  # the caller prints the epoch's last line
            seen = (batch + 1) * self.batch_size
            rate = seen / (time.perf_counter() - self.started)
            progress(self.epoch + 1, self.epochs, batch + 1, self.steps, loss_first(logs), rate)


def train_epoch(model, xs, y, batch_size, epoch, epochs):
    """One epoch in fit's compiled loop, on batches cut in the given order, so the batches are the PyTorch
    program's; returns the epoch's sample-weighted mean loss and metrics.

    A tf.data pipeline of plain slices and batches: given arrays, fit would build (and trace) its own
    pipeline on every call, ~60 ms of set-up per epoch.
    """
    batches = tf.data.Dataset.from_tensor_slices((tuple(xs), y)).batch(batch_size)
    callback = EpochProgress(epoch, epochs, len(y), batch_size)
    trained = model.fit(batches, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    return loss_first({key: values[-1] for key, values in trained.history.items()})


def train(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    xs, y = load_data(args.data)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = split_data(shape_inputs(xs), shape_targets(y), args.seed)
    model = compiled_model(args.seed, args.weights)
    if not model.trainable_weights:
        raise SystemExit(f"{MODEL_NAME} has no trainable weights: there is nothing to train")
    history, start_epoch, stopping = {}, 0, {"best": None, "wait": 0}
    timing = []  # seconds per epoch of this run, for throughput; not resumed
    shuffler = np.random.default_rng([args.seed, 1])
    checkpoint_path, state_path, best_path = out / "checkpoint.keras", out / "checkpoint.json", out / "best.safetensors"
    if args.resume:
        model = keras.models.load_model(checkpoint_path)  # safe mode: weights and optimizer state, no code
        state = json.loads(state_path.read_text())
        history, start_epoch, stopping = state["history"], state["epoch"], state["stopping"]
        shuffler.bit_generator.state = state["shuffler"]
        print(f"resumed from {checkpoint_path} after epoch {start_epoch}", file=sys.stderr)
    early = SETTINGS["early_stopping"]
    steps = max(1, -(-len(train_y) // args.batch_size))
    for epoch in range(start_epoch, args.epochs):
        order = shuffler.permutation(len(train_y)) if SETTINGS["shuffle"] else np.arange(len(train_y))
        started = time.perf_counter()
        logs = train_epoch(model, [x[order] for x in train_x], train_y[order], args.batch_size, epoch, args.epochs)
        seen, seconds = len(train_y), time.perf_counter() - started
        timing.append({"train_seconds": seconds, "train_samples": seen})
        if len(val_y):
            logs.update({f"val_{k}": v for k, v in evaluate(model, val_x, val_y, args.batch_size).items()})
        progress(epoch + 1, args.epochs, steps, steps, logs, seen / seconds)
        print(file=sys.stderr)
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        stop = False
        if early:
            value = logs[early["monitor"]]
            mode = early["mode"] if early["mode"] != "auto" else ("max" if "acc" in early["monitor"] else "min")
            if monitor_improved(value, stopping["best"], mode, early["min_delta"]):
                stopping = {"best": value, "wait": 0}
                if early["restore_best_weights"]:
                    save_file(to_canonical(model), str(best_path))
            else:
                stopping["wait"] += 1
                stop = stopping["wait"] > early["patience"]
        model.save(checkpoint_path)
        state = {"history": history, "epoch": epoch + 1, "stopping": stopping, "shuffler": shuffler.bit_generator.state}
        state_path.write_text(json.dumps(state))
        if stop:
            print(f"early stopping after epoch {epoch + 1}: {early['monitor']} did not improve", file=sys.stderr)
            break
    if early and early["restore_best_weights"] and best_path.exists():
        load_canonical(model, load_file(str(best_path)))
    results = {}
    if len(test_y):
        results = {f"test_{k}": v for k, v in evaluate(model, test_x, test_y, args.batch_size).items()}
    save_file(to_canonical(model), str(out / "weights.safetensors"), metadata={"model": MODEL_NAME, "source": SOURCE})
    (out / "history.json").write_text(json.dumps({"history": history, "final": results, "timing": timing}, indent=2))
    plot_history(history, out / "curves.png")
    final = {key: values[-1] for key, values in history.items()} | results
    print("final: " + ", ".join(f"{k}={v:.4f}" for k, v in final.items()))
    print(f"wrote {out / 'weights.safetensors'}, {out / 'history.json'}, {out / 'curves.png'}")
    return final


def main(argv=None):
    parser = argparse.ArgumentParser(description=f"Train {MODEL_NAME} with Keras (generated by dlc from {SOURCE}).")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"], help="epochs to train (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=SETTINGS["batch_size"], help="default: %(default)s")
    parser.add_argument("--out", default=f"runs/{MODEL_NAME}", help="output directory (default: %(default)s)")
    parser.add_argument(
        "--seed", type=int, default=SEED, help="initial weights, split and shuffling (default: %(default)s)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.keras")
    parser.add_argument("--weights", default=None, help="start from these canonical .safetensors weights")
    parser.add_argument("--data", default=None, help="a different data file of the same kind (npz/csv sources)")
    return train(parser.parse_args(argv))


if __name__ == "__main__":
    main()
