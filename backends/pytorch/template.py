"""The PyTorch part of every generated program: the training step, the trainer behind the shared loop
(backends/program/loop.py), and the canonical weight mapping.

Pasted in by source (no user text). Besides torch and numpy it reads what the generator writes around it:
SETTINGS, OPTIMIZER, WEIGHTS, TO_CANONICAL, FROM_CANONICAL, MODEL_CLASS, OPTIMIZER_CLASS, compute_loss,
compute_metrics (each metric's (total, count) on a batch), initial_weights, and `regularization` where the spec
has penalties (the generator drops the `+ regularization(model)` terms when it has none).
"""
# ruff: noqa: F821

# ---------------------------------------------------------------- training


def train_step(network, model, optimizer, inputs, target, share, workers):
    """One optimizer step on this worker's part of a global batch (the model in training mode); returns the
    logits and the loss of these samples.

    `network` is the model, or its DistributedDataParallel wrapper, which averages the workers' gradients.
    `share` weighs this worker's loss so that the average is one process's gradient: this worker's samples
    over the global batch's, times the number of workers (1.0 in one process, and then the step is exactly the
    unweighted one). A worker without samples (a last batch shorter than the workers) still takes part, with
    a zero loss.
    """
    logits = network(*inputs, logits=True)
    loss = (compute_loss(logits, target) if len(target) else logits.sum() * 0.0) + regularization(model)
    optimizer.zero_grad(set_to_none=True)
    (loss * share).backward()
    workers.gather_rows(model)
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


def batch_figures(model, logits, loss, target):
    """A batch's (total, count) of the loss and of each metric, from its logits and its loss."""
    figures = {"loss": (loss.item() * len(target) if len(target) else 0.0, len(target))}
    figures.update(compute_metrics(model.finish(logits), target))
    return figures


def evaluate(model, xs, y, batch_size, workers):
    """Loss and metrics on a data set, in inference mode and in batches (each cut among the workers as in
    training, the figures summed over all of them)."""
    model.eval()
    sums = {}
    with torch.inference_mode():
        for start in range(0, len(y), batch_size):
            index = workers.part(np.arange(start, min(start + batch_size, len(y))))
            inputs = [workers.place(x[index]) for x in xs]
            target = workers.place(y[index])
            logits = model(*inputs, logits=True)
            loss = (compute_loss(logits, target) if len(target) else logits.sum() * 0.0) + regularization(model)
            add_up(sums, batch_figures(model, logits, loss, target))
    return results(workers.summed(sums))


