"""The ASGI app: the KServe v2 REST endpoints on Starlette, and a lean path for `POST .../infer`.

Inference requests skip Starlette's routing and Request/Response objects (a measurable share of the time
of a small model's request): they are read, decoded, queued and answered on raw ASGI messages. Every other
endpoint is an ordinary Starlette route. Errors are the v2 body `{"error": "..."}`.

Memory: the bodies of the requests in flight (read, decoded, queued or running) are held against
`Limits.inflight_bytes`; a request that would pass it is answered 503 before its body is read, so concurrent
large requests cannot take memory without bound. A large JSON document is decoded, and a large JSON
response encoded, in a codec worker process (`offload`), off the event loop and out of this heap; after a
large request this process hands its freed heap back to the system.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .batching import Batcher, rows_of
from .limits import CODEC_WORKERS, OFFLOAD_JSON_BYTES, OFFLOAD_JSON_VALUES, TRIM_AFTER_BYTES, Limits
from .metrics import UNKNOWN_MODEL, Metrics
from .models import LoadedModel
from .offload import CodecPool, WorkerFailed, trim_heap
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


class Budget:
    """Bytes of request bodies in flight, against a limit; each request holds its share in a Hold."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.requests = 0  # requests holding a share, for /metrics


class Hold:
    """One request's share of the Budget; `release` when its response has left."""

    __slots__ = ("budget", "bytes")

    def __init__(self, budget: Budget):
        self.budget = budget
        self.bytes = 0
        budget.requests += 1

    def take(self, size: int) -> bool:
        """Add `size` bytes to the hold; False, taking nothing, when the budget has not that much left."""
        budget = self.budget
        if budget.used + size > budget.limit:
            return False
        budget.used += size
        self.bytes += size
        return True

    def release(self) -> None:
        self.budget.used -= self.bytes
        self.budget.requests -= 1
        self.bytes = 0


# what _body returns instead of the body
_TOO_LARGE, _BUSY, _GONE = object(), object(), object()


