"""The PyTorch part of every generated program: the training step, the trainer behind the shared loop
(backends/program/loop.py), and the canonical weight mapping.

Pasted in by source (no user text). Besides torch and numpy it reads what the generator writes around it:
SETTINGS, OPTIMIZER, WEIGHTS, TO_CANONICAL, FROM_CANONICAL, MODEL_CLASS, OPTIMIZER_CLASS, compute_loss,
compute_metrics (each metric's (total, count) on a batch), initial_weights, and `regularization` where the spec
has penalties (the generator drops the `+ regularization(model)` terms when it has none).
"""
# ruff: noqa: F821

# ---------------------------------------------------------------- training


def train_step(model, optimizer, inputs, target):
    """One optimizer step on one batch (the model in training mode); returns the logits and the loss."""
    logits = model(*inputs, logits=True)
    loss = compute_loss(logits, target) + regularization(model)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return logits, loss


def counted(values):
    """A batch's (total, count) of per-element values, for a metric that is their mean over the epoch."""
    return values.sum(), values.numel()


def add_up(sums, batch):
    """Add one batch's (total, count) pairs into the epoch's."""
    for key, (total, count) in batch.items():
        before = sums.get(key, (0.0, 0.0))
        sums[key] = (before[0] + float(total), before[1] + float(count))


def results(sums):
    """Each quantity's total / count over the batches so far (0 where nothing was counted, as Keras' metrics)."""
    return {key: total / count if count else 0.0 for key, (total, count) in sums.items()}


def evaluate(model, xs, y, batch_size):
    """Loss and metrics on a data set, in inference mode and in batches."""
    model.eval()
    sums = {}
    with torch.inference_mode():
        for start in range(0, len(y), batch_size):
            inputs = [torch.from_numpy(x[start : start + batch_size]) for x in xs]
            target = torch.from_numpy(y[start : start + batch_size])
            logits = model(*inputs, logits=True)
            loss = compute_loss(logits, target) + regularization(model)
            batch = {"loss": (loss.item() * len(target), len(target))}
            batch.update(compute_metrics(model.finish(logits), target))
            add_up(sums, batch)
    return results(sums)


class TorchTrainer:
    """The PyTorch side of the training loop: the model, its optimizer and their checkpoint."""

    framework = "PyTorch"
    checkpoint_name = "checkpoint.pt"

    def __init__(self, args):
        torch.manual_seed(args.seed)
        self.model = MODEL_CLASS()
        load_canonical(self.model, read_weights(args.weights) if args.weights else initial_weights(args.seed))
        if not any(parameter.requires_grad for parameter in self.model.parameters()):
            raise SystemExit(f"{SETTINGS['model']} has no trainable weights: there is nothing to train")
        self.optimizer = OPTIMIZER_CLASS(self.model.parameters(), **OPTIMIZER)

    def train_epoch(self, xs, y, order, batch_size, epoch, epochs):
        """One epoch on batches cut in `order`; the sample-weighted mean loss, and the metrics over the epoch."""
        self.model.train()
        steps = max(1, -(-len(y) // batch_size))
        sums, seen, started = {}, 0, time.perf_counter()
        for step in range(steps):
            index = order[step * batch_size : (step + 1) * batch_size]
            inputs = [torch.from_numpy(x[index]) for x in xs]
            target = torch.from_numpy(y[index])
            logits, loss = train_step(self.model, self.optimizer, inputs, target)
            with torch.no_grad():
                batch = {"loss": (loss.item() * len(index), len(index))}
                batch.update(compute_metrics(self.model.finish(logits.detach()), target))
            add_up(sums, batch)
            seen += len(index)
            if step % 10 == 0 or step == steps - 1:
                rate = seen / (time.perf_counter() - started)
                progress(epoch + 1, epochs, step + 1, steps, results(sums), rate)
        return results(sums)

    def evaluate(self, xs, y, batch_size):
        return evaluate(self.model, xs, y, batch_size)

    def weights(self):
        return to_canonical(self.model)

    def load_weights(self, tensors):
        load_canonical(self.model, tensors)

    def learning_rate(self):
        """The learning rate as Keras holds it: a float32 value."""
        return float(np.float32(self.optimizer.param_groups[0]["lr"]))

    def set_learning_rate(self, value):
        """A new learning rate, rounded to float32 as Keras' learning-rate variable holds it."""
        for group in self.optimizer.param_groups:
            group["lr"] = float(np.float32(value))

    def save_checkpoint(self, folder, state):
        model, optimizer = self.model.state_dict(), self.optimizer.state_dict()
        checkpoint = state | {"model": model, "optimizer": optimizer, "torch_rng": torch.get_rng_state()}
        replace_atomically(folder / self.checkpoint_name, lambda partial: torch.save(checkpoint, partial))

    def load_checkpoint(self, folder):
        checkpoint = torch.load(folder / self.checkpoint_name, weights_only=True)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        torch.set_rng_state(checkpoint["torch_rng"])
        return checkpoint


def main(argv=None):
    return run_training(argv, TorchTrainer, SETTINGS)


# ---------------------------------------------------------------- canonical weights


def to_canonical(model):
    """The model's weights as canonical `LAYER.WEIGHT` arrays in Keras layouts."""
    state = model.state_dict()
    tensors = {}
    for key, torch_key, transform, *_ in WEIGHTS:
        value = state[torch_key].detach().cpu().numpy()
        tensors[key] = np.ascontiguousarray(TO_CANONICAL[transform](value), dtype=np.float32)
    return tensors


def load_canonical(model, tensors):
    """Load canonical arrays into the model, converting each to torch's layout."""
    expected = {key for key, *_ in WEIGHTS}
    missing, unexpected = expected - set(tensors), set(tensors) - expected
    if missing or unexpected:
        raise SystemExit(
            f"weights do not fit {SETTINGS['model']}: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    state = model.state_dict()
    with torch.no_grad():
        for key, torch_key, transform, *_ in WEIGHTS:
            value = torch.from_numpy(np.ascontiguousarray(FROM_CANONICAL[transform](tensors[key])))
            if tuple(value.shape) != tuple(state[torch_key].shape):
                raise SystemExit(f"{key}: expected {list(state[torch_key].shape)}, got {list(value.shape)}")
            state[torch_key].copy_(value)
