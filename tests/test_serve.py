"""`dlc serve`: the real server in a subprocess, driven with Triton's official HTTP client and raw HTTP.

One server serves the iris MLP, the digits convnet and the digits LSTM (a `?` time axis), exported by the
ONNX backend with seeded initial weights; every answer is compared with ONNX Runtime run directly.
Its limits (connections, timeouts, memory) are tested in test_serve_limits.py. tritonclient and uvicorn are
imported plainly: a broken install fails these tests rather than skipping them.
"""

from __future__ import annotations

import asyncio
import errno
import http.client
import json
import re
import selectors
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient
import uvicorn  # noqa: F401  (the server's own dependency: a broken install fails here, not in the server)

from backends.onnx import export_model, save
from backends.serve import triton
from backends.serve.triton import write_triton_repository
from compiler.errors import DlError
from compiler.frontend import load_model
from compiler.weights import initial_weights

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = {"IrisMLP": "iris_mlp", "DigitsConvNet": "digits_convnet", "DigitsLSTM": "digits_lstm"}
MAX_BODY = 256 * 1024
MAX_BATCH = 32
STARTUP_S = 60  # for the server to print its URL and answer ready (it imports ONNX Runtime and loads models)
HTTP_S = 10  # for any one HTTP call


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory) -> dict[str, Path]:
    """Model name -> an .onnx file exported from the example."""
    folder = tmp_path_factory.mktemp("onnx")
    files = {}
    for name, stem in EXAMPLES.items():
        graph = load_model(REPO / "examples" / f"{stem}.dl")
        path = folder / f"{stem}.onnx"
        save(export_model(graph, initial_weights(graph, 0)), path)
        files[name] = path
    return files


@pytest.fixture(scope="module")
def sessions(onnx_files) -> dict[str, ort.InferenceSession]:
    return {
        name: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for name, path in onnx_files.items()
    }


def readline(proc: subprocess.Popen, timeout: float) -> str:
    """The next line the process prints, or "" when it prints none within `timeout` seconds (or exits)."""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return proc.stdout.readline()  # the server prints and flushes whole lines, so this one is all there


def start_server(paths, log: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """`dlc serve` on a free loopback port, once it answers ready: (process, host:port)."""
    argv = [sys.executable, "-m", "dlc", "serve", *map(str, paths), "--port", "0", *options]
    with open(log, "w") as errors:
        proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=errors, text=True)
    deadline = time.monotonic() + STARTUP_S
    first = readline(proc, STARTUP_S)
    found = re.search(r"http://([\d.]+:\d+)", first)
    if not found:
        proc.kill()
        proc.wait(timeout=30)
        raise AssertionError(f"no URL printed: {first!r}\n{log.read_text()}")
    address = found.group(1)
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return proc, address
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait(timeout=30)
            raise AssertionError(f"the server never became ready:\n{log.read_text()}")
        time.sleep(0.05)


def stop_server(proc: subprocess.Popen, log: Path) -> None:
    """SIGTERM, which must end the server cleanly (exit status 0)."""
    proc.terminate()
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
        raise AssertionError(f"server still running 30 s after SIGTERM:\n{log.read_text()}") from None
    finally:
        proc.stdout.close()
    assert code == 0, f"server exited {code} on SIGTERM:\n{log.read_text()}"


def dlc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlc", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def server(onnx_files, tmp_path_factory):
    """The server's address (host:port), serving the three examples."""
    log = tmp_path_factory.mktemp("log") / "stderr.txt"
    proc, address = start_server(
        onnx_files.values(), log, "--max-batch", str(MAX_BATCH), "--max-body-bytes", str(MAX_BODY)
    )
    try:
        yield address
    finally:
        stop_server(proc, log)


@pytest.fixture
def client(server):
    with httpclient.InferenceServerClient(server) as c:
        yield c


