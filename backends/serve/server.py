"""Running the app: load the models, bind the socket, print where it listens, and serve until stopped."""

from __future__ import annotations

import contextlib
import resource
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import uvicorn

from compiler.errors import DlError

from .app import ServeApp, create_app
from .connections import ConnectionGuard, GuardedHttpToolsProtocol
from .limits import FD_RESERVE, OVER_LIMIT_BACKLOG, Limits
from .models import load_models

GRACEFUL_SHUTDOWN_S = 30  # after SIGINT/SIGTERM, how long requests in flight may take to finish


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise DlError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(4096)  # connections made as soon as the URL is printed wait for uvicorn to accept them
    return sock


def _connections_allowed(wanted: int) -> int:
    """How many connections the file descriptor limit allows, up to `wanted`, raising the soft limit if needed.

    Each connection is a descriptor; running out of them is what left every client with an empty reply.
    """
    needed = wanted + OVER_LIMIT_BACKLOG + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft == resource.RLIM_INFINITY:
        return wanted
    return min(wanted, soft - OVER_LIMIT_BACKLOG - FD_RESERVE)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app first when it stops, so batches waiting to fill do not hold it up."""

    def __init__(self, config: uvicorn.Config, app: ServeApp):
        super().__init__(config)
        self.serve_app = app

    async def shutdown(self, sockets=None) -> None:
        self.serve_app.hurry()
        await super().shutdown(sockets)


def serve(
    paths: list[str | Path],
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch: int = 32,
    max_delay_ms: float = 0.0,
    threads: int | None = None,
    log_level: str = "warning",
    limits: Limits | None = None,
    provider: str = "cpu",
) -> None:
    """Serve ONNX models over the KServe v2 REST protocol until SIGINT/SIGTERM; blocks.

    paths: .onnx files; each is served as its metadata_props "model_name"/"name", else its file stem.
    host, port: where to listen (port 0 picks a free one; the URL printed says which).
    max_batch: most rows per ONNX Runtime run when concurrent requests are merged (1 turns batching off).
    max_delay_ms: how long a batch may wait to fill; 0 runs as soon as the runtime is free.
    threads: ONNX Runtime intra-op threads per model (default: the cores minus one, at most 8).
    limits: body size, memory in flight, connections and timeouts (limits.Limits; its defaults otherwise).
    provider: ONNX Runtime's execution provider, "cpu" or "cuda" (onnxruntime-gpu; an error where it is missing).
    Raises DlError for a missing or broken model, a name used twice, a limit out of range, or an address it
    cannot bind. On shutdown, requests in flight are finished (up to GRACEFUL_SHUTDOWN_S) before the models
    are released; batches waiting to fill run at once.
    """
    limits = limits or Limits()
    if max_batch < 1:
        raise DlError(f"--max-batch must be at least 1, not {max_batch}")
    if max_delay_ms < 0:
        raise DlError(f"--max-delay-ms must not be negative, not {max_delay_ms}")
    limits.check()
    max_connections = _connections_allowed(limits.max_connections)
    if max_connections < 1:
        raise DlError("the open file limit leaves no room for connections; raise it (ulimit -n)")
    models = load_models(list(paths), threads, provider)
    app = create_app(models, max_batch, max_delay_ms, limits)
    guard = ConnectionGuard(limits, max_connections)
    app.metrics.connections = guard
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"dlc serve: listening on http://{shown}:{bound} (KServe v2 REST; Ctrl-C to stop)")
    for model in models.values():
        inputs = ", ".join(f"{s.name}: {s.datatype}{list(s.shape)}" for s in model.signature.inputs)
        batching = f"batches up to {max_batch}" if model.signature.batched and max_batch > 1 else "no batching"
        print(f"  {model.name:<20} /v2/models/{model.name}/infer  ({inputs}; {batching}; from {model.path})")
    if max_connections < limits.max_connections:
        print(
            f"  at most {max_connections} connections, not {limits.max_connections}: the open file limit "
            "allows no more (ulimit -n)"
        )
    sys.stdout.flush()
    config = uvicorn.Config(
        app,
        loop="uvloop",
        # httptools, one socket write per response, connection limits and timeouts (connections.py)
        http=partial(GuardedHttpToolsProtocol, guard=guard),
        ws="none",  # no WebSocket endpoints; an upgrade would also take its connection out of the guard's count
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]  # a float works: it goes to call_later
        backlog=4096,
        proxy_headers=False,  # no X-Forwarded-* rewriting: one less middleware per request
        server_header=False,
        date_header=False,
    )
    server = _Server(config, app)
    with _signals_end_quietly():
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()


@contextlib.contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """uvicorn re-raises the SIGINT/SIGTERM that stopped it after its graceful shutdown; that is a normal end here
    (exit status 0, no KeyboardInterrupt traceback)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
