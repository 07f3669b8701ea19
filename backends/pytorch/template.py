"""The static part of every generated PyTorch program: canonical weights, the training loop, the options.

Pasted verbatim (no user text) after the emitted constants and model and backends/program_common.py; it
reads the module-level names MODEL_CLASS, MODEL_NAME, SOURCE, SETTINGS, OPTIMIZER, OPTIMIZER_CLASS, WEIGHTS,
SEED and the emitted functions compute_loss, compute_metrics, regularization, initial_weights.
"""
# ruff: noqa: F821

# ---------------------------------------------------------------- canonical weights


def to_canonical(model):
    """The model's weights as canonical `LAYER.WEIGHT` arrays in Keras layouts."""
    state = model.state_dict()
    tensors = {}
    for key, torch_key, transform in WEIGHTS:
        value = state[torch_key].detach().cpu().numpy()
        tensors[key] = np.ascontiguousarray(TO_CANONICAL[transform](value), dtype=np.float32)
    return tensors


def load_canonical(model, tensors):
    """Load canonical arrays into the model, converting each to torch's layout."""
    expected = {key for key, _, _ in WEIGHTS}
    missing, unexpected = expected - set(tensors), set(tensors) - expected
    if missing or unexpected:
        raise SystemExit(f"weights do not fit {MODEL_NAME}: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    state = model.state_dict()
    with torch.no_grad():
        for key, torch_key, transform in WEIGHTS:
            value = torch.from_numpy(np.ascontiguousarray(FROM_CANONICAL[transform](tensors[key])))
            if tuple(value.shape) != tuple(state[torch_key].shape):
                raise SystemExit(f"{key}: expected {list(state[torch_key].shape)}, got {list(value.shape)}")
            state[torch_key].copy_(value)


TO_CANONICAL = {
    "same": lambda a: a,
    "transpose": lambda a: a.T,
    "conv1d": lambda a: a.transpose(2, 1, 0),
    "conv2d": lambda a: a.transpose(2, 3, 1, 0),
}
FROM_CANONICAL = {
    "same": lambda a: a,
    "transpose": lambda a: a.T,
    "conv1d": lambda a: a.transpose(2, 1, 0),
    "conv2d": lambda a: a.transpose(3, 2, 0, 1),
}

# ---------------------------------------------------------------- training


def evaluate(model, xs, y, batch_size):
    """Loss and metrics on a data set, in inference mode and in batches."""
    model.eval()
    totals, count = {}, 0
    with torch.inference_mode():
        for start in range(0, len(y), batch_size):
            inputs = [torch.from_numpy(x[start : start + batch_size]) for x in xs]
            target = torch.from_numpy(y[start : start + batch_size])
            logits = model(*inputs, logits=True)
            logs = {"loss": (compute_loss(logits, target) + regularization(model)).item()}
            logs.update(compute_metrics(model.finish(logits), target))
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + float(value) * len(target)
            count += len(target)
    return {key: value / count for key, value in totals.items()}


def train_step(model, optimizer, inputs, target):
    """One optimizer step on one batch (the model in training mode); returns the logits and the loss."""
    logits = model(*inputs, logits=True)
    loss = compute_loss(logits, target) + regularization(model)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return logits, loss


def train(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    xs, y = load_data(args.data)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = split_data(shape_inputs(xs), shape_targets(y), args.seed)
    model = MODEL_CLASS()
    load_canonical(model, load_file(args.weights) if args.weights else initial_weights(args.seed))
    if not any(parameter.requires_grad for parameter in model.parameters()):
        raise SystemExit(f"{MODEL_NAME} has no trainable weights: there is nothing to train")
    optimizer = OPTIMIZER_CLASS(model.parameters(), **OPTIMIZER)
    history, start_epoch, stopping = {}, 0, {"best": None, "wait": 0, "weights": None}
    timing = []  # seconds per epoch of this run, for throughput; not resumed
    shuffler = np.random.default_rng([args.seed, 1])
    checkpoint_path = out / "checkpoint.pt"
    if args.resume:
        checkpoint = torch.load(checkpoint_path, weights_only=True)
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        history, start_epoch = checkpoint["history"], checkpoint["epoch"]
        stopping = checkpoint["stopping"]
        shuffler.bit_generator.state = checkpoint["shuffler"]
        torch.set_rng_state(checkpoint["torch_rng"])
        print(f"resumed from {checkpoint_path} after epoch {start_epoch}", file=sys.stderr)
    early = SETTINGS["early_stopping"]
    steps = max(1, -(-len(train_y) // args.batch_size))
    for epoch in range(start_epoch, args.epochs):
        model.train()
        order = shuffler.permutation(len(train_y)) if SETTINGS["shuffle"] else np.arange(len(train_y))
        totals, seen, started = {}, 0, time.perf_counter()
        for step in range(steps):
            index = order[step * args.batch_size : (step + 1) * args.batch_size]
            inputs = [torch.from_numpy(x[index]) for x in train_x]
            target = torch.from_numpy(train_y[index])
            logits, loss = train_step(model, optimizer, inputs, target)
            with torch.no_grad():
                logs = {"loss": loss.detach()}
                logs.update(compute_metrics(model.finish(logits.detach()), target))
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + float(value) * len(index)
            seen += len(index)
            if step % 10 == 0 or step == steps - 1:
                rate = seen / (time.perf_counter() - started)
                progress(epoch + 1, args.epochs, step + 1, steps, {k: v / seen for k, v in totals.items()}, rate)
        seconds = time.perf_counter() - started
        timing.append({"train_seconds": seconds, "train_samples": seen})
        logs = {key: value / seen for key, value in totals.items()}
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
                stopping = {
                    "best": value,
                    "wait": 0,
                    "weights": model.state_dict() if early["restore_best_weights"] else None,
                }
            else:
                stopping["wait"] += 1
                stop = stopping["wait"] > early["patience"]
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "history": history,
                "epoch": epoch + 1,
                "stopping": stopping,
                "shuffler": shuffler.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
            },
            checkpoint_path,
        )
        if stop:
            print(f"early stopping after epoch {epoch + 1}: {early['monitor']} did not improve", file=sys.stderr)
            break
    if early and early["restore_best_weights"] and stopping["weights"] is not None:
        model.load_state_dict(stopping["weights"])
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
    parser = argparse.ArgumentParser(description=f"Train {MODEL_NAME} (generated by dlc from {SOURCE}).")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"], help="epochs to train (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=SETTINGS["batch_size"], help="default: %(default)s")
    parser.add_argument("--out", default=f"runs/{MODEL_NAME}", help="output directory (default: %(default)s)")
    parser.add_argument(
        "--seed", type=int, default=SEED, help="initial weights, split and shuffling (default: %(default)s)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--weights", default=None, help="start from these canonical .safetensors weights")
    parser.add_argument("--data", default=None, help="a different data file of the same kind (npz/csv sources)")
    return train(parser.parse_args(argv))


if __name__ == "__main__":
    main()
