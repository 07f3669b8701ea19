"""Dynamic batching: concurrent requests to one model merged into one ONNX Runtime run.

Each model has one worker thread, so the event loop keeps accepting and parsing while the runtime works.
The worker starts a batch as soon as it is free and takes what is queued: the oldest request and every
later one with the same non-batch dims (an LSTM's sequence length, say), up to `max_batch` rows; other
shapes wait for the next run. With `max_delay` > 0 it first waits up to that long after the oldest
request for the batch to fill. Results are split by rows and handed back to the loop in one call per batch.
Requests are validated before they are queued, so whatever fails here fails a whole batch of good inputs
(an internal error, answered 500).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import onnxruntime as ort

from .limits import SHRINK_ARENA_INPUT_BYTES
from .models import LoadedModel
from .tensors import InferRequest

# ONNX Runtime keeps the memory of its largest run in its arena for good, and grows it run after run
# (measured: +120 MB per 1.5M-row iris batch, never returned); after a large run it gives back all but the
# first chunk instead. Small runs keep the arena as it is: they are ~30% faster for it.
_SHRINK_ARENA = ort.RunOptions()
_SHRINK_ARENA.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
_STOP = object()
_WAKE = object()  # wakes a worker waiting for its batch to fill, to look at `hurry` again


class Job:
    """A queued request; its future gets (outputs of the whole run, first row, rows) or an exception."""

    __slots__ = ("request", "future", "queued")

    def __init__(self, request: InferRequest, future: asyncio.Future, queued: float):
        self.request = request
        self.future = future
        self.queued = queued


def rows_of(result: tuple[list[np.ndarray], int, int]) -> list[np.ndarray]:
    """A job's own rows of a run's outputs."""
    outputs, start, rows = result
    if start == 0 and rows == outputs[0].shape[0]:
        return outputs
    return [output[start : start + rows] for output in outputs]


class Batcher:
    """The queue and worker thread of one model."""

    def __init__(
        self,
        model: LoadedModel,
        max_batch: int,
        max_delay_s: float = 0.0,
        on_batch: Callable[[int, float], None] | None = None,
    ):
        self.model = model
        self.max_batch = max(1, max_batch) if model.signature.batched else 1
        self.max_delay_s = max(0.0, max_delay_s)
        self.on_batch = on_batch  # called on the event loop with (rows, seconds in the runtime) per run
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._hurry = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._work, name=f"dlc-serve-{self.model.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then end the worker."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def hurry(self) -> None:
        """From now on, run what is queued without waiting for batches to fill (the server is stopping)."""
        self._hurry = True
        self._queue.put(_WAKE)

    def submit(self, request: InferRequest) -> asyncio.Future:
        """Queue a validated request; await the future, then take its rows with `rows_of`."""
        future = self._loop.create_future()
        self._queue.put(Job(request, future, time.perf_counter() if self.max_delay_s else 0.0))
        return future

    # --- the worker thread ---

    def _work(self) -> None:
        pending: deque[Job] = deque()
        stopping = False
        while pending or not stopping:
            if not pending:
                item = self._queue.get()
                if item is _STOP:
                    stopping = True
                    continue
                if item is not _WAKE:
                    pending.append(item)
                continue
            stopping |= self._drain(pending)
            if self.max_delay_s > 0 and not stopping and not self._hurry:
                stopping |= self._wait_for_more(pending)
            batch = self._take(pending)
            self._run(batch)

    def _drain(self, pending: deque[Job], timeout: float | None = None) -> bool:
        """Move what is queued into `pending`; True when the stop sign came."""
        try:
            while True:
                item = self._queue.get(timeout=timeout) if timeout else self._queue.get_nowait()
                timeout = None
                if item is _STOP:
                    return True
                if item is not _WAKE:
                    pending.append(item)
        except queue.Empty:
            return False

    def _wait_for_more(self, pending: deque[Job]) -> bool:
        deadline = pending[0].queued + self.max_delay_s
        while self._rows_like_first(pending) < self.max_batch and not self._hurry:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            if self._drain(pending, timeout=left):
                return True
        return False

    def _rows_like_first(self, pending: deque[Job]) -> int:
        key = pending[0].request.key
        return sum(job.request.rows for job in pending if job.request.key == key)

    def _take(self, pending: deque[Job]) -> list[Job]:
        """The oldest job and the later ones of its shape that fit; the others keep their order."""
        first = pending.popleft()
        batch, rows, kept = [first], first.request.rows, []
        while pending and rows < self.max_batch:
            job = pending.popleft()
            if job.request.key == first.request.key and rows + job.request.rows <= self.max_batch:
                batch.append(job)
                rows += job.request.rows
            else:
                kept.append(job)
        pending.extendleft(reversed(kept))
        return batch

    def _run(self, batch: list[Job]) -> None:
        """One runtime call for the batch; the loop gets one callback, which resolves every job's future."""
        model = self.model
        rows, elapsed = 0, 0.0
        try:
            if len(batch) == 1:
                inputs = batch[0].request.inputs
                rows = batch[0].request.rows
            else:
                inputs = [np.concatenate(parts) for parts in zip(*(job.request.inputs for job in batch), strict=True)]
                rows = inputs[0].shape[0]
            large = sum(array.nbytes for array in inputs) >= SHRINK_ARENA_INPUT_BYTES
            start = time.perf_counter()
            feeds = dict(zip(model.input_names, inputs, strict=True))
            outputs = model.session.run(model.output_names, feeds, _SHRINK_ARENA if large else None)
            elapsed = time.perf_counter() - start
            if len(batch) > 1 and any(output.shape[:1] != (rows,) for output in outputs):
                raise RuntimeError(f"model '{model.name}' returned outputs whose first dim is not the batch's")
            result: list[np.ndarray] | Exception = outputs
        except Exception as e:  # the runtime failed: every request in the batch gets the error
            result = e
        self._loop.call_soon_threadsafe(self._deliver, batch, result, rows, elapsed)

    def _deliver(self, batch: list[Job], result: list[np.ndarray] | Exception, rows: int, elapsed: float) -> None:
        """On the event loop: resolve each job's future with the run's outputs and its own first row."""
        start = 0
        for job in batch:
            if not job.future.done():  # else the client went away
                if isinstance(result, Exception):
                    job.future.set_exception(result)
                else:
                    job.future.set_result((result, start, job.request.rows))
            start += job.request.rows
        if self.on_batch is not None and not isinstance(result, Exception):
            self.on_batch(rows, elapsed)
