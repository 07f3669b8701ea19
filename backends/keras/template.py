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
    load_canonical(model, read_weights(weights_path) if weights_path else initial_weights(seed), weights_path)
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
    """The Keras side of the training loop in one process: fit's compiled step, and one checkpoint.keras holding
    the model, the optimizer's state and (as dlc_state.json inside the archive) the loop's state."""

    framework = "Keras"
    checkpoint_name = "checkpoint.keras"
    devices = "auto, cpu, gpu or gpu:N (cuda and cuda:N alike)"
    auto_device = "TensorFlow's own placement"
    chief = True  # one process: it prints and writes

    def __init__(self, args):
        where = place_and_thread(args.device, args.threads or default_threads())
        print(f"training on {where}", file=sys.stderr)
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
        return self.restore(path) if path.is_file() else None

    def restore(self, path):
        """Model, optimizer and Dropout's random streams from a checkpoint file; the loop's state."""
        if not zipfile.is_zipfile(path):  # Keras would say "File not found" of a file that is there
            raise ValueError("not a .keras archive (a zip file): damaged, or not written by this program")
        loaded = keras.models.load_model(path)  # safe mode: weights and optimizer state, no code
        if layout(loaded) != layout(self.model):  # Keras loads any model's archive, and would train that model
            raise ValueError(f"it holds model '{loaded.name}' with other layers or shapes, not this program's")
        self.model = loaded
        with zipfile.ZipFile(path) as archive:
            state = json.loads(archive.read("dlc_state.json"))
        seeds = state.pop("seed_generators")
        for name, generator in seed_generators(self.model):  # Dropout's random stream goes on where it stopped
            generator.state.assign(np.asarray(seeds[name], dtype=generator.state.dtype))
        return state

    def shared_file(self, path):
        return path.read_bytes() if path.is_file() else None

    def stop_on(self, error):
        pass  # one process loses no worker

    def finish(self):
        pass


def place_and_thread(device, threads, worker=None):
    """Apply --device and --threads to TensorFlow; returns where it trains, in words.

    TensorFlow takes both only before its runtime starts (the first operation); a later run in the same
    process (the test suite trains in-process many times) keeps the first run's threads, and may only ask
    for the devices it already sees. `--threads` sets the threads one operation uses (intra-op, the pool whose
    threads spin); the pool that runs operations side by side (inter-op) keeps TensorFlow's default: with one
    thread there, measured, half the `fit` calls (one an epoch) stalled 200-300 ms at their end, waiting for
    it. On several workers each trains on one device:
    with `auto` or `gpu` and several GPUs, worker k of a machine (LOCAL_RANK, else its place in TF_CONFIG)
    takes GPU k modulo their count."""
    kind, _, number = device.lower().partition(":")
    kind = "gpu" if kind == "cuda" else kind
    if kind not in ("auto", "cpu", "gpu") or (number and (kind != "gpu" or not number.isdigit())):
        raise SystemExit(f"--device {device}: expected {KerasTrainer.devices}")
    gpus = tf.config.list_physical_devices("GPU")
    if kind == "gpu" and not gpus:
        raise SystemExit(f"--device {device}: TensorFlow sees no GPU here (tensorflow-cpu has none); use cpu or auto")
    if number and int(number) >= len(gpus):
        raise SystemExit(f"--device {device}: TensorFlow sees {len(gpus)} GPU(s), numbered from 0")
    if kind == "cpu" or not gpus:
        visible = []
    elif number:
        visible = [gpus[int(number)]]
    elif worker is None:
        visible = gpus  # one process, auto: TensorFlow's own placement
    else:
        visible = [gpus[int(os.environ.get("LOCAL_RANK", worker)) % len(gpus)]]
    try:
        tf.config.set_visible_devices(visible, "GPU")
    except RuntimeError:  # started already, with other devices
        seen = ", ".join(gpu.name for gpu in tf.config.get_visible_devices("GPU")) or "none"
        raise SystemExit(
            f"--device {device}: TensorFlow started in this process with the GPUs {seen}; run it in a new process"
        ) from None
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # started already: it keeps its threads (0: TensorFlow's default, one per core)
        threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    if not visible:
        return f"cpu, {threads} CPU thread(s)"  # as the PyTorch program says it
    tf.config.experimental.enable_tensor_float_32_execution(False)  # float32 as on the CPU and in PyTorch
    name = tf.config.experimental.get_device_details(visible[0]).get("device_name", "")
    gpu = visible[0].name.removeprefix("/physical_device:").lower() + (f" ({name})" if name else "")
    return f"{gpu}, {threads} CPU thread(s)"


