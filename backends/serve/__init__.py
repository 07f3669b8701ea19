"""`dlc serve`: ONNX models over the Open Inference Protocol (KServe v2 REST) with dynamic batching.

    serve(paths, host="127.0.0.1", port=8000, max_batch=32, max_delay_ms=0.0,
          threads=None, log_level="warning", limits=Limits())          # blocks; see server.serve
    write_triton_repository(paths, directory, max_batch=32, max_delay_ms=0.0) -> list[Path]
    create_app(models, ...) / load_models(paths)                     # the ASGI app, for embedding

Modules: `tensors` (the v2 JSON + binary codec and request checks), `models` (ONNX Runtime sessions and
signatures), `batching` (the per-model queue and worker), `metrics` (Prometheus), `app` (routes and the
memory budget), `offload` (large JSON in a worker process), `limits` (every limit and its default),
`connections` (connection limits and timeouts), `protocol` (one socket write per response), `server`
(uvicorn), `triton` (model repository). `dlc serve MODEL.onnx ...` runs `serve`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import create_app
    from .models import load_models
    from .server import serve
    from .triton import write_triton_repository

__all__ = ["create_app", "load_models", "serve", "write_triton_repository"]

_HOMES = {"create_app": "app", "load_models": "models", "serve": "server", "write_triton_repository": "triton"}


def __getattr__(name: str):
    """Import lazily, so `import backends.serve` stays cheap for the CLI until a server is wanted."""
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
