"""The server's limits: what one client, or many, may hold of its connections, time and memory.

The configurable ones are `Limits` (each is a `dlc serve` option); the constants below them are internal
sizes derived from measurements. This module is cheap to import (the CLI builds its options from it).
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.errors import DlError

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024  # `--max-body-bytes`: larger bodies get 413
INFLIGHT_BODIES = 2  # the default `--max-inflight-bytes`: one largest body decoded while the next arrives
MIN_BODY_BYTES_PER_S = 1024  # slowest body the server waits for beyond body_timeout_s (Apache's MinRate is 500)


@dataclass(frozen=True)
class Limits:
    """What the server lets clients hold; `dlc serve --help` names each option."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # one request body; larger gets 413
    # the bodies of all requests being read, decoded or run at once; past it, new requests get 503.
    # None: INFLIGHT_BODIES * max_body_bytes
    max_inflight_bytes: int | None = None
    # open connections; at the limit a new one closes the longest-idle one, and when none is idle it
    # is answered 503. Each costs a file descriptor, so the limit is kept under the process's own.
    max_connections: int = 1024
    # a request's line and headers; larger gets 431. httptools gathers a header whole before handing it over,
    # so without a bound one endless header line held 1.2 GB, for good, and stalled the event loop for seconds.
    max_header_bytes: int = 64 * 1024
    keep_alive_s: float = 5.0  # a connection with no request in progress (new, or after a response) is closed
    header_timeout_s: float = 10.0  # from a request's first byte to the end of its headers, else 408
    # the longest wait for the next bytes of a body, else 408; the body as a whole gets this long plus one second
    # per MIN_BODY_BYTES_PER_S bytes it brought, so a byte dripped now and then does not hold a connection for good
    body_timeout_s: float = 30.0

    @property
    def inflight_bytes(self) -> int:
        return self.max_inflight_bytes if self.max_inflight_bytes is not None else INFLIGHT_BODIES * self.max_body_bytes

    def check(self) -> None:
        """Raise DlError naming the option that is out of range."""
        if self.max_body_bytes < 1:
            raise DlError(f"--max-body-bytes must be positive, not {self.max_body_bytes}")
        if self.inflight_bytes < self.max_body_bytes:
            raise DlError(
                f"--max-inflight-bytes ({self.inflight_bytes}) must be at least --max-body-bytes "
                f"({self.max_body_bytes}), or a body the server accepts could never be read"
            )
        if self.max_header_bytes < 1024:
            raise DlError(f"--max-header-bytes must be at least 1024, not {self.max_header_bytes}")
        if self.max_connections < 1:
            raise DlError(f"--max-connections must be at least 1, not {self.max_connections}")
        for option, seconds in [
            ("--keep-alive-s", self.keep_alive_s),
            ("--header-timeout-s", self.header_timeout_s),
            ("--body-timeout-s", self.body_timeout_s),
        ]:
            if not seconds > 0:
                raise DlError(f"{option} must be positive, not {seconds}")


# Each Limits field as a `dlc serve` option `--field-name`: (field, type, help); the default is the field's
LIMIT_OPTIONS = (
    ("max_body_bytes", int, "largest request body; larger gets 413 (default: 64 MiB)"),
    (
        "max_inflight_bytes",
        int,
        "request bodies in flight at once, in bytes; past it requests get 503 "
        f"(default: {INFLIGHT_BODIES} x --max-body-bytes)",
    ),
    ("max_header_bytes", int, "a request's line and headers; larger gets 431 (default: %(default)s)"),
    (
        "max_connections",
        int,
        "open connections; at the limit the longest-idle one is closed, else 503 (default: %(default)s)",
    ),
    ("keep_alive_s", float, "close a connection idle this long, new or between requests (default: %(default)g)"),
    (
        "header_timeout_s",
        float,
        "408 unless a request's headers are in this long after its first byte (default: %(default)g)",
    ),
    (
        "body_timeout_s",
        float,
        f"408 when a request body pauses this long, or comes slower than {MIN_BODY_BYTES_PER_S} bytes/s after "
        "it (default: %(default)g)",
    ),
)


# Connections past --max-connections that wait for their request headers to be answered 503; beyond this
# many more, a new connection is closed at once, unanswered: the server is flooded and its descriptors matter.
OVER_LIMIT_BACKLOG = 64
LINGER_S = 5.0  # how long a connection answered early (413, 503) reads the rest of its body before closing
# File descriptors the server needs besides its connections: the listening socket, the codec workers' pipes,
# the model files ONNX Runtime opens, the event loop's own.
FD_RESERVE = 64

# A JSON part at least this large is decoded (and a JSON response at least this large encoded) in a codec
# worker process: orjson holds the GIL for a whole document (~1.2 s for 60 MB here), so a thread would
# stall the event loop just the same. Smaller documents take under ~5 ms and stay on the loop.
OFFLOAD_JSON_BYTES = 256 * 1024
OFFLOAD_JSON_VALUES = OFFLOAD_JSON_BYTES // 8  # JSON output values for about as long a response
CODEC_WORKERS = 1  # codec worker processes, started when first needed; each holds one document at a time
# After a request whose body was at least this large, the server returns its freed heap to the system
# (glibc keeps it otherwise: without this, 30-60 MB more stayed resident after bursts of 58 MB requests).
TRIM_AFTER_BYTES = 8 * 1024 * 1024
SHRINK_ARENA_INPUT_BYTES = 1024 * 1024  # a run with this many input bytes gives its ONNX Runtime arena back
