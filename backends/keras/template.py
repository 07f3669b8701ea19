"""The Keras part of every generated program: the compiled model, fit's epoch on the shared batch order, the
trainer behind the shared loop (backends/program/loop.py), and the canonical weight mapping.

Pasted in by source (no user text). Besides keras, tensorflow and numpy it reads what the generator writes
before it: SETTINGS, WEIGHTS, build_model, build_optimizer, build_loss, METRICS and initial_weights.
"""
# ruff: noqa: F821

# ---------------------------------------------------------------- training


def compiled_model(seed, weights_path=None):
    """The model from canonical weights (the seed's initial ones without a path), compiled for training."""
    model = build_model()
    load_canonical(model, read_weights(weights_path) if weights_path else initial_weights(seed))
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


class KerasTrainer:
    """The Keras side of the training loop: the compiled model and its checkpoint, one checkpoint.keras holding
    the model, the optimizer's state and (as dlc_state.json inside the archive) the loop's state."""

    framework = "Keras"
    checkpoint_name = "checkpoint.keras"

    def __init__(self, args):
        keras.utils.set_random_seed(args.seed)
        self.model = compiled_model(args.seed, args.weights)
        if not self.model.trainable_weights:
            raise SystemExit(f"{SETTINGS['model']} has no trainable weights: there is nothing to train")

    def train_epoch(self, xs, y, order, batch_size, epoch, epochs):
        return train_epoch(self.model, [x[order] for x in xs], y[order], batch_size, epoch, epochs)

    def evaluate(self, xs, y, batch_size):
        return evaluate(self.model, xs, y, batch_size)

    def weights(self):
        return to_canonical(self.model)

    def load_weights(self, tensors):
        load_canonical(self.model, tensors)

    def learning_rate(self):
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def set_learning_rate(self, value):
        self.model.optimizer.learning_rate = value  # a float32 variable, as Keras' ReduceLROnPlateau sets it

    def save_checkpoint(self, folder, state):
        seeds = {name: generator.state.numpy().tolist() for name, generator in seed_generators(self.model)}

        def write(partial):
            self.model.save(partial)
            with zipfile.ZipFile(partial, "a") as archive:
                archive.writestr("dlc_state.json", json.dumps(state | {"seed_generators": seeds}))

        replace_atomically(folder / self.checkpoint_name, write)

    def load_checkpoint(self, folder):
        path = folder / self.checkpoint_name
        self.model = keras.models.load_model(path)  # safe mode: weights and optimizer state, no code
        with zipfile.ZipFile(path) as archive:
            state = json.loads(archive.read("dlc_state.json"))
        seeds = state.pop("seed_generators")
        for name, generator in seed_generators(self.model):  # Dropout's random stream goes on where it stopped
            generator.state.assign(np.asarray(seeds[name], dtype=generator.state.dtype))
        return state


def seed_generators(model):
    """(layer path, its SeedGenerator) for each layer that draws random numbers (Dropout); a saved model
    keeps their weights but not where their random streams were."""
    for layer in model._flatten_layers():
        for attribute, value in vars(layer).items():
            if isinstance(value, keras.random.SeedGenerator):
                yield f"{layer.path}/{attribute}", value


def main(argv=None):
    return run_training(argv, KerasTrainer, SETTINGS)


# ---------------------------------------------------------------- canonical weights


def weight_variables(model):
    """Canonical key -> the Keras variable that holds it."""
    return {key: model.get_layer(layer).weights[index] for key, layer, index, *_ in WEIGHTS}


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
        raise SystemExit(
            f"weights do not fit {SETTINGS['model']}: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    for key, variable in variables.items():
        value = np.asarray(tensors[key])
        if tuple(value.shape) != tuple(variable.shape):
            raise SystemExit(f"{key}: expected {list(variable.shape)}, got {list(value.shape)}")
        variable.assign(value.astype(variable.dtype))