class TorchTrainer:
    """The PyTorch side of the training loop: the model on its device, its optimizer and their checkpoint,
    alone or as one of torchrun's workers."""

    framework = "PyTorch"
    checkpoint_name = "checkpoint.pt"
    devices = "auto, cpu, cuda or cuda:N"
    auto_device = "CUDA when available"

    def __init__(self, args):
        torch.set_num_threads(args.threads or default_threads())
        self.workers = Workers.join(args.device)
        self.chief, self.seed = self.workers.rank == 0, args.seed
        torch.manual_seed(args.seed)
        self.model = MODEL_CLASS()
        tensors = read_weights(args.weights) if args.weights else initial_weights(args.seed)
        load_canonical(self.model, tensors, args.weights)
        if not any(parameter.requires_grad for parameter in self.model.parameters()):
            raise SystemExit(f"{SETTINGS['model']} has no trainable weights: there is nothing to train")
        self.model.to(self.workers.device)
        self.network = self.workers.wrap(self.model)
        self.optimizer = OPTIMIZER_CLASS(self.model.parameters(), **OPTIMIZER)
        if self.chief:
            print(f"training on {self.workers}", file=sys.stderr)

    def train_epoch(self, xs, y, order, batch_size, epoch, epochs):
        """One epoch on global batches cut in `order`, this worker taking its part of each; the sample-weighted
        mean loss, and the metrics over the epoch, over every worker's samples."""
        self.model.train()
        # Dropout's masks: a stream per epoch and worker, so that a resumed run draws the ones it would have
        torch.manual_seed(int(np.random.SeedSequence([self.seed, epoch, self.workers.rank]).generate_state(1)[0]))
        steps = max(1, -(-len(y) // batch_size))
        sums, seen, started = {}, 0, time.perf_counter()
        for step in range(steps):
            batch = order[step * batch_size : (step + 1) * batch_size]
            index = self.workers.part(batch)
            inputs = [self.workers.place(x[index]) for x in xs]
            target = self.workers.place(y[index])
            share = len(index) * self.workers.count / len(batch)
            logits, loss = train_step(self.network, self.model, self.optimizer, inputs, target, share, self.workers)
            with torch.no_grad():
                add_up(sums, batch_figures(self.model, logits.detach(), loss, target))
            seen += len(batch)
            if step % 10 == 0 or step == steps - 1:
                figures = results(self.workers.summed(sums))
                if self.chief:
                    progress(epoch + 1, epochs, step + 1, steps, figures, seen / (time.perf_counter() - started))
        return figures

    def evaluate(self, xs, y, batch_size):
        return evaluate(self.model, xs, y, batch_size, self.workers)

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
        if not self.chief:
            return
        model, optimizer = self.model.state_dict(), self.optimizer.state_dict()
        checkpoint = state | {"model": model, "optimizer": optimizer}
        replace_atomically(folder / self.checkpoint_name, lambda partial: torch.save(checkpoint, partial))

    def load_checkpoint(self, folder):
        data = self.workers.chief_file(folder / self.checkpoint_name)
        if data is None:
            return None
        checkpoint = torch.load(io.BytesIO(data), weights_only=True, map_location=self.workers.device)
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        return checkpoint

    def shared_file(self, path):
        return self.workers.chief_file(path)

    def stop_on(self, error):
        self.workers.stop_on(error)

    def finish(self):
        self.workers.leave()


def main(argv=None):
    final = run_training(argv, TorchTrainer, SETTINGS)
    if __name__ == "__main__" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # The process group is destroyed (Workers.leave), yet gloo's threads may still hold work whose tensors
        # the interpreter's teardown frees without the GIL: now and then a worker of a run that ended well
        # aborted there ("terminate called without an active exception"). Every file is written: end here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return final


# ---------------------------------------------------------------- workers

# A collective that waits longer than this for a worker ends with an error: a backstop, as the heartbeat
# below notices a lost worker much sooner.
COLLECTIVE_TIMEOUT_SECONDS = 600
HEARTBEAT_SECONDS = 1.0
LOST_AFTER_SECONDS = 15.0  # a worker whose heartbeat stood still this long is lost
FINISHED = 10**12  # what a worker adds to its heartbeat count when it leaves normally


def training_device(name, local_rank, count):
    """The torch device `--device` names: auto is CUDA when available; under several workers `cuda` is each
    worker's own GPU (its LOCAL_RANK)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    kind, _, number = name.partition(":")
    if kind != "cuda" or (number and not number.isdigit()):
        raise SystemExit(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        why = "this PyTorch is built without CUDA" if torch.version.cuda is None else "it sees no CUDA device"
        raise SystemExit(f"--device {name}: {why}; train with --device cpu")
    if number and count > 1 and int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
        raise SystemExit(f"--device {name}: several workers on this machine cannot share one GPU; use --device cuda")
    index = int(number) if number else (local_rank if count > 1 else torch.cuda.current_device())
    if index >= torch.cuda.device_count():
        raise SystemExit(f"--device cuda:{index}: there are {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


class Workers:
    """This process's place among the training workers: alone, or one of the processes torchrun started
    (WORLD_SIZE, RANK and LOCAL_RANK in its environment), joined in one process group (gloo on CPUs, NCCL on
    GPUs). Every worker reads the same data in the same order; each takes a contiguous part of every global
    batch, and the figures it reports are summed over all of them."""

    def __init__(self, device=None, rank=0, count=1, heartbeat=None):
        self.device, self.rank, self.count = device or torch.device("cpu"), rank, count
        self.heartbeat = heartbeat

    @classmethod
    def join(cls, device):
        """This process's workers, from torchrun's environment (alone without it), on the device `--device`
        names; several join their process group here."""
        count, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
        device = training_device(device, int(os.environ.get("LOCAL_RANK", "0")), count)
        if count == 1:
            return cls(device)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        # DDP's note on a size-1 dimension's stride (a first convolution on one channel): it costs nothing here
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend, timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_SECONDS))
        return cls(device, rank, count, Heartbeat(rank, count))

    def __str__(self):
        where = str(self.device)
        if self.device.type == "cuda":
            where += f" ({torch.cuda.get_device_name(self.device)})"
        threads = f"{torch.get_num_threads()} CPU thread(s)"
        return f"{where}, {threads}" + (f", {self.count} workers" if self.count > 1 else "")

    def wrap(self, model):
        """What the training step calls: the model, or its DDP wrapper, which averages the gradients."""
        if self.count == 1:
            return model
        devices = [self.device] if self.device.type == "cuda" else None
        # the moving statistics are the same on every worker (the batch statistics are synchronised)
        network = nn.parallel.DistributedDataParallel(model, device_ids=devices, forward_sync_buffers=False)
        if self.device.type == "cpu":
            network.register_comm_hook(self.count, gathered_mean)
        return network

    def part(self, batch):
        """This worker's contiguous part of a global batch's sample indices."""
        size = len(batch)
        return batch[self.rank * size // self.count : (self.rank + 1) * size // self.count]

    def place(self, array):
        """A NumPy batch as a tensor on this worker's device."""
        return torch.from_numpy(array).to(self.device)

    def summed(self, sums):
        """(total, count) pairs summed over every worker, in float64 as one process adds them up."""
        if self.count == 1:
            return sums
        flat = torch.tensor([value for pair in sums.values() for value in pair], dtype=torch.float64)
        values = sum_over_workers(flat.to(self.device)).tolist()
        return {key: (values[2 * k], values[2 * k + 1]) for k, key in enumerate(sums)}

    def gather_rows(self, model):
        """Every worker's embedding rows (SparseRowsLookup) on every worker, as one process's optimizer sees
        them; each worker's rows are of its weighted loss, whose gradients DDP averages: so they are averaged."""
        if self.count == 1:
            return
        for parameter in model.parameters():
            rows = getattr(parameter, "keras_rows", None)
            if rows is None:
                continue
            ids, values = rows
            sizes = [torch.zeros(1, dtype=torch.int64, device=self.device) for _ in range(self.count)]
            torch.distributed.all_gather(sizes, torch.tensor([len(ids)], dtype=torch.int64, device=self.device))
            sizes = [int(size) for size in sizes]
            padded_ids = ids.new_zeros(max(sizes))
            padded_ids[: len(ids)] = ids
            padded_values = values.new_zeros(max(sizes), values.shape[1])
            padded_values[: len(ids)] = values
            all_ids = [torch.empty_like(padded_ids) for _ in sizes]
            all_values = [torch.empty_like(padded_values) for _ in sizes]
            torch.distributed.all_gather(all_ids, padded_ids)
            torch.distributed.all_gather(all_values, padded_values)
            parameter.keras_rows = (
                torch.cat([part[:size] for part, size in zip(all_ids, sizes, strict=True)]),
                torch.cat([part[:size] for part, size in zip(all_values, sizes, strict=True)]) / self.count,
            )

    def chief_file(self, path):
        """The chief's file on every worker (sent by the chief, so workers on other machines need no shared
        folder); None on every worker when the chief has none."""
        present = self.rank == 0 and path.is_file()
        data = path.read_bytes() if present else b""
        if self.count == 1:
            return data if present else None
        size = torch.tensor([len(data) if present else -1], dtype=torch.int64, device=self.device)
        torch.distributed.broadcast(size, src=0)
        if size.item() < 0:
            return None
        buffer = torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy()) if self.rank == 0 else None
        buffer = (buffer if buffer is not None else torch.empty(size.item(), dtype=torch.uint8)).to(self.device)
        torch.distributed.broadcast(buffer, src=0)
        return buffer.cpu().numpy().tobytes()

    def stop_on(self, error):
        """When a collective failed because a worker was lost, end with one line naming it; any other error is
        left to propagate."""
        if self.heartbeat is None:
            return
        lost = self.heartbeat.silent_workers(3 * HEARTBEAT_SECONDS)
        if lost:
            raise SystemExit(lost_line(lost, self.count, "its connection closed")) from None

    def leave(self):
        if self.count > 1:
            self.heartbeat.finish()
            torch.distributed.destroy_process_group()


def sum_over_workers(tensor):
    """The sum of `tensor` over every worker, added up in rank order (the same bits on every worker).

    An all-gather, then a local sum: measured with gloo on loopback, all_reduce took 2.0-2.5 ms for 1,000 to
    200,000 floats where an all-gather took 0.8-1.0 ms."""
    count = torch.distributed.get_world_size()
    flat = tensor.reshape(-1)
    gathered = flat.new_empty(count * flat.numel())
    torch.distributed.all_gather_single(gathered, flat)
    return gathered.view(count, -1).sum(dim=0).view(tensor.shape)


def gathered_mean(count, bucket):
    """DDP's gradient averaging as an all-gather and a local sum (sum_over_workers: 2-3x faster than gloo's
    all_reduce on small buckets), in rank order, so every worker gets the same bits."""
    gradients = bucket.buffer()
    gathered = gradients.new_empty(count * gradients.numel())
    work = torch.distributed.all_gather_single(gathered, gradients, async_op=True)
    return work.get_future().then(lambda _: gathered.view(count, -1).sum(dim=0).div_(count))


def lost_line(ranks, count, why):
    """The one line a survivor ends with when workers were lost."""
    named = ", ".join(map(str, ranks))
    return (  # on a line of its own after the progress bar's
        f"\nworker rank {named} of {count} was lost ({why}): stopping; the checkpoint keeps the last finished epoch, "
        "and --resume continues from it"
    )


class Heartbeat:
    """Each worker adds 1 to its key in the process group's store every HEARTBEAT_SECONDS, from a thread of its
    own, whatever its training step is doing; a worker whose count stands still for LOST_AFTER_SECONDS is lost.
    A survivor then ends at once with a line naming it, even when it waits inside a collective for the lost
    worker's data (which an exception could not interrupt): its checkpoint is always whole."""

    def __init__(self, rank, count):
        self.rank, self.count = rank, count
        run = f"{os.environ.get('TORCHELASTIC_RUN_ID', 'dlc')}/{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}"
        self.keys = [f"dlc-heartbeat/{run}/{worker}" for worker in range(count)]
        address, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
        self.store = torch.distributed.TCPStore(address, port, is_master=False, timeout=timedelta(seconds=30))
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.beat, name="dlc-heartbeat", daemon=True)
        self.thread.start()

    def beat(self):
        last_seen = [(None, time.monotonic())] * self.count
        while not self.done.wait(HEARTBEAT_SECONDS):
            now = time.monotonic()
            try:
                self.store.add(self.keys[self.rank], 1)
                counts = [self.store.add(key, 0) for key in self.keys]
            except Exception:  # the store lives in torchrun's agent (or rank 0): its machine is gone
                address = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
                self.stop(f"lost the workers' store at {address}: the machine of rank 0 (or its torchrun) is gone")
                return
            last_seen = [
                (count, now if count != seen else since) for count, (seen, since) in zip(counts, last_seen, strict=True)
            ]
            silent = [
                worker
                for worker, (count, since) in enumerate(last_seen)
                if count < FINISHED and now - since > LOST_AFTER_SECONDS
            ]
            if silent:
                self.stop(lost_line(silent, self.count, f"no heartbeat for {LOST_AFTER_SECONDS:.0f} s"))
                return

    def stop(self, line):
        """Name the lost workers and end this one now (its main thread may wait in a collective forever)."""
        print(line, file=sys.stderr, flush=True)
        os._exit(1)

    def silent_workers(self, seconds):
        """The workers whose counts do not move in `seconds` (and did not leave normally); None when the store
        itself is gone."""
        try:
            before = [self.store.add(key, 0) for key in self.keys]
            time.sleep(seconds)
            after = [self.store.add(key, 0) for key in self.keys]
        except Exception:
            return None
        return [worker for worker in range(self.count) if after[worker] == before[worker] < FINISHED]

    def finish(self):
        self.done.set()
        self.thread.join()
        try:
            self.store.add(self.keys[self.rank], FINISHED)
        except Exception:  # the others have gone already, and their store with them
            return


