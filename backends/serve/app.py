"""The ASGI app: the KServe v2 REST endpoints on Starlette, and a lean path for `POST .../infer`.

Inference requests skip Starlette's routing and Request/Response objects (a measurable share of the time
of a small model's request): they are read, decoded, queued and answered on raw ASGI messages. Every other
endpoint is an ordinary Starlette route. Errors are the v2 body `{"error": "..."}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .batching import Batcher, rows_of
from .limits import DEFAULT_MAX_BODY_BYTES
from .metrics import UNKNOWN_MODEL, Metrics
from .models import LoadedModel
from .tensors import BadRequest, decode_request, encode_response, error_body, parse_header_length

SERVER_NAME = "dlc"
EXTENSIONS = ["binary_tensor_data"]
_PREFIX, _SUFFIX = "/v2/models/", "/infer"
_JSON = b"application/json"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dlc")
    except Exception:
        return "0"


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return Response(error_body(message), status_code=status, media_type="application/json")


class ServeApp:
    """Serves `models` (by name); `max_batch` rows per runtime call, `max_delay_ms` to let batches fill."""

    def __init__(
        self,
        models: dict[str, LoadedModel],
        max_batch: int = 32,
        max_delay_ms: float = 0.0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ):
        self.models = models
        self.max_body_bytes = max_body_bytes
        self.metrics = Metrics()
        self.batchers = {
            name: Batcher(model, max_batch, max_delay_ms / 1000.0, partial(self.metrics.batch, name))
            for name, model in models.items()
        }
        self.ready = False
        self.version = _version()
        self.starlette = Starlette(
            routes=self._routes(),
            exception_handlers={HTTPException: self._http_error},
            lifespan=self._lifespan,
        )

    # --- ASGI entry ---

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if path.startswith(_PREFIX) and path.endswith(_SUFFIX):
                await self._infer(scope, receive, send)
                return
        await self.starlette(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        for batcher in self.batchers.values():
            batcher.start()
        self.ready = True
        try:
            yield
        finally:  # uvicorn has finished the requests in flight by now
            self.ready = False
            for batcher in self.batchers.values():
                await asyncio.to_thread(batcher.stop)

    # --- inference ---

    async def _infer(self, scope, receive, send) -> None:
        name = self._model_name(scope["path"])
        batcher = self.batchers.get(name) if name is not None else None
        if batcher is None:
            self.metrics.failed(UNKNOWN_MODEL, 404, "not_found")
            await _respond(send, 404, error_body(f"unknown model '{name or scope['path']}'"))
            return
        content_length = header_length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                content_length = value
            elif key == b"inference-header-content-length":
                header_length = value
        if content_length is not None and content_length.isdigit() and int(content_length) > self.max_body_bytes:
            await self._too_large(send, name)
            return
        body = await self._body(receive)
        if body is None:
            await self._too_large(send, name)
            return
        if body is False:  # the client went away
            return
        start = time.perf_counter()
        model = batcher.model
        try:
            request = decode_request(body, parse_header_length(header_length, len(body)), model.signature)
        except BadRequest as e:
            self.metrics.failed(name, 400, "bad_request")
            await _respond(send, 400, error_body(str(e)))
            return
        try:
            results = rows_of(await batcher.submit(request))
            payload, json_length = encode_response(name, request, model.signature, results)
        except Exception as e:
            self.metrics.failed(name, 500, "internal")
            await _respond(send, 500, error_body(f"inference failed: {e}"))
            return
        await _respond(send, 200, payload, json_length)
        self.metrics.ok(name, time.perf_counter() - start)

    def _model_name(self, path: str) -> str | None:
        middle = path[len(_PREFIX) : -len(_SUFFIX)]
        name, _, version = middle.partition("/versions/")
        if version not in ("", "1") or "/" in name:
            return None
        return name

    async def _body(self, receive) -> bytes | None | bool:
        """The whole body; None when it exceeds the limit, False when the client disconnected."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _too_large(self, send, name: str) -> None:
        self.metrics.failed(name, 413, "too_large")
        message = f"request body exceeds the server's limit of {self.max_body_bytes} bytes"
        await _respond(send, 413, error_body(message), close=True)

    # --- everything else ---

    def _routes(self) -> list[Route]:
        return [
            Route("/v2/health/live", self.live),
            Route("/v2/health/ready", self.server_ready),
            Route("/v2", self.server_metadata),
            Route("/v2/models/{name}", self.model_metadata),
            Route("/v2/models/{name}/versions/{version}", self.model_metadata),
            Route("/v2/models/{name}/ready", self.model_ready),
            Route("/v2/models/{name}/versions/{version}/ready", self.model_ready),
            Route("/v2/models/{name:path}/infer", self._not_allowed, methods=["POST"]),
            Route("/metrics", self.prometheus),
        ]

    def _model(self, request: Request) -> LoadedModel:
        name = request.path_params["name"]
        model = self.models.get(name)
        if model is None or request.path_params.get("version", "1") != "1":
            raise HTTPException(404, f"unknown model '{name}'")
        return model

    async def live(self, request: Request) -> Response:
        return _json({"live": True})

    async def server_ready(self, request: Request) -> Response:
        return _json({"ready": self.ready}, 200 if self.ready else 503)

    async def server_metadata(self, request: Request) -> Response:
        return _json({"name": SERVER_NAME, "version": self.version, "extensions": EXTENSIONS})

    async def model_metadata(self, request: Request) -> Response:
        model = self._model(request)
        return _json(
            {
                "name": model.name,
                "versions": ["1"],
                "platform": "onnxruntime_onnx",
                "inputs": [spec.metadata() for spec in model.signature.inputs],
                "outputs": [spec.metadata() for spec in model.signature.outputs],
            }
        )

    async def model_ready(self, request: Request) -> Response:
        model = self._model(request)
        return _json({"name": model.name, "ready": self.ready}, 200 if self.ready else 503)

    async def prometheus(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=self.metrics.content_type)

    async def _not_allowed(self, request: Request) -> Response:  # POST never gets here: see __call__
        raise HTTPException(405)

    async def _http_error(self, request: Request, exc: HTTPException) -> Response:
        return _error(exc.detail, exc.status_code)


async def _respond(send, status: int, body: bytes, json_length: int | None = None, close: bool = False) -> None:
    headers = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
    if json_length is not None:
        headers[0] = (b"content-type", b"application/octet-stream")
        headers.append((b"inference-header-content-length", str(json_length).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    models: dict[str, LoadedModel],
    max_batch: int = 32,
    max_delay_ms: float = 0.0,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> ServeApp:
    return ServeApp(models, max_batch, max_delay_ms, max_body_bytes)
