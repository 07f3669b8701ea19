"""`dlc serve` under attack: idle, slow and surplus connections, large bodies, non-finite outputs.

Each test reproduces a reported attack against the real server on loopback (started as test_serve.py does),
with the limits made small or short so that the tests stay fast; the defaults are in backends/serve/limits.py.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import orjson
import pytest
import tritonclient.http as httpclient
from onnx import TensorProto, helper
from test_serve import HTTP_S, direct, metric, start_server, stop_server

from backends.onnx import export_model, save
from backends.serve.limits import FD_RESERVE, OVER_LIMIT_BACKLOG, Limits
from compiler.errors import DlError
from compiler.frontend import load_model
from compiler.weights import initial_weights

REPO = Path(__file__).resolve().parent.parent
MAX_CONNECTIONS = 100
KEEP_ALIVE_S = 3.0
HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.0
MAX_HEADER_BYTES = 8192
MIB = 1024 * 1024
MAX_BODY = 48 * MIB
INFLIGHT = 96 * MIB  # two of the largest bodies at once
SLACK_S = 2.0  # on top of a timeout: the server's sweep runs every quarter timeout, and this machine is shared


class Server:
    def __init__(self, proc, address: str):
        self.proc = proc
        self.address = address
        host, port = address.rsplit(":", 1)
        self.host, self.port = host, int(port)

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=HTTP_S)

    def processes(self) -> list[int]:
        """The server and its children (the codec worker)."""
        pids = [self.proc.pid]
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            with open(f"/proc/{self.proc.pid}/task/{task}/children") as children:
                pids += [int(pid) for pid in children.read().split()]
        return pids

    def memory_mib(self, field: str = "VmRSS") -> float:
        """A memory figure of /proc/PID/status summed over the server's processes, in MiB: VmRSS, resident now,
        or VmHWM, the most resident since `reset_peak` (a sum of peaks: at least the peak of the sum)."""
        total = 0
        for pid in self.processes():
            with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith(f"{field}:"))
        return total / 1024

    def reset_peak(self) -> None:
        for pid in self.processes():
            with open(f"/proc/{pid}/clear_refs", "w") as refs:
                refs.write("5")  # VmHWM starts again from VmRSS (proc(5))


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """The iris MLP, and `Log` (y = log(x), elementwise), whose outputs are NaN and infinite where asked."""
    folder = tmp_path_factory.mktemp("onnx")
    graph = load_model(REPO / "examples" / "iris_mlp.dl")
    save(export_model(graph, initial_weights(graph, 0)), folder / "iris.onnx")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    log = helper.make_model(
        helper.make_graph([helper.make_node("Log", ["x"], ["y"])], "Log", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
    )
    onnx.save(log, str(folder / "Log.onnx"))
    return {"IrisMLP": folder / "iris.onnx", "Log": folder / "Log.onnx"}


@pytest.fixture(scope="module")
def sessions(models):
    import onnxruntime as ort

    return {"IrisMLP": ort.InferenceSession(str(models["IrisMLP"]), providers=["CPUExecutionProvider"])}


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    log = tmp_path_factory.mktemp("log") / "stderr.txt"
    options = {
        "--max-connections": MAX_CONNECTIONS,
        "--keep-alive-s": KEEP_ALIVE_S,
        "--header-timeout-s": HEADER_TIMEOUT_S,
        "--body-timeout-s": BODY_TIMEOUT_S,
        "--max-header-bytes": MAX_HEADER_BYTES,
        "--max-body-bytes": MAX_BODY,
        "--max-inflight-bytes": INFLIGHT,
    }
    proc, address = start_server(models.values(), log, *(str(v) for item in options.items() for v in item))
    try:
        yield Server(proc, address)
    finally:
        stop_server(proc, log)


def iris_body(x: np.ndarray, binary_output: bool = False) -> bytes:
    tensor = {"name": "measurements", "shape": list(x.shape), "datatype": "FP32", "data": x.reshape(-1)}
    request: dict = {"inputs": [tensor]}
    if binary_output:
        request["parameters"] = {"binary_data_output": True}
    return orjson.dumps(request, option=orjson.OPT_SERIALIZE_NUMPY)


def infer(address: str, body: bytes, model: str = "IrisMLP") -> tuple[int, dict]:
    connection = http.client.HTTPConnection(address, timeout=60)
    try:
        connection.request("POST", f"/v2/models/{model}/infer", body=body)
        response = connection.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        connection.close()


def assert_iris_answer(server: Server, sessions, rows: int = 2) -> None:
    x = np.random.default_rng(rows).random((rows, 4), dtype=np.float32) * 8
    status, reply = infer(server.address, iris_body(x))
    assert status == 200, reply
    got = np.array(reply["outputs"][0]["data"], dtype=np.float32).reshape(rows, 3)
    np.testing.assert_allclose(got, direct(sessions, "IrisMLP", x), rtol=1e-5, atol=1e-6)


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection; fails when nothing comes for `timeout` s."""
    sock.settimeout(timeout)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def status_and_json(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


# --- connections ---


def test_a_thousand_idle_sockets_do_not_lock_out_clients(server, sessions):
    """1,000 connections that never send: at --max-connections each new one closes the longest-idle one, so a
    real client is still answered and the server's descriptors stay bounded (before: they ran out)."""
    idle = []
    try:
        for _ in range(1000):
            idle.append(server.connect())
        assert_iris_answer(server, sessions)
        assert len(os.listdir(f"/proc/{server.proc.pid}/fd")) < MAX_CONNECTIONS + FD_RESERVE
        assert metric(server.address, "dlc_serve_open_connections") <= MAX_CONNECTIONS
    finally:
        for sock in idle:
            sock.close()


def test_slow_clients_are_cut_off(server):
    """A connection that never sends is closed after --keep-alive-s; one that sends a header line now and then
    gets 408 at --header-timeout-s from its first byte (the lines do not extend it); one that sends less body
    than its Content-Length gets 408 when the body has paused --body-timeout-s. Run side by side."""

    # each clock starts before the connection is made: the server's deadline may start before connect() returns
    def never_sends():
        start = time.monotonic()
        with server.connect() as sock:
            received = read_until_closed(sock, KEEP_ALIVE_S + SLACK_S)
            return time.monotonic() - start, received

    def header_line_now_and_then():
        start = time.monotonic()
        with server.connect() as sock:
            sock.sendall(b"POST /v2/models/IrisMLP/infer HTTP/1.1\r\n")
            sock.settimeout(0.3)
            for line in range(100):  # a line every 0.3 s: 30 s, unless cut off
                try:
                    received = sock.recv(65536)
                except TimeoutError:
                    sock.sendall(b"X-Slow-%d: 1\r\n" % line)
                    continue
                elapsed = time.monotonic() - start
                return elapsed, received + read_until_closed(sock, SLACK_S)
            return None, b""

    def short_body():
        start = time.monotonic()
        with server.connect() as sock:
            sock.sendall(b"POST /v2/models/IrisMLP/infer HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + b'{"inputs": ')
            received = read_until_closed(sock, BODY_TIMEOUT_S + SLACK_S)
            return time.monotonic() - start, received

    with ThreadPoolExecutor(3) as pool:
        idle, slow, short = (pool.submit(job) for job in (never_sends, header_line_now_and_then, short_body))
        (idle_s, idle_reply), (slow_s, slow_reply), (short_s, short_reply) = (
            job.result(timeout=60) for job in (idle, slow, short)
        )
    assert idle_reply == b"" and KEEP_ALIVE_S <= idle_s < KEEP_ALIVE_S + SLACK_S
    assert slow_s is not None and HEADER_TIMEOUT_S <= slow_s < HEADER_TIMEOUT_S + SLACK_S
    status, reply = status_and_json(slow_reply)
    assert status == 408 and "headers" in reply["error"], reply
    assert BODY_TIMEOUT_S <= short_s < BODY_TIMEOUT_S + SLACK_S
    status, reply = status_and_json(short_reply)
    assert status == 408 and "body" in reply["error"], reply


def test_a_connection_idle_after_its_answer_is_closed_after_keep_alive(server):
    """uvicorn's own timer closes a connection --keep-alive-s after its last answer (the guard's sweep closes
    new ones): both must follow the option."""
    with server.connect() as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_until_response(sock).startswith(b"HTTP/1.1 200 ")
        answered = time.monotonic()  # the server's timer started a little before: the bound below allows it
        assert read_until_closed(sock, KEEP_ALIVE_S + SLACK_S) == b""
    assert KEEP_ALIVE_S - 0.5 <= time.monotonic() - answered < KEEP_ALIVE_S + SLACK_S


def test_a_body_dripped_slowly_is_cut_off_though_it_never_pauses_long(server):
    """A byte every half --body-timeout-s never pauses long enough for the pause rule, so before, such a body
    held its connection for good; it must come at MIN_BODY_BYTES_PER_S after its first --body-timeout-s."""
    with server.connect() as sock:
        start = time.monotonic()
        sock.sendall(b"POST /v2/models/IrisMLP/infer HTTP/1.1\r\nContent-Length: 1000\r\n\r\n")
        sock.settimeout(BODY_TIMEOUT_S / 2)
        received = b""
        for _ in range(40):  # 20 s of drip, unless cut off
            try:
                received = sock.recv(65536)
                break
            except TimeoutError:
                sock.sendall(b" ")
        elapsed = time.monotonic() - start
        received += read_until_closed(sock, SLACK_S)
    assert BODY_TIMEOUT_S <= elapsed < BODY_TIMEOUT_S + SLACK_S
    status, reply = status_and_json(received)
    assert status == 408 and "slower than 1024 bytes/s" in reply["error"], reply


@pytest.mark.parametrize(
    "attack",
    ["many header lines", "one endless header dripped in", "a long URL"],
)
def test_a_request_head_over_the_limit_is_431_and_holds_no_memory(server, sessions, attack):
    """httptools gathers a header whole before handing it over: one endless header line took the server from
    90 MB to 1.2 GB, kept for good, and stalled every other request for seconds. Past --max-header-bytes the
    answer is 431 at once, whether the head comes in one write or is dripped in over many reads."""
    before = server.memory_mib()
    with server.connect() as sock:
        if attack == "many header lines":
            lines = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 64) for i in range(MAX_HEADER_BYTES // 64))
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\n" + lines + b"\r\n")
        elif attack == "a long URL":
            sock.sendall(b"GET /v2/health/live?" + b"q" * 2 * MAX_HEADER_BYTES + b" HTTP/1.1\r\n\r\n")
        else:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nX-Endless: ")
            with contextlib.suppress(OSError):  # the server may close while a piece is on its way
                for _ in range(2000):  # 8 MB, unless cut off
                    sock.sendall(b"a" * 4096)
                    time.sleep(0.001)
        status, reply = status_and_json(read_until_closed(sock, HTTP_S))
    assert status == 431 and "--max-header-bytes" in reply["error"], reply
    assert server.memory_mib() - before < 20
    assert_iris_answer(server, sessions)


def test_a_head_just_within_the_limit_is_answered(server):
    filler = b"X-Filler: " + b"v" * (MAX_HEADER_BYTES // 2) + b"\r\n"
    with server.connect() as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\n" + filler + b"\r\n")
        assert read_until_response(sock).startswith(b"HTTP/1.1 200 ")


def test_over_the_connection_and_memory_limits_is_503(models, tmp_path):
    """A server allowing 2 connections and 1.5 MiB of bodies in flight. With both connections mid-request, a
    third connection's request is answered 503; with 1 MiB held, a second 1 MiB body is answered 503 before it
    is read (and the client, which sends it all first, still reads the answer); held requests are answered.

    `Expect: 100-continue` makes the server say when a request is in (it answers 100 as the app starts
    reading the body), so no step depends on timing."""
    log = tmp_path / "stderr.txt"
    options = ["--max-connections", "2", "--max-body-bytes", str(MIB), "--max-inflight-bytes", str(MIB + MIB // 2)]
    proc, address = start_server([models["IrisMLP"]], log, *options)
    server = Server(proc, address)
    small = iris_body(np.ones((1, 4), dtype=np.float32))
    large = small.ljust(MIB)  # trailing spaces are valid JSON
    held = []
    try:
        for body in (large, small):
            sock = server.connect()
            held.append(sock)
            sock.sendall(b"POST /v2/models/IrisMLP/infer HTTP/1.1\r\nExpect: 100-continue\r\n")
            sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body))
            assert read_until_response(sock) == b"HTTP/1.1 100 Continue\r\n\r\n"
        first, second = held

        with server.connect() as third:
            third.sendall(b"POST /v2/models/IrisMLP/infer HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(small) + small)
            status, reply = status_and_json(read_until_closed(third, HTTP_S))
        assert status == 503 and "--max-connections" in reply["error"], reply

        second.sendall(small)  # answered, second is idle: the next connection takes its place
        status, reply = status_and_json(read_until_response(second))
        assert status == 200 and reply["outputs"][0]["shape"] == [1, 3], reply

        status, reply = infer(address, large)
        assert status == 503 and "--max-inflight-bytes" in reply["error"], reply

        first.sendall(large)
        status, reply = status_and_json(read_until_response(first))
        assert status == 200 and reply["outputs"][0]["shape"] == [1, 3], reply
    finally:
        for sock in held:
            sock.close()
        stop_server(proc, log)


def read_until_response(sock: socket.socket) -> bytes:
    """One response from a connection that stays open: its head, and as many body bytes as it declares."""
    sock.settimeout(HTTP_S)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-response: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    while len(body) < sum(lengths):
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


# --- memory ---


def test_large_json_bodies_keep_memory_bounded_and_the_server_responsive(server, sessions):
    """Two ~39 MB JSON requests at once (one answered in JSON, one in binary): /v2/health/live keeps answering
    while they are decoded (before, decoding ran on the event loop, stalling it 1.6-2.6 s here), the memory of
    the server and its codec worker stays under a bound meanwhile, and returns to where it was after (before,
    ~160 MB more stayed behind, most of it ONNX Runtime's arena)."""
    rows = 1_000_000
    inputs = [np.random.default_rng(seed).random((rows, 4), dtype=np.float32) * 8 for seed in range(2)]
    bodies = [iris_body(inputs[0]), iris_body(inputs[1], binary_output=True)]
    assert all(30 * MIB < len(body) <= MAX_BODY for body in bodies)

    # the runtime's memory for this many rows and the codec worker (which a ~400 KB JSON starts) come first
    assert infer_binary(server.address, inputs[0])[0] == 200
    assert_iris_answer(server, sessions, rows=10_000)
    baseline = server.memory_mib()
    server.reset_peak()

    done = threading.Event()
    health_s = []

    def ask_health_until_done():
        while not done.is_set():
            start = time.monotonic()
            connection = http.client.HTTPConnection(server.address, timeout=HTTP_S)
            connection.request("GET", "/v2/health/live")
            assert connection.getresponse().status == 200
            connection.close()
            health_s.append(time.monotonic() - start)
            done.wait(0.1)

    with ThreadPoolExecutor(3) as pool:
        asker = pool.submit(ask_health_until_done)
        replies = [pool.submit(post_raw, server.address, body) for body in bodies]
        try:
            (json_status, _, json_reply), (binary_status, header_length, binary_reply) = (
                reply.result(timeout=120) for reply in replies
            )
        finally:
            done.set()
            asker.result(timeout=30)
    peak = server.memory_mib("VmHWM")
    assert json_status == 200 and binary_status == 200
    every = slice(None, None, 997)  # rows spread over the whole tensor; all of them would cost the test seconds
    got = np.array(orjson.loads(json_reply)["outputs"][0]["data"], dtype=np.float32).reshape(rows, 3)
    np.testing.assert_allclose(got[every], direct(sessions, "IrisMLP", inputs[0][every]), rtol=1e-5, atol=1e-6)
    got = np.frombuffer(binary_reply[header_length:], dtype=np.float32).reshape(rows, 3)
    np.testing.assert_allclose(got[every], direct(sessions, "IrisMLP", inputs[1][every]), rtol=1e-5, atol=1e-6)

    assert len(health_s) >= 5 and max(health_s) < 0.5, health_s
    # both bodies and their tensors in the server, one document's objects in the codec worker (measured ~400)
    assert peak - baseline < 512, (baseline, peak)
    deadline = time.monotonic() + 10  # freed memory is handed back in a thread once each response has left
    while (after := server.memory_mib()) - baseline >= 80:  # measured 35-60 MB (the worker keeps some)
        assert time.monotonic() < deadline, (baseline, after)
        time.sleep(0.1)


def test_a_codec_worker_that_died_is_replaced(server, sessions):
    """The codec worker killed while idle (as the system's out-of-memory killer might): the next large JSON
    request starts a fresh one and is answered, and the server itself lives on."""
    assert_iris_answer(server, sessions, rows=10_000)  # a ~400 KB JSON: decoded in the worker
    (worker,) = server.processes()[1:]
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not dead(worker):  # the kill takes effect asynchronously, thread by thread
        assert time.monotonic() < deadline, f"worker {worker} still running after SIGKILL"
        time.sleep(0.01)
    assert_iris_answer(server, sessions, rows=10_000)
    (replacement,) = server.processes()[1:]
    assert replacement != worker


def dead(pid: int) -> bool:
    """The process has exited, all its threads too: a zombie its parent can reap, or gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
        return state in ("Z", "X") and len(os.listdir(f"/proc/{pid}/task")) <= 1
    except FileNotFoundError:
        return True


def post_raw(address: str, body: bytes, headers: dict | None = None) -> tuple[int, int | None, bytes]:
    """(status, Inference-Header-Content-Length or None, the body) of one inference request to the iris MLP."""
    connection = http.client.HTTPConnection(address, timeout=60)
    try:
        connection.request("POST", "/v2/models/IrisMLP/infer", body=body, headers=headers or {})
        response = connection.getresponse()
        header_length = response.getheader("Inference-Header-Content-Length")
        return response.status, int(header_length) if header_length else None, response.read()
    finally:
        connection.close()


def infer_binary(address: str, x: np.ndarray) -> tuple[int, np.ndarray]:
    """The iris MLP on `x`, inputs and outputs as binary tensors (no JSON to decode on either side)."""
    raw = x.tobytes()
    tensor = {"name": "measurements", "shape": list(x.shape), "datatype": "FP32"}
    head = orjson.dumps(
        {
            "inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}],
            "parameters": {"binary_data_output": True},
        }
    )
    status, header_length, reply = post_raw(address, head + raw, {"Inference-Header-Content-Length": str(len(head))})
    return status, np.frombuffer(reply[header_length:], dtype=np.float32).reshape(len(x), 3)


# --- non-finite values ---


def test_nan_and_infinities_are_named_in_json_and_read_back(server):
    """log([-1, 0, inf, 1]) is [NaN, -inf, inf, 0]: JSON data names them "NaN", "-Infinity", "Infinity" (JSON
    has no such numbers; `null`, orjson's default, would turn +inf into NaN in Triton's client), inputs take
    the same names, and Triton's client reads them back as the floats, in JSON and in binary."""
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [-1.0, 0.0, "Infinity", 1.0]}]}
    status, reply = infer(server.address, json.dumps(body).encode(), model="Log")
    assert status == 200, reply
    assert reply["outputs"][0]["data"] == ["NaN", "-Infinity", "Infinity", 0.0]

    x = np.array([[-1.0, 0.0, np.inf, 1.0]], dtype=np.float32)
    want = np.array([[np.nan, -np.inf, np.inf, 0.0]], dtype=np.float32)
    with httpclient.InferenceServerClient(server.address) as client:
        for binary in (False, True):
            tensor = httpclient.InferInput("x", [1, 4], "FP32")
            tensor.set_data_from_numpy(x, binary_data=binary)
            output = httpclient.InferRequestedOutput("y", binary_data=binary)
            got = client.infer("Log", [tensor], outputs=[output]).as_numpy("y")
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("size", ["small", "offloaded"])
def test_json_only_the_fallback_reader_takes_is_still_checked(server, size):
    """orjson refuses a bare NaN, so such a body is read again by the standard library, which accepted what
    orjson refuses for cause: nesting past its stack (a 500, 'maximum recursion depth exceeded') and a lone
    surrogate in the echoed id (a 500 as the answer was encoded). Both are the client's mistakes: 400."""
    pad = b" " * (256 * 1024 if size == "offloaded" else 0)  # from 256 KiB a body is decoded in the codec worker
    deep = b'{"x": NaN, "inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}" + pad
    status, _, reply = post_raw(server.address, deep)
    assert status == 400 and "nested too deep" in orjson.loads(reply)["error"], reply
    tensor = b'{"name": "measurements", "datatype": "FP32", "shape": [1, 4], "data": [NaN, 1, 2, 3]}'
    surrogate = b'{"id": "\\ud800", "inputs": [' + tensor + b"]}" + pad
    status, _, reply = post_raw(server.address, surrogate)
    assert status == 400 and "'id'" in orjson.loads(reply)["error"], reply
    good = b'{"id": "\\u00e9", "inputs": [' + tensor + b"]}" + pad
    status, _, reply = post_raw(server.address, good)
    assert status == 200 and orjson.loads(reply)["id"] == "\u00e9", reply


# --- configuration ---


@pytest.mark.parametrize(
    ("limits", "option"),
    [
        (Limits(max_body_bytes=0), "--max-body-bytes"),
        (Limits(max_body_bytes=1000, max_inflight_bytes=999), "--max-inflight-bytes"),
        (Limits(max_connections=0), "--max-connections"),
        (Limits(max_header_bytes=100), "--max-header-bytes"),
        (Limits(keep_alive_s=0), "--keep-alive-s"),
        (Limits(header_timeout_s=-1), "--header-timeout-s"),
        (Limits(body_timeout_s=float("nan")), "--body-timeout-s"),
    ],
)
def test_a_limit_out_of_range_is_an_error_naming_its_option(limits, option):
    with pytest.raises(DlError, match=option):
        limits.check()


def test_the_default_limits_are_the_documented_ones():
    """The README's "Serving limits" states these; a change to a default must change the documentation too."""
    assert Limits() == Limits(
        max_body_bytes=64 * MIB,
        max_inflight_bytes=None,
        max_header_bytes=64 * 1024,
        max_connections=1024,
        keep_alive_s=5.0,
        header_timeout_s=10.0,
        body_timeout_s=30.0,
    )
    assert Limits().inflight_bytes == 128 * MIB


def test_connections_are_kept_within_the_open_file_limit(monkeypatch):
    """Each connection is a file descriptor: the soft limit is raised as far as the hard one allows, and the
    connections are lowered to fit what is left (running out of descriptors is what emptied every reply)."""
    from backends.serve import server

    asked = []
    monkeypatch.setattr(server.resource, "getrlimit", lambda _: (256, 512))
    monkeypatch.setattr(server.resource, "setrlimit", lambda _, limits: asked.append(limits))
    assert server._connections_allowed(1024) == 512 - OVER_LIMIT_BACKLOG - FD_RESERVE
    assert asked == [(512, 512)]
    asked.clear()
    assert server._connections_allowed(100) == 100
    assert asked == []  # the soft limit already leaves room