def worker_cluster():
    """The workers TF_CONFIG names and this worker's place among them, or None without TF_CONFIG.

    The places are MultiWorkerMirroredStrategy's: the chief first (when the cluster lists one), then the workers
    by index; place 0 is the chief, which prints and writes. Each worker is named as "worker 1 (host:port)"."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        named = [
            (job, index, address) for job in ("chief", "worker") for index, address in enumerate(cluster.get(job, []))
        ]
        place = [(job, index) for job, index, _ in named].index((task["type"], int(task["index"])))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SystemExit(
            f"TF_CONFIG: expected a cluster of chief and worker tasks and this task in it: {error}"
        ) from None
    if set(cluster) - {"chief", "worker"}:
        others = ", ".join(sorted(set(cluster) - {"chief", "worker"}))
        raise SystemExit(f"TF_CONFIG: this program trains on chief and worker tasks only, not {others}")
    return [f"{job} {index} ({address})" for job, index, address in named], place


# How long one collective may wait for the other workers before this worker gives up: longer than any worker
# may lag (tracing its step, the chief writing its files). A killed worker is found sooner (measured on
# loopback: 2-3 s when a collective finds its connection closed, else ~10 s, by TensorFlow's heartbeats).
COLLECTIVE_TIMEOUT_SECONDS = 120
# Worker k's Dropout draws from the seeds of the chief's stream with k * this added to the first word, a
# different Philox key, so the workers' masks are their own; the chief's stream is one process's.
STREAM_STRIDE = 0x9E3779B9


class DistributedKerasTrainer(KerasTrainer):
    """The Keras side of the training loop on several workers (TF_CONFIG names them): data-parallel under
    MultiWorkerMirroredStrategy, every worker holding the whole data and cutting the same batches.

    Not fit: Keras 3's fit fails under this strategy (keras issue #20585, "Attempt to convert a value
    (PerReplica...)"). Its own step is fit's train_step made to update as one process does:
    - worker r of W trains on `batch[r*n//W : (r+1)*n//W]` of each global batch of n samples (cut inside the
      traced step, so every worker traces the same function once and their collectives stay in step); its loss
      is its samples' summed loss over the global batch's count, plus the penalties / W (Keras' own loss is
      each worker's mean / W, which weighs an uneven cut wrongly);
    - the gradients are summed over the workers before the optimizer clips them (Keras sums them after, inside
      `apply`, clipping each worker's part: its own sum is switched off); an Embedding's gradient stays rows,
      gathered from every worker, as one process's optimizer sees them;
    - BatchNormalization normalises with the global batch's statistics (global_moments);
    - each worker draws its own Dropout masks.
    Loss and metrics are fit's: its loss tracker and compiled metrics, whose variables (synchronized on read)
    add up over the workers when read. Keras' own parts it reaches into, read in Keras 3.15.1's sources:
    `Model._symbolic_build`, `_loss_tracker`, the optimizer's `_all_reduce_sum_gradients` and
    BatchNormalization's `_moments`.
    """

    def __init__(self, args):
        self.workers, self.place = worker_cluster()
        self.chief = self.place == 0
        refusal = None
        try:
            where = place_and_thread(args.device, args.threads or default_threads(), worker=self.place)
        except SystemExit as refused:  # said once joined: the others would wait for this worker indefinitely
            refusal = refused
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS)
        self.strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        if refusal:
            raise refusal
        if self.chief:
            print(f"training on {where}, {len(self.workers)} workers", file=sys.stderr)
        keras.utils.set_random_seed(args.seed)
        try:  # creating variables is a collective (the chief's values go to all): the loop's stop_on is not yet
            with self.strategy.scope():
                self.model = compiled_model(args.seed, args.weights)
        except tf.errors.OpError as error:
            self.stop_on(error)
            raise
        if not self.model.trainable_weights:
            raise SystemExit(f"{SETTINGS['model']} has no trainable weights: there is nothing to train")
        self.prepare()

    def prepare(self):
        """Make the (new or reloaded) model train as one process: BatchNormalization over the global batch, the
        gradients summed before the optimizer, this worker's own random streams; steps traced afresh."""
        for layer in self.model._flatten_layers():
            if isinstance(layer, keras.layers.BatchNormalization):
                layer._moments = global_moments(layer)
        self.model.optimizer._all_reduce_sum_gradients = list  # the step has summed them, before clipping
        for _, generator in seed_generators(self.model):
            state = generator.state.numpy().astype(np.int64)
            state[0] = (state[0] + self.place * STREAM_STRIDE) % 2**32
            # a plain variable of this worker (created outside the strategy's scope): a mirrored one would be
            # the same on every worker
            generator.state = keras.Variable(state.astype(np.uint32), trainable=False, name="seed_generator_state")
        self.per_element_loss = build_loss()
        self.per_element_loss.reduction = None
        self.traced = {}  # the steps (by `training`) and sum_over_workers' function

    def step(self, training, xs, y):
        """The traced step on one global batch (training or evaluating), for batches shaped like xs and y."""
        if training not in self.traced:
            with self.strategy.scope():  # what is not built yet (metrics, optimizer state), as fit builds it
                self.model._symbolic_build(data_batch=(tuple(x[:1] for x in xs), y[:1], None))
            signature = (
                [tf.TensorSpec((None, *x.shape[1:]), x.dtype) for x in xs],
                tf.TensorSpec((None, *y.shape[1:]), y.dtype),
            )
            replica_step = self.replica_train_step if training else self.replica_test_step

            @tf.function(input_signature=signature)
            def step(inputs, target):
                self.strategy.run(replica_step, args=(inputs, target))

            self.traced[training] = step
        return self.traced[training]

    def own_part(self, inputs, target):
        """This replica's contiguous part of the global batch, and the global batch's size."""
        context = tf.distribute.get_replica_context()
        size = tf.shape(target)[0]
        place, workers = context.replica_id_in_sync_group, context.num_replicas_in_sync
        begin, end = place * size // workers, (place + 1) * size // workers
        return [x[begin:end] for x in inputs], target[begin:end], size

    def part_loss(self, target, prediction):
        """This part's summed loss and its number of samples (one process's loss is the mean over the
        loss's elements: each sample has the same number of them)."""
        values = self.per_element_loss(target, prediction)
        per_sample = tf.cast(tf.reduce_prod(tf.shape(values)[1:]), values.dtype)
        return tf.reduce_sum(values) / per_sample, tf.shape(values)[0]

    def penalty(self):
        return (
            tf.add_n([tf.cast(tf.reduce_sum(loss), "float32") for loss in self.model.losses])
            if self.model.losses
            else 0.0
        )

    def record(self, summed, count, penalty, inputs, target, prediction):
        """Fit's loss (the batch's loss with penalties, weighted by its samples) and compiled metrics, on this
        part: both add up over the workers when read."""
        count = tf.cast(count, summed.dtype)
        self.model._loss_tracker.update_state(tf.math.divide_no_nan(summed, count) + penalty, sample_weight=count)
        self.model.compute_metrics(inputs, target, prediction, sample_weight=None)

    def replica_train_step(self, inputs, target):
        inputs, target, size = self.own_part(inputs, target)
        model = self.model
        with tf.GradientTape() as tape:
            prediction = model(inputs, training=True)
            summed, count = self.part_loss(target, prediction)
            penalty = self.penalty()
            workers = tf.distribute.get_replica_context().num_replicas_in_sync
            loss = summed / tf.cast(size, summed.dtype) + penalty / workers
        variables = model.trainable_weights
        gradients = tape.gradient(loss, variables)
        pairs = [
            (gradient, variable)
            for gradient, variable in zip(gradients, variables, strict=True)
            if gradient is not None
        ]
        summed_gradients = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, [gradient for gradient, _ in pairs]
        )
        model.optimizer.apply(summed_gradients, [variable for _, variable in pairs])
        self.record(summed, count, penalty, inputs, target, prediction)

    def replica_test_step(self, inputs, target):
        inputs, target, _ = self.own_part(inputs, target)
        prediction = self.model(inputs, training=False)
        summed, count = self.part_loss(target, prediction)
        self.record(summed, count, self.penalty(), inputs, target, prediction)

    def results(self):
        """The loss and metrics so far, summed over the workers (a collective: every worker reads)."""
        return loss_first(self.model.get_metrics_result())

    def run_batches(self, training, xs, y, order, batch_size, shown=None):
        step = self.step(training, xs, y)
        self.model.reset_metrics()
        steps = max(1, -(-len(order) // batch_size))
        started = time.perf_counter()
        for k in range(steps):
            index = order[k * batch_size : (k + 1) * batch_size]
            step([x[index] for x in xs], y[index])
            if shown and k % 10 == 0 and k < steps - 1:  # as EpochProgress; the loop prints the last line
                logs = self.results()
                if self.chief:
                    rate = (k + 1) * batch_size / (time.perf_counter() - started)
                    progress(shown[0] + 1, shown[1], k + 1, steps, logs, rate)
        return self.results()

    def train_epoch(self, xs, y, order, batch_size, epoch, epochs):
        return self.run_batches(True, xs, y, order, batch_size, shown=(epoch, epochs))

    def evaluate(self, xs, y, batch_size):
        return self.run_batches(False, xs, y, np.arange(len(y)), batch_size)

    def stop_on(self, error):
        """End the run with one line when `error` is a collective that failed because a worker was lost (killed,
        or silent past TensorFlow's heartbeats or COLLECTIVE_TIMEOUT_SECONDS), naming it when TensorFlow does."""
        lost = (
            tf.errors.UnavailableError,
            tf.errors.DeadlineExceededError,
            tf.errors.AbortedError,
            tf.errors.CancelledError,
        )
        if not isinstance(error, lost):
            return
        resume = "--resume continues from the last checkpoint"
        for peer in str(error).split("/job:")[1:]:  # TensorFlow names tasks /job:worker/replica:0/task:1
            job, _, rest = peer.partition("/replica:")
            index = rest.partition("/task:")[2].split()[0].rstrip(":,;.") if "/task:" in rest else ""
            named = [k for k, name in enumerate(self.workers) if name.startswith(f"{job} {index} (")]
            if named and named[0] != self.place:
                raise SystemExit(f"training stopped: lost {self.workers[named[0]]}; {resume}") from None
        raise SystemExit(f"training stopped: lost a worker ({type(error).__name__}); {resume}") from None

    def save_checkpoint(self, folder, state):
        """The chief writes the checkpoint, alone: saving reads each worker's own copy of the variables (no
        collective; measured: the others skipping it leaves the chief to save and go on)."""
        if self.chief:
            super().save_checkpoint(folder, state)

    def load_checkpoint(self, folder):
        """The chief's checkpoint, sent to every worker (shared_file), loaded from a file of each worker's own."""
        data = self.shared_file(folder / self.checkpoint_name)
        if data is None:
            return None
        with tempfile.TemporaryDirectory(prefix="dlc-checkpoint-") as scratch:
            path = Path(scratch) / self.checkpoint_name
            path.write_bytes(data)
            with self.strategy.scope():
                state = self.restore(path)
        self.prepare()
        return state

    def shared_file(self, path):
        """The chief's file at `path` on every worker, None on all when it has none: its length, then its bytes
        (three to a float32), summed over the workers with zeros from all but the chief, so that the workers need
        no shared folder."""
        data, status = None, 0
        if self.chief:
            try:
                data, status = path.read_bytes(), 1
            except FileNotFoundError:
                status = 2
            except OSError as error:
                status, problem = 3, error
        try:
            length = len(data) if data is not None else 0
            header = self.sum_over_workers(np.array([status, length % 2**24, length // 2**24], np.float32))
            status, length = int(header[0]), int(header[1]) + int(header[2]) * 2**24
            if status == 2:
                return None
            if status == 3:
                raise SystemExit(
                    f"{path}: the chief cannot read it: {problem}"
                    if self.chief
                    else f"{path}: the chief cannot read it"
                )
            words = np.zeros(-(-length // 3), np.float32)
            if self.chief:
                padded = np.frombuffer(data + bytes(-length % 3), np.uint8).reshape(-1, 3).astype(np.uint32)
                words = (padded[:, 0] | padded[:, 1] << 8 | padded[:, 2] << 16).astype(np.float32)
            words = self.sum_over_workers(words).astype(np.uint32)
        except tf.errors.OpError as error:  # within load_checkpoint the loop would blame the file
            self.stop_on(error)
            raise
        return np.stack([words & 255, words >> 8 & 255, words >> 16], axis=1).astype(np.uint8).tobytes()[:length]

    def sum_over_workers(self, values):
        """float32 `values` summed over the workers (a collective: every worker calls it, in the same order).
        Whole numbers below 2**24 sum exactly."""
        if "sum" not in self.traced:

            def replica_sum(tensor):  # tf.identity places the tensor on the replica's device, as all_reduce needs
                return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, tf.identity(tensor))

            @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
            def summed(tensor):
                return self.strategy.run(replica_sum, args=(tensor,))

            self.traced["sum"] = summed
        result = self.traced["sum"](tf.constant(values, tf.float32))
        return self.strategy.experimental_local_results(result)[0].numpy()

    def finish(self):
        pass


def global_moments(layer):
    """BatchNormalization's `_moments` over the global batch, in two passes as one process's tf.nn.moments:
    the mean, then the mean squared distance from it, each summed over the workers.

    Keras' own (`synchronized=True`) takes E[x^2] - E[x]^2 in one pass, which cancels: measured on 64 float32
    samples, its variance was 8.8e-6 relative off for values of mean 3 and deviation 1 (5.7e-3 for mean 10,
    deviation 0.1), two passes 1.5e-7 or less. The programs' layers pass no mask."""
    axes = layer._reduction_axes

    def moments(inputs, mask):
        context = tf.distribute.get_replica_context()
        count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(inputs), axes)), inputs.dtype)
        total, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [tf.reduce_sum(inputs, axes), count])
        mean = tf.math.divide_no_nan(total, count)
        distance = tf.reduce_sum(tf.math.squared_difference(inputs, tf.stop_gradient(mean)), axes)
        return mean, tf.math.divide_no_nan(context.all_reduce(tf.distribute.ReduceOp.SUM, distance), count)

    return moments


def seed_generators(model):
    """(a key, its SeedGenerator) for each layer that draws random numbers (Dropout); a saved model keeps
    their weights but not where their random streams were. The key holds the layer's place in the model (a
    Dropout has no path, and two of them must not share a key) and its name."""
    for place, layer in enumerate(model._flatten_layers()):
        for attribute, value in vars(layer).items():
            if isinstance(value, keras.random.SeedGenerator):
                yield f"{place}:{layer.name}/{attribute}", value


def layout(model):
    """The model's name and each layer's name, class and weight shapes: what a checkpoint of it must match."""
    layers = [(layer.name, type(layer).__name__, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]
    return model.name, layers


def main(argv=None):
    """Train in this process, or as one of the workers TF_CONFIG names (more than one)."""
    cluster = worker_cluster()
    trainer = DistributedKerasTrainer if cluster and len(cluster[0]) > 1 else KerasTrainer
    return run_training(argv, trainer, SETTINGS)


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


def load_canonical(model, tensors, source=None):
    """Assign canonical arrays (from the file `source`, if any) to the model's variables."""
    variables = weight_variables(model)
    missing, unexpected = set(variables) - set(tensors), set(tensors) - set(variables)
    if missing or unexpected:
        where = f"{source}: " if source else ""
        raise SystemExit(
            f"{where}weights do not fit {SETTINGS['model']}: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    for key, variable in variables.items():
        value = np.asarray(tensors[key])
        if tuple(value.shape) != tuple(variable.shape):
            raise SystemExit(f"{key}: expected {list(variable.shape)}, got {list(value.shape)}")
        variable.assign(value.astype(variable.dtype))