class ServeApp:
    """Serves `models` (by name); `max_batch` rows per runtime call, `max_delay_ms` to let batches fill."""

    def __init__(
        self,
        models: dict[str, LoadedModel],
        max_batch: int = 32,
        max_delay_ms: float = 0.0,
        limits: Limits | None = None,
        codec_workers: int = CODEC_WORKERS,
    ):
        self.models = models
        self.limits = limits or Limits()
        self.max_body_bytes = self.limits.max_body_bytes
        self.budget = Budget(self.limits.inflight_bytes)
        self.codec = CodecPool(codec_workers)
        self._codec_threads = ThreadPoolExecutor(codec_workers, thread_name_prefix="dlc-serve-codec")
        self._trimming = False
        self.metrics = Metrics(self.budget)
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
            await asyncio.to_thread(self.codec.close)
            self._codec_threads.shutdown(wait=False)

    def hurry(self) -> None:
        """The server is stopping: batches waiting to fill (--max-delay-ms) run now."""
        for batcher in self.batchers.values():
            batcher.hurry()

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
        declared = int(content_length) if content_length is not None and content_length.isdigit() else None
        hold = Hold(self.budget)
        try:
            if declared is not None and declared > self.max_body_bytes:
                await self._too_large(send, name)
                return
            if declared is not None and not hold.take(declared):
                await self._busy(send, name, declared)
                return
            await self._answer(receive, send, name, batcher, hold, declared is None, header_length)
        finally:
            size = hold.bytes
            hold.release()
            if size >= TRIM_AFTER_BYTES:
                self._trim()

    async def _answer(
        self, receive, send, name: str, batcher: Batcher, hold: Hold, chunked: bool, header_length: bytes | None
    ) -> None:
        """Read the body, decode, run and respond; the body is this frame's alone, so it is freed once decoded."""
        body = await self._body(receive, hold, chunked)
        if body is _TOO_LARGE:
            await self._too_large(send, name)
            return
        if body is _BUSY:
            await self._busy(send, name, None)
            return
        if body is _GONE:
            return
        start = time.perf_counter()
        model = batcher.model
        try:
            json_length = parse_header_length(header_length, len(body))
            if (json_length or len(body)) >= OFFLOAD_JSON_BYTES:
                request = await self._offload(self.codec.decode, body, json_length, model.signature)
            else:
                request = decode_request(body, json_length, model.signature)
        except BadRequest as e:
            self.metrics.failed(name, 400, "bad_request")
            await _respond(send, 400, error_body(str(e)))
            return
        except (WorkerFailed, RuntimeError) as e:
            self.metrics.failed(name, 500, "internal")
            await _respond(send, 500, error_body(f"decoding the request failed: {e}"))
            return
        del body  # a JSON body is done with; binary inputs keep their bytes alive through their arrays
        try:
            results = rows_of(await batcher.submit(request))
            json_values = sum(results[index].size for index, binary in request.outputs if not binary)
            if json_values >= OFFLOAD_JSON_VALUES:
                payload, json_length = await self._offload(self.codec.encode, name, request, model.signature, results)
            else:
                payload, json_length = encode_response(name, request, model.signature, results)
        except Exception as e:
            self.metrics.failed(name, 500, "internal")
            await _respond(send, 500, error_body(f"inference failed: {e}"))
            return
        await _respond(send, 200, payload, json_length)
        self.metrics.ok(name, time.perf_counter() - start)

    async def _offload(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._codec_threads, function, *args)

    def _trim(self) -> None:
        """Hand the heap a large request freed back to the system, in a thread (it takes a few ms), one at a time."""
        if self._trimming:
            return
        self._trimming = True
        done = asyncio.get_running_loop().run_in_executor(None, trim_heap)
        done.add_done_callback(lambda _: setattr(self, "_trimming", False))

    def _model_name(self, path: str) -> str | None:
        middle = path[len(_PREFIX) : -len(_SUFFIX)]
        name, _, version = middle.partition("/versions/")
        if version not in ("", "1") or "/" in name:
            return None
        return name

    async def _body(self, receive, hold: Hold, chunked: bool):
        """The whole body, or _TOO_LARGE, _BUSY (the budget ran out) or _GONE (the client went away).

        A body of one message (most are) is returned as it came; a longer one is gathered into one buffer
        that grows as it comes, rather than a list of chunks joined at the end (twice the body at once).
        The held share grows with a chunked body, which declared no length to hold up front.
        """
        message = await receive()
        if message["type"] == "http.disconnect":
            return _GONE
        first = message.get("body", b"")
        if len(first) > self.max_body_bytes:
            return _TOO_LARGE
        if chunked and not hold.take(len(first)):
            return _BUSY
        if not message.get("more_body", False):
            return first
        body = bytearray(first)
        del first, message
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _GONE
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > self.max_body_bytes:
                return _TOO_LARGE
            if chunked and not hold.take(len(chunk)):
                return _BUSY
            body += chunk
            if not message.get("more_body", False):
                return body

    async def _too_large(self, send, name: str) -> None:
        self.metrics.failed(name, 413, "too_large")
        message = f"request body exceeds the server's limit of {self.max_body_bytes} bytes"
        await _respond(send, 413, error_body(message), close=True)

    async def _busy(self, send, name: str, size: int | None) -> None:
        self.metrics.failed(name, 503, "busy")
        budget = self.budget
        wanted = f"this request's {size} bytes" if size is not None else "this request's body"
        message = (
            f"server busy: the requests in flight hold {budget.used} of the {budget.limit} bytes of request "
            f"bodies it allows at once (--max-inflight-bytes), too few left for {wanted}; retry later"
        )
        await _respond(send, 503, error_body(message), close=True, retry_after=True)

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


async def _respond(
    send, status: int, body: bytes, json_length: int | None = None, close: bool = False, retry_after: bool = False
) -> None:
    headers = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
    if json_length is not None:
        headers[0] = (b"content-type", b"application/octet-stream")
        headers.append((b"inference-header-content-length", str(json_length).encode()))
    if close:
        headers.append((b"connection", b"close"))
    if retry_after:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    models: dict[str, LoadedModel], max_batch: int = 32, max_delay_ms: float = 0.0, limits: Limits | None = None
) -> ServeApp:
    return ServeApp(models, max_batch, max_delay_ms, limits)
