"""ONNX Runtime vs PyTorch eager inference, and `--quantize int8` vs float32, side by side in one run.

For the digits MLP, convnet and LSTM examples, each trained briefly in this process (`backends.pytorch.train`,
seed 0, a few epochs, so that accuracy means something), then exported the way `dlc export` does it
(`backends.onnx.command.export`: float32, and `--quantize int8` with its own report captured and shown):

  torch eager    the generated program's model class with the trained weights, called in `torch.inference_mode()`
  ORT serve      the float32 .onnx in the session `dlc serve` creates (`backends.serve.models.load_model`)
  ORT predict    the same file in the session `dlc predict` creates (`backends.onnx.predict.load_session`)
  int8           the `--quantize int8` .onnx in the `dlc serve` session
  int8 +Conv     convnet only: Conv quantized too (`--quantize-ops Conv,MatMul,...`, the opt-in), to check
                 the claim that dynamic int8 convolution is much slower than float on a CPU

Inputs are real test-split digits: latency at batch 1, samples/s at batch 64, and int8 vs float32 also at
batch 256. Timing: every variant of one (model, batch) is timed in the same rounds, interleaved, so a burst of
other work on the machine hits them alike; a round times a block of back-to-back calls (~30 ms) and keeps the
mean per call; the table shows the median of ROUNDS rounds, goals are judged on medians, and `best` ratios
are printed beside them. Calls are raw `session.run` / `model(x)`: no input checks, no copies.

Threads, chosen deliberately and printed: ONNX Runtime's intra-op threads are `dlc serve`'s default (cores
minus one, at most 8; 1 on a 2-core machine), with one inter-op thread, sequential execution, no spinning and
ORT_ENABLE_ALL graph optimisation, and torch gets the same number of intra-op threads, so both runtimes use
the same cores. These models are small: at batch 1 a second thread only adds synchronisation, and on a
shared 2-core machine an OpenMP thread that waits for a busy core is ruinous (measured here while other work
ran: the convnet in torch at batch 1 on 2 threads, median 47 ms per call against 0.2 ms on 1). `dlc predict`'s
session keeps ONNX Runtime's defaults (one thread per physical core, spinning on); its column shows what that
costs or gains.

Goals: ORT >= 2x torch eager at batch 1 on the MLP and the convnet, and no slower (>= 1x) on the LSTM;
int8 >= 1.3x float32 on the MLP at batch 256 and on the LSTM at batch 64, losing <= 1 point of test
accuracy. Every (model, batch) where int8 is slower than float32 by more than SAME is printed as a warning;
`dlc export --quantize int8`'s own report (batches 1 and 64, its own timing) is printed beside it.
"""

from __future__ import annotations

import contextlib
import io
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(HERE), str(HERE.parent)) if p not in sys.path]

from _harness import REPO, goal, machine_note  # noqa: E402

MODELS = [  # label, example, training epochs (enough for a meaningful test accuracy, not the spec's)
    ("MLP", "digits_mlp", 6),
    ("convnet", "digits_convnet", 5),
    ("LSTM", "digits_lstm", 10),
]
LATENCY_BATCH, THROUGHPUT_BATCH, BIG_BATCH = 1, 64, 256
ROUNDS = 15
BLOCK_SECONDS = 0.03  # calls per round: as many as fit in this, at least 2
ORT_OVER_TORCH = {"MLP": 2.0, "convnet": 2.0, "LSTM": 1.0}  # goals at batch 1
INT8_GOALS = {"MLP": BIG_BATCH, "LSTM": THROUGHPUT_BATCH}  # model -> batch where int8 must be >= INT8_SPEEDUP
INT8_SPEEDUP = 1.3
MAX_ACCURACY_LOSS = 1.0  # points
SAME = 0.03  # int8/float32 within 3% reads as "same" (timing noise), below that "SLOWER"
QUANTIZED_FROM = {  # op types quantize_dynamic writes -> the float op they replace
    "MatMulInteger": "MatMul",
    "DynamicQuantizeMatMul": "MatMul",
    "ConvInteger": "Conv",
    "DynamicQuantizeLSTM": "LSTM",
    "DynamicQuantizeGRU": "GRU",
}


