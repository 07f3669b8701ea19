"""`dlc export --quantize int8`: ONNX Runtime's dynamic int8 quantization, only where it pays on a CPU.

Dynamic int8 speeds up MatMul/Gemm and the recurrent ops; measured here, dynamic int8 convolution ran about
12x slower than float, so convolutions stay float. The report says what changed: size, speed, and the
accuracy change on the spec's validation split when it has data. A slower result is reported, never hidden.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

QUANTIZED_OPS = ("MatMul", "Gemm", "LSTM", "GRU", "RNN")  # the default: where dynamic int8 can pay on a CPU
QUANTIZABLE_OPS = (*QUANTIZED_OPS, "Conv")  # Conv only when asked for
TIMED_BATCHES = (1, 64)
ROUNDS = 15


def quantize_file(float_path: Path, int8_path: Path, op_types: Sequence[str] = QUANTIZED_OPS) -> list[str]:
    """Write the int8 model; returns the op types that were quantized (empty: nothing to gain)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    present = {node.op_type for node in onnx.load(str(float_path)).graph.node}
    chosen = [op for op in op_types if op in present]
    if not chosen:
        return []
    with tempfile.TemporaryDirectory(prefix="dlc-quantize-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(str(prepared), str(int8_path), op_types_to_quantize=chosen, weight_type=QuantType.QInt8)
    return chosen


def median_seconds(sessions, feeds: dict[str, np.ndarray]) -> list[float]:
    """Median seconds per run of each session on `feeds`, timed in alternation so that load on a shared
    machine falls on both alike."""
    for session in sessions:
        session.run(None, feeds)  # warm-up
    times = [[] for _ in sessions]
    for _ in range(ROUNDS):
        for session, own in zip(sessions, times, strict=True):
            start = time.perf_counter()
            session.run(None, feeds)
            own.append(time.perf_counter() - start)
    return [float(np.median(own)) for own in times]


def accuracy(session, xs: list[np.ndarray], y: np.ndarray) -> float:
    names = [i.name for i in session.get_inputs()]
    output = session.run(None, dict(zip(names, xs, strict=True)))[0]
    predicted = output.argmax(-1) if output.shape[-1] > 1 else (output[..., 0] > 0.5).astype(np.int64)
    truth = y.argmax(-1) if y.ndim == 2 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    return float((predicted == truth).mean())


def report(float_path: Path, int8_path: Path, feeds: dict[str, np.ndarray], validation) -> list[str]:
    """Lines comparing the two models: size, speed on `feeds`, and validation accuracy when given."""
    from .predict import session_options

    # the session `dlc serve` runs: deployment speed, with deliberate threads and no spinning
    float_session, int8_session = (
        ort.InferenceSession(str(path), sess_options=session_options(None), providers=["CPUExecutionProvider"])
        for path in (float_path, int8_path)
    )
    float_size, int8_size = float_path.stat().st_size, int8_path.stat().st_size
    lines = [
        f"size: {float_size / 1024:,.1f} KiB float32 -> {int8_size / 1024:,.1f} KiB int8 "
        f"({float_size / max(int8_size, 1):.2f}x smaller)"
    ]
    for batch in TIMED_BATCHES:
        rows = {name: array[:batch] for name, array in feeds.items()}
        float_time, int8_time = median_seconds([float_session, int8_session], rows)
        speedup = float_time / int8_time
        verdict = "SLOWER" if speedup < 0.97 else "no faster" if speedup < 1.03 else "faster"
        lines.append(
            f"speed at batch {batch}: {float_time * 1e3:.3f} ms -> {int8_time * 1e3:.3f} ms per run "
            f"({speedup:.2f}x, {verdict})"
        )
        if verdict == "SLOWER":
            lines.append(f"warning: at batch {batch} the int8 model is {1 / speedup:.2f}x SLOWER than float32 here")
    if validation is not None:
        xs, y = validation
        if len(y):
            before, after = accuracy(float_session, xs, y), accuracy(int8_session, xs, y)
            lines.append(f"validation accuracy: {before:.4f} -> {after:.4f} ({(after - before) * 100:+.2f} points)")
    return lines
