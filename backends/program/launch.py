"""`dlc train --nproc N`: N local workers of a generated program, on the engines people already operate.

PyTorch: torchrun's own engine (`torch.distributed.launcher.api.elastic_launch`, what `torchrun --standalone
--nproc-per-node N` runs), so a failure comes back as data naming the rank instead of torchrun's traceback.
Keras: N TensorFlow processes, each with a TF_CONFIG naming all N on free loopback ports.

Only the chief prints progress, so the terminal shows one progress bar. When a worker fails, the others stop
(they notice the lost worker themselves; GRACE_SECONDS later they are terminated), and the launch ends with a
SystemExit naming every failed worker and how it ended.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

GRACE_SECONDS = 30.0  # how long the other workers get to stop on their own after one failed


def launch_workers(program: Path, argv: list[str], count: int, backend: str) -> None:
    """Run `program argv` as `count` local workers of `backend` ("pytorch" or "keras"); returns when all
    finished well, else raises SystemExit naming the failed ones."""
    failures = (torch_workers if backend == "pytorch" else keras_workers)(program, argv, count)
    if failures:
        named = "; ".join(f"worker {rank} {how}" for rank, how in sorted(failures.items()))
        raise SystemExit(f"{count} workers: {named}; the checkpoint keeps the last finished epoch (--resume)")


def ended(status: int) -> str:
    """How a process ended, from its exit status (negative: the signal that killed it)."""
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


def torch_workers(program: Path, argv: list[str], count: int) -> dict[int, str]:
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # the agent's own log lines would break the one progress bar; failures come back as data below
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=count,
        run_id=f"dlc-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",  # a free port, as `torchrun --standalone` picks one
        max_restarts=0,
        monitor_interval=0.5,
    )
    try:
        elastic_launch(config, sys.executable)("-u", str(program), *argv)
    except ChildFailedError as failed:
        return {rank: ended(failure.exitcode) for rank, failure in failed.failures.items()}
    return {}


def free_ports(count: int) -> list[int]:
    """`count` loopback ports free now (the system picks them; they stay free unless another process takes one
    in the instant before the workers bind it)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def keras_workers(program: Path, argv: list[str], count: int) -> dict[int, str]:
    addresses = [f"127.0.0.1:{port}" for port in free_ports(count)]
    workers = []
    for index in range(count):
        config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        # LOCAL_RANK and LOCAL_WORLD_SIZE as torchrun sets them: each worker's GPU, and its share of the CPUs
        local = {"LOCAL_RANK": str(index), "LOCAL_WORLD_SIZE": str(count)}
        environment = os.environ | {"TF_CONFIG": json.dumps(config)} | local
        workers.append(subprocess.Popen([sys.executable, "-u", str(program), *argv], env=environment))
    return watch(workers)


def watch(workers: list[subprocess.Popen]) -> dict[int, str]:
    """Wait for every worker; after the first failure the others get GRACE_SECONDS to stop, then are
    terminated. Returns how each failed worker ended, by index (not those this stopped); a Ctrl-C stops all."""
    deadline = None
    stopped = set()
    try:
        while any(worker.poll() is None for worker in workers):
            if deadline is None and any(worker.returncode not in (None, 0) for worker in workers):
                deadline = time.monotonic() + GRACE_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        for index, worker in enumerate(workers):
            if worker.poll() is None:
                stopped.add(index)
                worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return {
        index: ended(worker.returncode)
        for index, worker in enumerate(workers)
        if worker.returncode != 0 and index not in stopped
    }