def sample(name: str, rows: int, rng: np.random.Generator, steps: int = 5) -> np.ndarray:
    shape = {"IrisMLP": (rows, 4), "DigitsConvNet": (rows, 8, 8, 1), "DigitsLSTM": (rows, steps, 8)}[name]
    return (rng.random(shape, dtype=np.float32) * 16).astype(np.float32)


def direct(sessions, name: str, x: np.ndarray) -> np.ndarray:
    session = sessions[name]
    return session.run(None, {session.get_inputs()[0].name: x})[0]


# --- metadata ---


def test_health_and_metadata(client, onnx_files, server):
    assert client.is_server_live() and client.is_server_ready()
    with urllib.request.urlopen(f"http://{server}/v2", timeout=HTTP_S) as response:
        meta = json.loads(response.read())
    assert meta["name"] == "dlc" and "binary_tensor_data" in meta["extensions"]
    for name, path in onnx_files.items():
        assert client.is_model_ready(name)
        model = onnx.load(str(path))
        meta = client.get_model_metadata(name)
        assert meta["name"] == name and meta["platform"] == "onnxruntime_onnx"
        for got, want in [(meta["inputs"], model.graph.input), (meta["outputs"], model.graph.output)]:
            assert [t["name"] for t in got] == [v.name for v in want]
            for tensor, value in zip(got, want, strict=True):
                assert tensor["datatype"] == "FP32"
                dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
                assert tensor["shape"] == dims and dims[0] == -1
    assert client.get_model_metadata("DigitsLSTM")["inputs"][0]["shape"] == [-1, -1, 8]
    assert not client.is_model_ready("NoSuchModel")


