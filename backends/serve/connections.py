"""Connections: idle, slow and surplus ones are closed, so that no client can hold the server's sockets.

uvicorn itself times out only the keep-alive wait after a response. Measured on the server before this
module: a connection that never sends, one that sends a request line and stops, and one whose body is shorter
than its Content-Length all stayed open for good (and the last one held up a graceful shutdown for its full
30 s); 20,000 idle sockets used up the process's file descriptors, and every later client got an empty reply.
Here, with the values of `Limits`:

- a new connection has `keep_alive_s` to begin its request, as it has after a response (uvicorn's timer);
- a request's headers must be complete `header_timeout_s` after its first byte: a deadline, so a header line
  every few seconds does not extend it; else the answer is 408 and the connection is closed;
- a request's line and headers may take at most `max_header_bytes`, else 431 and close: httptools gathers a
  header whole before it hands it over, and one endless header line held 1.2 GB for good and stalled the loop;
- a body may pause at most `body_timeout_s` between reads (not counting while the server itself holds the
  reading back), and must come at MIN_BODY_BYTES_PER_S after its first `body_timeout_s`; else 408 and close;
- at `max_connections`, a new connection closes the connection that has been idle longest (no request in
  progress), as nginx reuses its keep-alive connections; when none is idle, the new connection's request is
  answered 503 and it is closed, and past OVER_LIMIT_BACKLOG such connections a new one is closed at once.

A connection closed while its request's body is still coming (a 413, a 503, ...) answers, then reads and
drops the rest of the body for up to LINGER_S before it closes, as nginx's lingering close does: closed at
once, the client, still sending, would get a connection reset instead of the answer.

The deadlines are checked by one sweep per server, a few times per shortest timeout, instead of a timer per
request: a request costs a few attribute writes, the sweep one pass over the open connections.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict

from .limits import LINGER_S, MIN_BODY_BYTES_PER_S, OVER_LIMIT_BACKLOG, Limits
from .protocol import CoalescingHttpToolsProtocol, CoalescingTransport
from .tensors import error_body

# what a connection's deadline is for
NO_DEADLINE, IDLE, HEAD, BODY, LINGER = 0, 1, 2, 3, 4


def _closing_response(status: bytes, message: str) -> bytes:
    """A whole JSON error response, written straight to the socket, after which the connection closes."""
    body = error_body(message)
    head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
    return head % (status, len(body)) + body


class _HeadTooLarge(Exception):
    """Raised from a parser callback: httptools stops parsing and uvicorn calls `send_400_response`."""


class ConnectionGuard:
    """The limits' bookkeeping shared by one server's connections, and the sweep that enforces the deadlines."""

    def __init__(self, limits: Limits, max_connections: int | None = None):
        self.limits = limits
        self.max_connections = max_connections or limits.max_connections  # lowered to fit the descriptor limit
        self.admitted = 0  # connections within max_connections
        self.over_limit = 0  # connections past it, waiting for their request to answer it 503
        self.open: set[GuardedHttpToolsProtocol] = set()
        self.idle: OrderedDict[GuardedHttpToolsProtocol, None] = OrderedDict()  # longest idle first
        self.closed: defaultdict[str, int] = defaultdict(int)  # connections closed by a limit, by reason
        self.tick = min(1.0, max(0.05, min(limits.keep_alive_s, limits.header_timeout_s, limits.body_timeout_s) / 4))
        self._sweep: asyncio.TimerHandle | None = None
        self._over_limit_app = _over_limit_app(self.max_connections)

    def admit(self, connection: GuardedHttpToolsProtocol) -> None:
        """Called as a connection is made: admit it, close an idle one to make room, or turn it away."""
        self.open.add(connection)
        if self._sweep is None:
            self._sweep = connection.loop.call_later(self.tick, self._check, connection.loop)
        if self.admitted >= self.max_connections and self.idle:
            oldest, _ = self.idle.popitem(last=False)
            self._release(oldest)
            oldest.transport.close_now()
            self.closed["evicted_idle"] += 1
        if self.admitted < self.max_connections:
            self.admitted += 1
            connection.admitted = True
            self.idle[connection] = None
        elif self.over_limit < OVER_LIMIT_BACKLOG:
            self.over_limit += 1
            connection.over_limit = True
            connection.app = self._over_limit_app  # uvicorn runs `app` once the request's headers are in
            self.closed["over_limit"] += 1
        else:
            self.closed["refused"] += 1
            connection.transport.abort()

    def forget(self, connection: GuardedHttpToolsProtocol) -> None:
        self.open.discard(connection)
        self.idle.pop(connection, None)
        self._release(connection)
        if connection.over_limit:
            connection.over_limit = False
            self.over_limit -= 1

    def _release(self, connection: GuardedHttpToolsProtocol) -> None:
        if connection.admitted:
            connection.admitted = False
            self.admitted -= 1

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for connection in [c for c in self.open if c.waiting and c.deadline <= now]:
            connection.deadline_passed(now)
        self._sweep = loop.call_later(self.tick, self._check, loop) if self.open else None


def _over_limit_app(max_connections: int):
    body = error_body(
        f"server busy: all {max_connections} connections it allows (--max-connections) have a request in "
        "progress; retry later"
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]

    async def over_limit(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return over_limit


class LingeringTransport(CoalescingTransport):
    """A CoalescingTransport whose `close` lets its protocol linger first (see the module's docstring)."""

    __slots__ = ("protocol",)

    def close(self) -> None:
        if not self.protocol.linger():
            super().close()

    def close_now(self) -> None:
        super().close()


class GuardedHttpToolsProtocol(CoalescingHttpToolsProtocol):
    """The coalescing protocol under a ConnectionGuard; give uvicorn `partial(GuardedHttpToolsProtocol, guard=...)`."""

    transport_class = LingeringTransport
    transport: LingeringTransport

    def __init__(self, *args, guard: ConnectionGuard, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.limits = guard.limits
        self.waiting = NO_DEADLINE
        self.deadline = 0.0
        self.in_head = False
        self.admitted = False
        self.over_limit = False
        self.lingering = False
        self.unparsable = False  # the request could not be parsed: what follows cannot be read to its end
        self.head_bytes = 0  # of the request line and the headers handed over so far
        self.head_reads = 0  # of the reads that came, and left, within one request's head
        self.head_too_large = False
        self.body_allowed = 0.0  # when the body must be in, at the slowest rate it may come
        self.body_last = 0.0  # when its last bytes came

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport.protocol = self
        self.waiting, self.deadline = IDLE, self.loop.time() + self.limits.keep_alive_s
        self.guard.admit(self)

    def linger(self) -> bool:
        """Called as the connection is to close: True when it answers and reads the rest of the body first."""
        cycle = self.cycle
        transport = self.transport
        if self.lingering or self.unparsable or cycle is None or not cycle.more_body or transport.is_closing():
            return False
        if cycle.waiting_for_100_continue or not transport.can_write_eof():  # no body is coming: it was not asked
            return False
        self.lingering = True
        transport.write_eof()  # the answer goes out, then the end of our side
        self.flow.resume_reading()  # uvicorn pauses reading while a body waits for the app; none will take it
        self.waiting, self.deadline = LINGER, self.loop.time() + LINGER_S
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.waiting = NO_DEADLINE
        self.guard.forget(self)

    def data_received(self, data: bytes) -> None:
        within_head = self.in_head  # a read that begins and ends inside a head is all head
        super().data_received(data)
        if within_head and self.in_head and not self.head_too_large and not self.transport.is_closing():
            # a header still being gathered is not handed over yet: its bytes are counted as they come
            self.head_reads += len(data)
            if self.head_reads > self.limits.max_header_bytes:
                self._refuse_head()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes that are not HTTP; while lingering the answer is out, so just close."""
        self.unparsable = True
        if self.lingering:
            self.transport.close_now()
            return
        if self.head_too_large:
            self._refuse_head()
            return
        super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self.head_too_large = self.unparsable = True
        self.waiting = NO_DEADLINE
        self.guard.closed["header_too_large"] += 1
        message = f"the request's line and headers are over {self.limits.max_header_bytes} bytes (--max-header-bytes)"
        self.transport.write(_closing_response(b"431 Request Header Fields Too Large", message))
        self.transport.close_now()

    def _count_head(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > self.limits.max_header_bytes:
            self.head_too_large = True
            raise _HeadTooLarge

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # with ": " and the line's end
        super().on_header(name, value)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head = True
        self.head_bytes = self.head_reads = 0
        self.guard.idle.pop(self, None)
        self.waiting, self.deadline = HEAD, self.loop.time() + self.limits.header_timeout_s

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._body_clock_starts(self.loop.time())
        super().on_headers_complete()

    def _body_clock_starts(self, now: float) -> None:
        self.body_last = now
        self.body_allowed = self.deadline = now + self.limits.body_timeout_s
        self.waiting = BODY

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self.body_last = now = self.loop.time()
        self.body_allowed += len(body) / MIN_BODY_BYTES_PER_S
        self.deadline = min(now + self.limits.body_timeout_s, self.body_allowed)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.waiting = NO_DEADLINE
        if self.lingering:  # the body the answer made moot is all in
            self.transport.close_now()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timer when nothing else is pending
        idle = not self.in_head and (self.cycle is None or self.cycle.response_complete)
        if idle and self.admitted and not self.lingering and not self.transport.is_closing():
            self.guard.idle[self] = None

    def deadline_passed(self, now: float) -> None:
        """Called by the guard's sweep once `deadline` is past: close the connection, with 408 mid-request."""
        waiting, self.waiting = self.waiting, NO_DEADLINE
        if self.transport.is_closing():
            return
        if waiting in (IDLE, LINGER):
            self.transport.close_now()
            return
        if waiting == BODY and self.flow.read_paused:  # the server holds the body back, not the client
            self._body_clock_starts(now)
            return
        if waiting == HEAD and self.cycle is not None and not self.cycle.response_complete:
            # a pipelined request's head: the client may well wait for the answer before it sends the rest
            self.waiting, self.deadline = HEAD, now + self.limits.header_timeout_s
            return
        cycle = self.cycle if waiting == BODY else None
        if waiting == HEAD:
            self.guard.closed["header_timeout"] += 1
            message = f"the request's headers were not complete within {self.limits.header_timeout_s:g} s"
        elif now - self.body_last >= self.limits.body_timeout_s:
            self.guard.closed["body_timeout"] += 1
            message = f"no bytes of the request body came for {self.limits.body_timeout_s:g} s"
        else:
            self.guard.closed["body_too_slow"] += 1
            message = f"the request body came slower than {MIN_BODY_BYTES_PER_S} bytes/s"
        if cycle is None or not cycle.response_started:
            if cycle is not None:  # the app waits for the body: it hears the client went away
                cycle.disconnected = True
                cycle.message_event.set()
            self.transport.write(_closing_response(b"408 Request Timeout", message))
        self.transport.close_now()
