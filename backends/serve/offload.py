"""Large JSON documents decoded and encoded in a worker process, so the event loop keeps answering meanwhile.

A thread would not do: orjson parses a whole document in one call that holds the GIL (measured here:
1.2 s for a 58 MB request, then 0.5 s turning its numbers into an array), so `/v2/health/live` stalled
for seconds while one large JSON request was decoded on the loop. The worker also holds the document's
Python objects (with orjson's own parse, about 6.5 times the JSON's size at the peak) in its own heap,
which it hands back to the system after each document, so the server's memory stays near the tensors.

Parent and worker speak over the worker's stdin and stdout. A frame is a pickle (protocol 5) whose NumPy
arrays and byte buffers travel out of band, so none is copied into the pickle: the pickle's 8-byte length
and the pickle, the buffers' 4-byte count and their 8-byte lengths, then the buffers. A task is (operation,
arguments); the answer ("ok", result), ("bad", message) for a request the model cannot take, or ("error",
message). A worker that dies (out of memory, say) fails only the request it held; the next task starts a
fresh one.

`python -m backends.serve.offload` is a worker; `CodecPool` starts them when first needed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

from .tensors import BadRequest, InferRequest, Signature, decode_request, encode_response

_LENGTH = struct.Struct("<Q")
_COUNT = struct.Struct("<I")


class WorkerFailed(Exception):
    """The worker died or broke the frame protocol mid-task."""


def _write(stream: BinaryIO, obj: Any) -> None:
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    parts = [_LENGTH.pack(len(payload)), payload, _COUNT.pack(len(raws))]
    parts += [_LENGTH.pack(raw.nbytes) for raw in raws]
    fd = stream.fileno()
    for part in [b"".join(parts), *raws]:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]  # a pipe may take less than asked


def _read_exactly(stream: BinaryIO, size: int) -> bytearray:
    data = bytearray(size)
    view, got = memoryview(data), 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            raise WorkerFailed("the stream ended mid-frame")
        got += n
    return data


def _read(stream: BinaryIO) -> Any:
    (size,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    payload = _read_exactly(stream, size)
    (count,) = _COUNT.unpack(_read_exactly(stream, _COUNT.size))
    sizes = [_LENGTH.unpack(_read_exactly(stream, _LENGTH.size))[0] for _ in range(count)]
    buffers = [_read_exactly(stream, n) for n in sizes]  # writable, so arrays made on them are too
    return pickle.loads(payload, buffers=buffers)


def trim_heap() -> None:
    """Hand freed heap back to the system (glibc's malloc keeps it otherwise); elsewhere, nothing to do."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


# --- the parent's side ---


class Worker:
    """One worker process; used by one thread at a time."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[2])  # the folder holding `backends`, wherever the server runs
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "backends.serve.offload"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )

    def call(self, task: tuple) -> Any:
        try:
            _write(self.process.stdin, task)
            status, result = _read(self.process.stdout)
        except Exception as e:  # whatever a dead worker or a torn frame raises (OSError, EOFError, ...)
            code = self.process.poll()
            why = f"exited with status {code}" if code is not None else f"broke the frame protocol ({e})"
            self.close()
            raise WorkerFailed(f"the JSON codec worker {why}; a document this large may need more memory") from None
        if status == "bad":
            raise BadRequest(result)
        if status == "error":
            raise RuntimeError(result)
        return result

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout: float = 5.0) -> None:
        """End the worker: its stdin closes, so it exits; killed if it has not within `timeout`."""
        with contextlib.suppress(OSError):  # a dead worker's pipe may refuse even the close
            self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


class CodecPool:
    """Up to `size` workers, started when first needed; `decode` and `encode` block, so call them from threads."""

    def __init__(self, size: int):
        self.size = size
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()
        self._started = 0
        self._lock = threading.Lock()
        self._workers: list[Worker] = []

    def decode(self, body: bytes | bytearray, header_length: int | None, signature: Signature) -> InferRequest:
        """tensors.decode_request in a worker; raises BadRequest as it does."""
        return self._call(("decode", (pickle.PickleBuffer(body), header_length, signature)))

    def encode(
        self, model_name: str, request: InferRequest, signature: Signature, results: list
    ) -> tuple[memoryview, int | None]:
        """tensors.encode_response in a worker (the request without its inputs, which the encoding never reads);
        the body comes back as a buffer, not copied into bytes."""
        light = InferRequest(request.id, [], request.outputs, request.rows, request.key)
        return self._call(("encode", (model_name, light, signature, results)))

    def _call(self, task: tuple) -> Any:
        worker = self._take()
        try:
            return worker.call(task)
        finally:
            self._give_back(worker)

    def _take(self) -> Worker:
        while True:  # a worker may have died while idle (the system ran out of memory, say): start another
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker.alive():
                return worker
            self._forget(worker)
        with self._lock:
            if self._started < self.size:
                self._started += 1
                try:
                    worker = Worker()
                except BaseException:
                    self._started -= 1
                    raise
                self._workers.append(worker)
                return worker
        return self._idle.get()

    def _give_back(self, worker: Worker) -> None:
        if worker.alive():
            self._idle.put(worker)
        else:
            self._forget(worker)

    def _forget(self, worker: Worker) -> None:
        """A dead worker's place goes to the next one started."""
        worker.close()
        with self._lock:
            self._started -= 1
            self._workers.remove(worker)

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()


# --- the worker's side ---


def _run(operation: str, arguments: tuple) -> Any:
    if operation == "decode":
        body, header_length, signature = arguments
        return decode_request(body, header_length, signature)  # body: the bytes as a buffer, never copied
    if operation == "encode":
        payload, json_length = encode_response(*arguments)
        return pickle.PickleBuffer(payload), json_length
    raise ValueError(f"unknown operation {operation!r}")


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the server ends us
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    while True:
        try:
            operation, arguments = _read(stdin)
        except WorkerFailed:  # stdin closed: the server is done with us
            return
        try:
            answer = ("ok", _run(operation, arguments))
        except BadRequest as e:
            answer = ("bad", str(e))
        except MemoryError:
            answer = ("error", "out of memory while handling a large JSON document")
        except Exception as e:
            answer = ("error", f"{type(e).__name__}: {e}")
        del arguments
        _write(stdout, answer)
        del answer
        trim_heap()


if __name__ == "__main__":
    main()