class Prepared:
    """One model, trained, exported and loaded; `times` fills in as it is measured.

    (A plain class: run.py loads benchmarks without registering them in sys.modules, which @dataclass needs.)
    """

    def __init__(self, label: str, torch_model, input_name: str, test_x, test_y, **rest):
        self.label, self.torch_model, self.input_name = label, torch_model, input_name
        self.test_x, self.test_y = test_x, test_y  # the test split's only input (np.ndarray), its targets
        self.sessions: dict = rest["sessions"]  # "ORT serve", "ORT predict", "int8"[, "int8 +Conv"] -> session
        self.files: dict[str, Path] = rest["files"]  # "float32", "int8"[, "int8 +Conv"] -> .onnx
        self.quantized: dict[str, str] = rest["quantized"]  # file variant -> the float ops it quantized
        self.accuracy: dict[str, float] = rest["accuracy"]  # file variant, and "torch eager" -> test accuracy
        self.export_report: list[str] = rest["export_report"]  # what `dlc export --quantize int8` printed
        self.max_difference: float = rest["max_difference"]  # max |ORT float32 - torch| over the test split
        self.times: dict[tuple[int, str], list[float]] = {}  # (batch, session variant) -> seconds per call


def trained_module(run: Path, weights: dict):
    """The generated program `train` wrote into the run folder, its model built with the trained weights."""
    from backends.program.loader import load_program

    (program_path,) = run.glob("train_*.py")
    program = load_program(program_path, f"bench_program_{run.name}")
    model = program.MODEL_CLASS()
    program.load_canonical(model, weights)
    return model.eval()


def quantized_ops(path: Path) -> str:
    """The float ops a saved model has in int8 form, read from the file."""
    import onnx

    found = {QUANTIZED_FROM[n.op_type] for n in onnx.load(str(path)).graph.node if n.op_type in QUANTIZED_FROM}
    return ", ".join(sorted(found)) or "-"


def prepare(label: str, example: str, epochs: int, folder: Path, threads: int) -> Prepared:
    import numpy as np
    import onnx
    import torch

    from backends.onnx.command import export
    from backends.onnx.predict import load_session
    from backends.onnx.quantize import QUANTIZED_OPS, accuracy
    from backends.program.constants import data_splits
    from backends.program.loader import train
    from backends.serve.models import load_model as serve_session
    from compiler.frontend import load_model
    from compiler.weights import load_safetensors

    graph = load_model(REPO / "examples" / f"{example}.dl")
    run = folder / example
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        final = train(graph, "pytorch", run, epochs=epochs, seed=0)
    weights_path = run / "weights.safetensors"
    files = {"float32": run / "float32.onnx", "int8": run / "int8.onnx"}
    with contextlib.redirect_stderr(io.StringIO()):
        export(graph, files["float32"], weights_path)  # `dlc export --weights`
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        export(graph, files["int8"], weights_path, quantize="int8")  # `dlc export --weights --quantize int8`
    if any(n.op_type == "Conv" for n in onnx.load(str(files["float32"])).graph.node):
        files["int8 +Conv"] = run / "int8_conv.onnx"
        with contextlib.redirect_stderr(io.StringIO()):  # `dlc export --quantize int8 --quantize-ops Conv,...`
            export(graph, files["int8 +Conv"], weights_path, quantize="int8", quantize_ops=("Conv", *QUANTIZED_OPS))

    sessions = {"ORT serve": serve_session(files["float32"], threads).session}
    sessions["ORT predict"] = load_session(files["float32"])
    sessions |= {name: serve_session(path, threads).session for name, path in files.items() if name != "float32"}

    _, _, (test_xs, test_y) = data_splits(graph)
    (test_x,) = test_xs
    test_x = np.ascontiguousarray(test_x, dtype=np.float32)
    model = trained_module(run, load_safetensors(weights_path)[0])
    with torch.inference_mode():
        expected = model(torch.from_numpy(test_x)).numpy()
    input_name = sessions["ORT serve"].get_inputs()[0].name
    difference = float(np.abs(sessions["ORT serve"].run(None, {input_name: test_x})[0] - expected).max())
    scores = {
        "torch eager": float(final["test_accuracy"]),
        "float32": accuracy(sessions["ORT serve"], [test_x], test_y),
    }
    scores |= {name: accuracy(sessions[name], [test_x], test_y) for name in files if name != "float32"}
    report = [line.strip() for line in said.getvalue().splitlines() if line.startswith(("quantized", "nothing", "  "))]
    return Prepared(
        label,
        model,
        input_name,
        test_x,
        test_y,
        sessions=sessions,
        files=files,
        quantized={name: quantized_ops(path) for name, path in files.items()},
        accuracy=scores,
        export_report=[re.sub(r": wrote \S+", "", line) for line in report],
        max_difference=difference,
    )