# ---------------------------------------------------------------- canonical weights


def to_canonical(model):
    """The model's weights as canonical `LAYER.WEIGHT` arrays in Keras layouts."""
    state = model.state_dict()
    tensors = {}
    for key, torch_key, transform, *_ in WEIGHTS:
        value = state[torch_key].detach().cpu().numpy()
        tensors[key] = np.ascontiguousarray(TO_CANONICAL[transform](value), dtype=np.float32)
    return tensors


def load_canonical(model, tensors, source=None):
    """Load canonical arrays (from the file `source`, if any) into the model, converting each to torch's layout."""
    expected = {key for key, *_ in WEIGHTS}
    missing, unexpected = expected - set(tensors), set(tensors) - expected
    if missing or unexpected:
        where = f"{source}: " if source else ""
        raise SystemExit(
            f"{where}weights do not fit {SETTINGS['model']}: missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    state = model.state_dict()
    with torch.no_grad():
        for key, torch_key, transform, *_ in WEIGHTS:
            value = torch.from_numpy(np.ascontiguousarray(FROM_CANONICAL[transform](tensors[key])))
            if tuple(value.shape) != tuple(state[torch_key].shape):
                raise SystemExit(f"{key}: expected {list(state[torch_key].shape)}, got {list(value.shape)}")
            state[torch_key].copy_(value)