# --- inference with the official client ---


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_infer_matches_onnxruntime(client, sessions, name, binary):
    rng = np.random.default_rng(len(name))
    meta = client.get_model_metadata(name)
    x = sample(name, 3, rng)
    tensor = httpclient.InferInput(meta["inputs"][0]["name"], list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    output = meta["outputs"][0]["name"]
    result = client.infer(name, [tensor], outputs=[httpclient.InferRequestedOutput(output, binary_data=binary)])
    got = result.as_numpy(output)
    assert got.dtype == np.float32 and got.shape == (3, 10 if name != "IrisMLP" else 3)
    np.testing.assert_allclose(got, direct(sessions, name, x), rtol=1e-5, atol=1e-6)
    assert result.get_response()["model_name"] == name


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_infer_equals_dlc_predict(client, onnx_files, name, tmp_path):
    """What the official client gets from the server is what `dlc predict` prints for the same file and input."""
    x = sample(name, 4, np.random.default_rng(11))
    np.save(tmp_path / "x.npy", x)
    predicted = dlc("predict", str(onnx_files[name]), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "p.npy"))
    assert predicted.returncode == 0, predicted.stderr
    meta = client.get_model_metadata(name)
    tensor = httpclient.InferInput(meta["inputs"][0]["name"], list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer(name, [tensor])
    np.testing.assert_allclose(result.as_numpy(meta["outputs"][0]["name"]), np.load(tmp_path / "p.npy"), atol=1e-6)


def test_infer_without_outputs_listed_returns_binary(client, sessions):
    """The client asks for every output as binary (`binary_data_output`) when none is listed."""
    x = sample("IrisMLP", 2, np.random.default_rng(7))
    tensor = httpclient.InferInput("measurements", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    result = client.infer("IrisMLP", [tensor], request_id="abc")
    assert result.get_response()["id"] == "abc"
    output = result.get_response()["outputs"][0]
    assert "binary_data_size" in output["parameters"]
    np.testing.assert_allclose(result.as_numpy(output["name"]), direct(sessions, "IrisMLP", x), rtol=1e-5, atol=1e-6)


# --- dynamic batching under concurrency ---


def metric_samples(server: str, metric: str, model: str) -> dict[str, float]:
    with urllib.request.urlopen(f"http://{server}/metrics", timeout=HTTP_S) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line.startswith(metric) and f'model="{model}"' in line:
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def test_concurrent_clients_each_get_their_own_answer(server, sessions):
    """64 clients x 20 requests, distinct inputs; the LSTM's requests mix sequence lengths (never batched together)."""
    clients, per_client = 64, 20
    rng = np.random.default_rng(1)
    plans = []
    for c in range(clients):
        name = "DigitsLSTM" if c % 4 == 0 else "IrisMLP"
        requests = []
        for _ in range(per_client):
            x = sample(name, 1 + int(rng.integers(0, 3)), rng, steps=3 + c % 3)
            requests.append((x, direct(sessions, name, x)))
        plans.append((name, requests))

    async def one_client(session, name, requests, binary):
        outputs = []
        input_name = "rows" if name == "DigitsLSTM" else "measurements"
        for x, _ in requests:
            tensor = aioclient.InferInput(input_name, list(x.shape), "FP32")
            tensor.set_data_from_numpy(x, binary_data=binary)
            result = await session.infer(name, [tensor])
            outputs.append(result.as_numpy(result.get_response()["outputs"][0]["name"]))
        return outputs

    async def run_all():
        async with aioclient.InferenceServerClient(server, conn_limit=clients) as session:
            jobs = [one_client(session, name, reqs, c % 2 == 0) for c, (name, reqs) in enumerate(plans)]
            return await asyncio.gather(*jobs)

    answers = asyncio.run(run_all())
    for (_, requests), outputs in zip(plans, answers, strict=True):
        for (_, want), got in zip(requests, outputs, strict=True):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    sizes = metric_samples(server, "dlc_serve_batch_size", "IrisMLP")
    batches = sizes['dlc_serve_batch_size_count{model="IrisMLP"}']
    single = sizes['dlc_serve_batch_size_bucket{le="1.0",model="IrisMLP"}']
    assert batches - single > 0, "no batch merged more than one row"
    assert sizes['dlc_serve_batch_size_bucket{le="32.0",model="IrisMLP"}'] == batches  # never above --max-batch
    served = metric_samples(server, "dlc_serve_requests_total", "IrisMLP")
    assert served['dlc_serve_requests_total{model="IrisMLP",status="200"}'] >= 48 * per_client


# --- bad requests ---


def post(server: str, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(server, timeout=HTTP_S)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def good_request(server: str) -> None:
    body = {"inputs": [{"name": "measurements", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}
    status, reply = post(server, "/v2/models/IrisMLP/infer", json.dumps(body).encode())
    assert status == 200, reply
    assert reply["outputs"][0]["shape"] == [1, 3] and len(reply["outputs"][0]["data"]) == 3


def iris(**changes) -> bytes:
    tensor = {"name": "measurements", "shape": [2, 4], "datatype": "FP32", "data": list(range(8))}
    tensor.update(changes)
    return json.dumps({"inputs": [tensor]}).encode()


BAD = {
    "malformed JSON": (b'{"inputs": [', {}, 400),
    "not an object": (b"[1, 2]", {}, 400),
    "no inputs": (b'{"inputs": []}', {}, 400),
    "wrong tensor name": (iris(name="petals"), {}, 400),
    "wrong shape": (iris(shape=[2, 5]), {}, 400),
    "wrong rank": (iris(shape=[8]), {}, 400),
    "wrong datatype": (iris(datatype="INT64"), {}, 400),
    "short data": (iris(data=list(range(7))), {}, 400),
    "strings as data": (iris(data=["a"] * 8), {}, 400),
    "short binary data": (
        iris(data=None, parameters={"binary_data_size": 32}) + b"\0" * 16,
        {"Inference-Header-Content-Length": str(len(iris(data=None, parameters={"binary_data_size": 32})))},
        400,
    ),
    "bad header length": (iris(), {"Inference-Header-Content-Length": "100000"}, 400),
    "unknown output": (
        json.dumps({"inputs": json.loads(iris())["inputs"], "outputs": [{"name": "nope"}]}).encode(),
        {},
        400,
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_request_is_answered_and_the_server_keeps_serving(server, case):
    body, headers, want = BAD[case]
    status, reply = post(server, "/v2/models/IrisMLP/infer", body, headers)
    assert status == want and isinstance(reply.get("error"), str) and reply["error"], (status, reply)
    good_request(server)


def test_unknown_model_is_404(server):
    status, reply = post(server, "/v2/models/NoSuchModel/infer", iris())
    assert status == 404 and "NoSuchModel" in reply["error"]
    with pytest.raises(urllib.request.HTTPError) as caught:
        urllib.request.urlopen(f"http://{server}/v2/models/NoSuchModel", timeout=HTTP_S)
    assert caught.value.code == 404 and "error" in json.loads(caught.value.read())
    good_request(server)


def test_oversized_body_is_413(server):
    """Refused on its Content-Length before the body is read, and when a chunked body grows past the limit."""
    connection = http.client.HTTPConnection(server, timeout=HTTP_S)
    connection.putrequest("POST", "/v2/models/IrisMLP/infer")
    connection.putheader("Content-Length", str(MAX_BODY + 1))
    connection.endheaders()
    connection.send(b'{"inputs": [')
    response = connection.getresponse()
    assert response.status == 413 and "error" in json.loads(response.read())
    connection.close()

    # the last byte crosses the limit, so the server has read everything sent when it answers
    chunks = [b" " * 65536] * (MAX_BODY // 65536) + [b" "]
    connection = http.client.HTTPConnection(server, timeout=HTTP_S)
    connection.request("POST", "/v2/models/IrisMLP/infer", body=chunks, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413 and "error" in json.loads(response.read())
    connection.close()
    good_request(server)

    errors = metric_samples(server, "dlc_serve_errors_total", "IrisMLP")
    assert errors['dlc_serve_errors_total{kind="too_large",model="IrisMLP"}'] >= 2


# --- graceful shutdown ---


def test_shutdown_finishes_requests_in_flight(onnx_files, sessions, tmp_path):
    """Requests queued for a batch to fill when SIGTERM comes are answered at once, then the server exits 0.

    With --max-delay-ms 60000 the four would wait a minute for their batch, past the graceful shutdown's
    30 s; they are answered because stopping runs what is queued without waiting (app.hurry)."""
    log = tmp_path / "stderr.txt"
    proc, address = start_server([onnx_files["IrisMLP"]], log, "--max-delay-ms", "60000")
    inputs = [sample("IrisMLP", 1, np.random.default_rng(k)) for k in range(4)]

    def ask(x):
        body = {"inputs": [{"name": "measurements", "shape": [1, 4], "datatype": "FP32", "data": x.ravel().tolist()}]}
        return post(address, "/v2/models/IrisMLP/infer", json.dumps(body).encode())

    try:
        with ThreadPoolExecutor(len(inputs)) as pool:
            replies = [pool.submit(ask, x) for x in inputs]
            wait_for_metric(address, "dlc_serve_inflight_requests", len(inputs))  # all four are queued
            proc.terminate()
            answers = [reply.result(timeout=20) for reply in replies]
    finally:
        if proc.poll() is None:
            stop_server(proc, log)
    assert proc.wait(timeout=30) == 0, log.read_text()
    proc.stdout.close()
    for x, (status, reply) in zip(inputs, answers, strict=True):
        assert status == 200, reply
        got = np.array(reply["outputs"][0]["data"], dtype=np.float32).reshape(1, 3)
        np.testing.assert_allclose(got, direct(sessions, "IrisMLP", x), rtol=1e-5, atol=1e-6)


def metric(server: str, name: str) -> float | None:
    """The value of an unlabelled metric, None when /metrics does not show it."""
    with urllib.request.urlopen(f"http://{server}/metrics", timeout=HTTP_S) as response:
        found = re.search(rf"^{name} (\S+)$", response.read().decode(), re.MULTILINE)
    return float(found.group(1)) if found else None


def wait_for_metric(server: str, name: str, value: float, timeout: float = 20) -> None:
    """Poll /metrics until the metric shows `value` (the server's state, seen from outside)."""
    deadline = time.monotonic() + timeout
    while (seen := metric(server, name)) != value:
        assert time.monotonic() < deadline, f"{name} is {seen}, not {value}, after {timeout} s"
        time.sleep(0.02)


# --- Triton model repository ---


def test_triton_repository(tmp_path, onnx_files):
    folders = write_triton_repository(list(onnx_files.values()), tmp_path, max_batch=16)
    assert sorted(f.name for f in folders) == sorted(onnx_files)
    for name, path in onnx_files.items():
        model = onnx.load(str(tmp_path / name / "1" / "model.onnx"))
        assert model == onnx.load(str(path))
        config = (tmp_path / name / "config.pbtxt").read_text()
        assert f'name: "{name}"' in config
        assert 'platform: "onnxruntime_onnx"' in config
        assert "max_batch_size: 16" in config and "dynamic_batching { }" in config
        blocks = re.findall(r'name: "([^"]+)"\s+data_type: (\w+)\s+dims: \[ ([^\]]*) \]', config)
        want = []
        for value in [*model.graph.input, *model.graph.output]:
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
            want.append((value.name, "TYPE_FP32", ", ".join(map(str, dims[1:]))))
        assert blocks == want
        assert config.index("input [") < config.index(f'"{model.graph.input[0].name}"') < config.index("output [")
    assert "dims: [ -1, 8 ]" in (tmp_path / "DigitsLSTM" / "config.pbtxt").read_text()


# --- start-up errors ---


def test_missing_or_corrupt_model_is_a_clear_error(tmp_path):
    from backends.serve import serve

    with pytest.raises(DlError, match="no such model file"):
        serve([str(tmp_path / "missing.onnx")])
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"this is not a protobuf")
    with pytest.raises(DlError, match="not a loadable ONNX model"):
        serve([str(corrupt)])
    done = dlc("serve", str(corrupt), "--port", "0")
    assert done.returncode == 1 and "corrupt.onnx" in done.stderr and "Traceback" not in done.stderr


# --- one socket write per response ---


class RecordingTransport:
    def __init__(self):
        self.writes, self.closed, self.aborted = [], False, False

    def write(self, data):
        self.writes.append(bytes(data))

    def is_closing(self):
        return self.closed or self.aborted

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True

    def get_write_buffer_size(self):
        return 0

    def get_extra_info(self, name):
        return ("127.0.0.1", 1234) if name == "peername" else None


def test_writes_of_one_loop_turn_leave_as_one():
    from backends.serve.protocol import CoalescingTransport

    async def scenario():
        loop = asyncio.get_running_loop()
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, loop)
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"")
        transport.write(b"body")
        assert inner.writes == [] and transport.get_write_buffer_size() == 23
        await asyncio.sleep(0)
        assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        assert transport.get_extra_info("peername") == ("127.0.0.1", 1234)  # the rest passes through

        transport.write(b"last")
        transport.close()  # what is pending goes out before the close
        assert inner.writes[-1] == b"last" and inner.closed
        await asyncio.sleep(0)
        assert len(inner.writes) == 2

        dropped = RecordingTransport()
        transport = CoalescingTransport(dropped, loop)
        transport.write(b"never sent")
        transport.abort()
        await asyncio.sleep(0)
        assert dropped.writes == [] and dropped.aborted

    asyncio.run(scenario())


def test_a_model_named_dot_dot_never_leaves_the_triton_repository(onnx_files, tmp_path):
    """A third-party file may name itself `..` in its metadata: the name is refused for the file's stem, and a
    file whose stem is `..` is an error, so no folder outside the repository is ever written."""
    model = onnx.load(str(next(iter(onnx_files.values()))))
    repo = tmp_path / "inner" / "repo"
    # a hidden name could also be taken for an abandoned staging folder of the repository, and cleared
    for hostile in ("..", ".dlc-staging-1-x"):
        for prop in model.metadata_props:
            if prop.key == "model_name":
                prop.value = hostile
        named = tmp_path / "third_party.onnx"
        onnx.save(model, str(named))
        (folder,) = write_triton_repository([named], repo)
        assert folder == repo / "third_party"
    assert sorted(p.name for p in (tmp_path / "inner").iterdir()) == ["repo"]
    dotted = tmp_path / "...onnx"
    onnx.save(model, str(dotted))
    with pytest.raises(DlError, match="may not begin with '.'"):
        write_triton_repository([dotted], repo)
    assert sorted(p.name for p in (tmp_path / "inner").iterdir()) == ["repo"]


def test_dlc_serve_refuses_a_model_named_dot_dot(onnx_files, tmp_path):
    """Serving and `--triton-repo` both refuse a file whose served name would be `..`: nothing is written."""
    model = onnx.load(str(onnx_files["IrisMLP"]))
    for prop in model.metadata_props:
        if prop.key == "model_name":
            prop.value = ".."  # refused as a name, so the stem is used: also `..`
    dotted = tmp_path / "...onnx"
    onnx.save(model, str(dotted))
    repo = tmp_path / "inner" / "repo"
    for options in (["--triton-repo", str(repo)], ["--port", "0"]):
        done = dlc("serve", str(dotted), *options)
        assert done.returncode == 1 and "may not begin with '.'" in done.stderr and "Traceback" not in done.stderr, done
    assert not (tmp_path / "inner").exists()


def repository_files(repo: Path) -> dict[str, bytes]:
    """Every file under a repository by relative path, hidden staging folders included."""
    return {str(path.relative_to(repo)): path.read_bytes() for path in sorted(repo.rglob("*")) if path.is_file()}


def test_triton_write_failing_midway_leaves_the_previous_repository(onnx_files, tmp_path, monkeypatch):
    """A failure while the second model is written (a full disk, say) leaves every model folder as it was and
    no staging folder behind; written in place, the first model would already be the new one."""
    repo = tmp_path / "repo"
    write_triton_repository(list(onnx_files.values()), repo, max_batch=4)
    (repo / "Other" / "1").mkdir(parents=True)  # another tool's model, never touched
    (repo / "Other" / "config.pbtxt").write_text('name: "Other"\n')
    before = repository_files(repo)
    written = []

    def config_until_the_disk_fills(model, *args):
        written.append(model.name)
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_config(model, *args)

    real_config = triton.config_pbtxt
    monkeypatch.setattr(triton, "config_pbtxt", config_until_the_disk_fills)
    with pytest.raises(DlError, match="No space left on device"):
        write_triton_repository(list(onnx_files.values()), repo, max_batch=16)
    assert len(written) == 2
    assert repository_files(repo) == before
    assert sorted(path.name for path in repo.iterdir()) == sorted([*onnx_files, "Other"])


def test_triton_rewrite_replaces_whole_folders_and_clears_abandoned_staging(onnx_files, tmp_path):
    """A model folder is replaced as a whole (a file only the old one had is gone), and a staging folder that a
    killed writer left behind is removed by the next write."""
    repo = tmp_path / "repo"
    write_triton_repository([onnx_files["IrisMLP"]], repo, max_batch=4)
    (repo / "IrisMLP" / "from_an_older_export.txt").write_text("stale")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, timeout=60)
    abandoned = repo / f".dlc-staging-{int(ended.stdout)}-killed"
    (abandoned / "IrisMLP" / "1").mkdir(parents=True)
    write_triton_repository([onnx_files["IrisMLP"]], repo, max_batch=16)
    assert sorted(repository_files(repo)) == ["IrisMLP/1/model.onnx", "IrisMLP/config.pbtxt"]
    assert "max_batch_size: 16" in (repo / "IrisMLP" / "config.pbtxt").read_text()