def rounds(calls: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Seconds per call of each function, one block per round, the functions interleaved in every round."""
    per_block = {}
    for name, call in calls.items():
        call()  # warm-up: first-run allocations, ORT's arena
        quickest = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            call()
            quickest = min(quickest, time.perf_counter() - start)
        per_block[name] = max(2, min(5000, int(BLOCK_SECONDS / max(quickest, 1e-7))))
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    for round_index in range(ROUNDS):
        for name in order if round_index % 2 == 0 else reversed(order):
            call, count = calls[name], per_block[name]
            start = time.perf_counter()
            for _ in range(count):
                call()
            seconds[name].append((time.perf_counter() - start) / count)
    return seconds


def measure(model: Prepared) -> None:
    import numpy as np
    import torch

    for batch in (LATENCY_BATCH, THROUGHPUT_BATCH, BIG_BATCH):
        x = np.ascontiguousarray(np.resize(model.test_x, (batch, *model.test_x.shape[1:])))
        xt, feeds = torch.from_numpy(x), {model.input_name: x}
        calls: dict[str, Callable[[], object]] = {}
        if batch != BIG_BATCH:
            calls["torch eager"] = lambda xt=xt: model.torch_model(xt)
        for name, session in model.sessions.items():
            if name != "ORT predict" or batch != BIG_BATCH:
                calls[name] = lambda session=session, feeds=feeds: session.run(None, feeds)
        with torch.inference_mode():
            for name, seconds in rounds(calls).items():
                model.times[batch, name] = seconds


def median(model: Prepared, batch: int, variant: str) -> float:
    return statistics.median(model.times[batch, variant])


def ratio(model: Prepared, batch: int, slow: str, fast: str) -> tuple[float, float]:
    """How many times faster `fast` is than `slow`: (by medians, by best rounds)."""
    times = model.times
    return median(model, batch, slow) / median(model, batch, fast), min(times[batch, slow]) / min(times[batch, fast])


def cell(model: Prepared, batch: int, variant: str) -> str:
    if (batch, variant) not in model.times:
        return "-"
    seconds = median(model, batch, variant)
    if batch == LATENCY_BATCH:
        return f"{seconds * 1e6:,.1f} us"
    return f"{batch / seconds:,.0f} /s"


def print_options(sessions: dict[str, object], torch_threads: int) -> None:
    import onnxruntime as ort
    import torch

    interop = torch.get_num_interop_threads()
    print(f"  torch {torch.__version__}: {torch_threads} intra-op thread(s) (set here), {interop} inter-op")
    for name, session in sessions.items():
        options = session.get_session_options()
        try:
            spinning = options.get_session_config_entry("session.intra_op.allow_spinning")
        except Exception:  # not set: ONNX Runtime's default, spinning on
            spinning = "default (on)"
        intra = options.intra_op_num_threads or "0 (ORT: one per physical core)"
        inter = options.inter_op_num_threads or "0 (ORT default)"
        print(
            f"  onnxruntime {ort.__version__} {name}: {options.graph_optimization_level.name}, "
            f"{options.execution_mode.name}, intra-op threads {intra}, inter-op {inter}, allow_spinning {spinning}, "
            f"{'/'.join(session.get_providers())}"
        )


def main() -> None:
    import torch

    from backends.serve.models import session_options

    threads = session_options(None).intra_op_num_threads  # dlc serve's default for this machine
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    print(f"  {machine_note()}")
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="dlc-onnx-bench-") as tmp:
            models = [prepare(label, example, epochs, Path(tmp), threads) for label, example, epochs in MODELS]
            prepared_seconds = time.perf_counter() - started
            for model in models:
                measure(model)
            print_options({k: v for k, v in models[0].sessions.items() if k in ("ORT serve", "ORT predict")}, threads)
            epochs = ", ".join(f"{label} {count}" for label, _, count in MODELS)
            print(
                f"  trained (epochs: {epochs}) and exported in {prepared_seconds:.1f} s; "
                f"times are medians of {ROUNDS} interleaved rounds of ~{BLOCK_SECONDS * 1000:.0f} ms"
            )
            report(models)
    finally:
        torch.set_num_threads(previous_threads)  # the benchmarks after this one keep their own settings


def report(models: list[Prepared]) -> None:
    print("\n  float32: PyTorch eager vs ONNX Runtime (latency at batch 1, samples/s at batch 64)")
    print(
        f"  {'model':<8} {'batch':>5} {'torch eager':>13} {'ORT serve':>13} {'ORT predict':>13} "
        f"{'ORT/torch':>10} {'(best)':>7}"
    )
    for model in models:
        for batch in (LATENCY_BATCH, THROUGHPUT_BATCH):
            by_median, by_best = ratio(model, batch, "torch eager", "ORT serve")
            cells = [cell(model, batch, v) for v in ("torch eager", "ORT serve", "ORT predict")]
            print(
                f"  {model.label:<8} {batch:>5} {cells[0]:>13} {cells[1]:>13} {cells[2]:>13} "
                f"{by_median:>9.2f}x {by_best:>6.2f}x"
            )

    print("\n  int8 (`dlc export --quantize int8`) vs float32, both in the dlc serve session: samples/s")
    print(f"  {'model':<8} {'variant':<11} {'batch':>5} {'float32':>12} {'int8':>12} {'int8/f32':>9} {'(best)':>7}")
    slower = []
    for model in models:
        for variant in (v for v in model.sessions if v.startswith("int8")):
            for batch in (LATENCY_BATCH, THROUGHPUT_BATCH, BIG_BATCH):
                by_median, by_best = ratio(model, batch, "ORT serve", variant)
                rate_f = batch / median(model, batch, "ORT serve")
                rate_q = batch / median(model, batch, variant)
                verdict = "SLOWER" if by_median < 1 - SAME else ("same" if by_median <= 1 + SAME else "faster")
                if verdict == "SLOWER":
                    slower.append(f"{model.label} {variant} batch {batch} ({by_median:.2f}x)")
                print(
                    f"  {model.label:<8} {variant:<11} {batch:>5} {rate_f:>12,.0f} {rate_q:>12,.0f} "
                    f"{by_median:>8.2f}x {by_best:>6.2f}x  {verdict}"
                )

    print("\n  size and test-split accuracy (ONNX Runtime; torch eager and max |ORT - torch| beside float32)")
    print(f"  {'model':<8} {'variant':<11} {'quantized':<13} {'size':>10} {'accuracy':>9} {'change':>8}")
    for model in models:
        base = model.accuracy["float32"]
        for variant, path in model.files.items():
            score, kib = model.accuracy[variant], path.stat().st_size / 1024
            line = (
                f"  {model.label:<8} {variant:<11} {model.quantized[variant]:<13} {kib:>6.1f} KiB {score * 100:>8.1f}%"
            )
            line += f" {(score - base) * 100:>+6.1f}pt"
            if variant == "float32":
                line += f"   torch eager {model.accuracy['torch eager'] * 100:.1f}%"
                line += f", max |ORT - torch| {model.max_difference:.1e}"
            print(line)
    for model in models:
        print(f"  {model.label}: dlc export --quantize int8 said (its own timing, in dlc serve's session):")
        for line in model.export_report:
            print(f"      {line}")

    print()
    if slower:
        print(f"  WARNING: int8 is SLOWER than float32 (by more than {SAME:.0%}) for: {'; '.join(slower)}")
    else:
        print("  int8 is nowhere slower than float32 beyond timing noise")
    print()
    for model in models:
        target = ORT_OVER_TORCH[model.label]
        by_median, _ = ratio(model, LATENCY_BATCH, "torch eager", "ORT serve")
        words = "no slower than" if target == 1.0 else f">= {target:g}x"
        goal(f"{model.label}: ORT {words} torch eager at batch 1", by_median >= target, f"{by_median:.2f}x")
    for model in models:
        if model.label in INT8_GOALS:
            batch = INT8_GOALS[model.label]
            by_median, _ = ratio(model, batch, "ORT serve", "int8")
            goal(
                f"{model.label}: int8 >= {INT8_SPEEDUP}x float32 at batch {batch}",
                by_median >= INT8_SPEEDUP,
                f"{by_median:.2f}x",
            )
    for model in models:
        change = (model.accuracy["int8"] - model.accuracy["float32"]) * 100
        ok = change >= -MAX_ACCURACY_LOSS
        goal(f"{model.label}: int8 accuracy change >= -{MAX_ACCURACY_LOSS:g} point", ok, f"{change:+.1f}pt")


if __name__ == "__main__":
    main()
