"""The `dlc` command line. Imports no framework: backends are loaded by the commands that need them."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Callable, Sequence

from backends.serve.limits import LIMIT_OPTIONS, Limits
from compiler import __version__
from compiler.errors import DlError, clip, every_error
from compiler.errors import as_json as diagnostic_json
from compiler.files import check_output, write_atomically
from compiler.memory import ensure_exportable, ensure_fits

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def register(function):
        COMMANDS[name] = function
        return function

    return register


@command("check")
def run_check(args: argparse.Namespace) -> int:
    from compiler.frontend import collector_paused, load
    from compiler.summary import as_json, table

    with collector_paused():  # every checked model stays alive until its summary prints
        return _check_files(args, load, as_json if args.json else table)


def _check_files(args: argparse.Namespace, load, report) -> int:
    failed, reports = False, []
    for path in args.files:
        try:
            graphs = load(path)
        except DlError as error:
            failed = True
            print(error.render(), file=sys.stderr)
            if args.json:  # and machine-readable, in the file's place in the list
                reports.append({"file": str(path), "errors": [diagnostic_json(e) for e in every_error(error)]})
            continue
        for graph in graphs:
            reports.append(report(graph))
            if not args.json:
                show_warnings(graph)
    if args.json:
        print(json.dumps(reports, indent=2))
    else:
        print("\n\n".join(reports))
    return 1 if failed else 0


def show_warnings(graph) -> None:
    """The model's warnings on stderr: printed with their span and fix, never failing the command."""
    from compiler.lints import lint

    for warning in lint(graph):
        print(warning.render(), file=sys.stderr)


def load_checked(args: argparse.Namespace):
    """The model the command names (`--model` in a file of several), with its warnings shown."""
    from compiler.frontend import load_model

    graph = load_model(args.file, args.model)
    show_warnings(graph)
    return graph


@command("ir")
def run_ir(args: argparse.Namespace) -> int:
    from compiler.frontend import load
    from compiler.printer import print_ir

    for graph in load(args.file):
        print(print_ir(graph))
    return 0


@command("compile")
def run_compile(args: argparse.Namespace) -> int:
    from pathlib import Path

    graph = load_checked(args)
    from backends.program.loader import emit_program

    program = emit_program(graph, args.target)
    if args.output:
        write_atomically(Path(args.output), program.encode("utf-8"), "the program")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(program)
    return 0


@command("train")
def run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    graph = load_checked(args)
    ensure_fits(graph, "train")
    if args.export:
        ensure_exportable(graph)  # before the training, not after it
    from backends.program.loader import train

    out = Path(args.out) if args.out else Path("runs") / graph.name
    weights = None
    if args.weights:
        weights = Path(args.weights)
        _weights_or_seed(graph, args.weights)  # a DlError naming every misfit, before any framework loads
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a file of that name, or a file on its way, or a name too long: the user's to mend
        reason = "it is a file; name a folder" if isinstance(error, FileExistsError) else error.strerror or str(error)
        raise DlError(f"--out {out}: cannot be the run folder: {reason}") from None
    if args.nproc < 1:
        raise DlError(f"--nproc {args.nproc}: give at least 1 worker")
    if args.threads is not None and args.threads < 1:
        raise DlError(f"--threads {args.threads}: give at least 1")
    try:
        train(
            graph,
            args.backend,
            out,
            epochs=args.epochs,
            seed=args.seed,
            weights=weights,
            resume=args.resume,
            device=args.device,
            threads=args.threads,
            workers=args.nproc,
        )
    except SystemExit as stop:
        # the program ends with a message on its user's mistakes (data it cannot train on, a broken checkpoint);
        # run by dlc, that is dlc's error, exit 1, rendered like any other
        if isinstance(stop.code, str):
            raise DlError(stop.code) from None
        raise
    if args.export:
        from backends.onnx.command import export

        export(graph, out / "model.onnx", weights_path=out / "weights.safetensors")
    return 0


@command("export")
def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    graph = load_checked(args)
    ensure_fits(graph, "export", batch_size=1)
    from backends.onnx.command import export

    weights = Path(args.weights) if args.weights else None
    quantize_ops = _quantize_ops(args.quantize_ops) if args.quantize_ops else None
    if quantize_ops and not args.quantize:
        raise DlError("--quantize-ops needs --quantize int8")
    export(
        graph,
        Path(args.output),
        weights_path=weights,
        opset=args.opset,
        quantize=args.quantize,
        quantize_ops=quantize_ops,
    )
    if args.triton_repo:
        from backends.serve import write_triton_repository

        for path in write_triton_repository([args.output], args.triton_repo, max_batch=args.max_batch):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _quantize_ops(listed: str) -> list[str]:
    from backends.onnx.quantize import QUANTIZABLE_OPS as allowed
    from compiler.errors import did_you_mean

    ops = [op.strip() for op in listed.split(",") if op.strip()]
    for op in ops:
        if op not in allowed:
            hint = did_you_mean(op, allowed)
            raise DlError(
                f"--quantize-ops: cannot quantize '{op}'"
                + (f" ({hint})" if hint else "")
                + f"; choose from {', '.join(allowed)}"
            )
    return ops


@command("serve")
def run_serve(args: argparse.Namespace) -> int:
    if args.triton_repo:
        from backends.serve import write_triton_repository

        for folder in write_triton_repository(args.models, args.triton_repo, args.max_batch, args.max_delay_ms):
            print(f"wrote {folder}/config.pbtxt and {folder}/1/model.onnx", file=sys.stderr)
        return 0
    from backends.serve import serve

    limits = Limits(**{field: getattr(args, field) for field, _, _ in LIMIT_OPTIONS})
    serve(
        args.models,
        host=args.host,
        port=args.port,
        max_batch=args.max_batch,
        max_delay_ms=args.max_delay_ms,
        threads=args.threads,
        limits=limits,
        provider=args.provider,
    )
    return 0


@command("predict")
def run_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from backends.onnx.command import predict

    output = Path(args.output) if args.output else None
    predict(Path(args.model_file), [Path(p) for p in args.input], args.provider, output)
    return 0


@command("convert")
def run_convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from compiler.frontend import load_model
    from compiler.weights import load_safetensors, save_safetensors

    source, output = Path(args.weights), Path(args.output)
    if args.to:
        tensors, metadata = load_safetensors(source)
        spec = args.spec or _spec_named_by(metadata, source)
        named_model = metadata.get("model") if str(metadata.get("model")).isidentifier() else None
        graph = load_model(spec, args.model or named_model)
        from backends.convert import to_framework

        to_framework(graph, tensors, args.to, output, source)
    else:
        if args.spec is None:
            raise DlError(f"converting from {args.from_framework} needs the model's spec: add --spec FILE.dl")
        graph = load_model(args.spec, args.model)
        check_output(output, "weights")
        from backends.convert import from_framework

        tensors = from_framework(graph, source, args.from_framework)
        save_safetensors(output, tensors, {"model": graph.name, "source": str(args.spec)})
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _spec_named_by(metadata: dict[str, str], weights) -> str:
    """The .dl file a dlc-written weights file names in its metadata, when it is still there.

    The weights may come from anyone, and a spec that does not parse is quoted in the error: so the file named
    is read only when it is a regular `.dl` file, never /etc/passwd or a key that the metadata points at."""
    from pathlib import Path

    named = metadata.get("source")
    try:
        there = bool(named) and named.endswith(".dl") and Path(named).is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        there = False
    if there:
        return named
    problem = "which is not there" if named and named.endswith(".dl") else "which is not a .dl spec"
    where = f" (it names {clip(named, 200)}, {problem})" if named else ""
    raise DlError(f"{weights}: cannot tell which model these weights belong to{where}; add --spec FILE.dl")


@command("verify")
def run_verify(args: argparse.Namespace) -> int:
    graph = load_checked(args)
    ensure_fits(graph, "verify", batch_size=1)
    if args.steps < 0:
        raise DlError(f"--steps must be 0 or more, got {args.steps}")
    weights, note = _weights_or_seed(graph, args.weights)
    from backends.verify import verify

    report = verify(graph, weights, note, steps=args.steps, layers=args.layers)
    print(report.as_json() if args.json else report.table())
    return 0 if report.ok else 1


def _weights_or_seed(graph, path: str | None):
    """Canonical weights from `path`, checked against the model, or the spec seed's initial weights."""
    from compiler.weights import check_weights, initial_weights, load_safetensors

    if path is None:
        seed = graph.training.settings.seed
        return initial_weights(graph, seed), f"initial weights of seed {seed}"
    weights, _ = load_safetensors(path)
    check_weights(graph, weights, path)
    return weights, f"weights {path}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlc", description="Compile .dl neural-network specs to PyTorch, Keras and ONNX."
    )
    parser.add_argument("--version", action="version", version=f"dlc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="parse, elaborate and shape-check .dl files; print summaries")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--json", action="store_true", help="print one JSON list with an object per model")

    ir = commands.add_parser("ir", help="print the elaborated IR of a .dl file")
    ir.add_argument("file", metavar="FILE")

    compile_ = commands.add_parser("compile", help="generate a standalone training program")
    compile_.add_argument("file", metavar="FILE")
    compile_.add_argument("--target", choices=["pytorch", "keras"], default="pytorch")
    compile_.add_argument("--model", help="which model, when the file holds several")
    compile_.add_argument("-o", "--output", help="write the program here (default: standard output)")

    train = commands.add_parser("train", help="train a model; writes weights, history and curves")
    train.add_argument("file", metavar="FILE")
    train.add_argument("--backend", choices=["pytorch", "keras"], default="pytorch")
    train.add_argument("--model", help="which model, when the file holds several")
    train.add_argument("--epochs", type=int, help="override the spec's epochs")
    train.add_argument("--seed", type=int, help="override the spec's seed")
    train.add_argument("--out", help="output folder (default: runs/<model name>)")
    train.add_argument(
        "--weights", help="start from these canonical .safetensors weights (e.g. trained in the other backend)"
    )
    train.add_argument("--export", action="store_true", help="also write OUT/model.onnx from the trained weights")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint in OUT, up to --epochs")
    train.add_argument("--device", help="auto (default: a GPU when the framework has one), cpu, cuda or cuda:N")
    train.add_argument(
        "--threads", type=int, help="CPU threads per worker (default: half the CPUs, shared among local workers)"
    )
    train.add_argument(
        "--nproc", type=int, default=1, help="data-parallel workers on this machine (default: 1; torchrun or TF_CONFIG)"
    )

    export = commands.add_parser("export", help="export a model to ONNX (weights from a .safetensors file)")
    export.add_argument("file", metavar="FILE")
    export.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    export.add_argument("--weights", help="canonical .safetensors weights (default: the seed's initial weights)")
    export.add_argument("--model", help="which model, when the file holds several")
    export.add_argument("--opset", type=int, help="ONNX opset (default: 17)")
    export.add_argument("--quantize", choices=["int8"], help="dynamic int8 for MatMul/Gemm and recurrent ops")
    export.add_argument(
        "--quantize-ops",
        metavar="OPS",
        help="comma-separated ONNX op types to quantize (default: MatMul,Gemm,LSTM,GRU,RNN; Conv only if listed)",
    )
    export.add_argument("--triton-repo", metavar="DIR", help="also write a Triton model repository here")
    export.add_argument("--max-batch", type=int, default=32, help="Triton max_batch_size (default: %(default)s)")

    serve = commands.add_parser("serve", help="serve .onnx models over the KServe v2 / Triton HTTP protocol")
    serve.add_argument("models", nargs="+", metavar="MODEL.onnx")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s, loopback only)")
    serve.add_argument("--port", type=int, default=8000, help="default: %(default)s; 0 picks a free port")
    serve.add_argument("--max-batch", type=int, default=32, help="rows per dynamic batch (default: %(default)s)")
    serve.add_argument(
        "--max-delay-ms", type=float, default=0.0, help="wait this long to fill a batch (default: never wait)"
    )
    for field, kind, help_text in LIMIT_OPTIONS:
        option = "--" + field.replace("_", "-")
        serve.add_argument(option, type=kind, default=getattr(Limits, field), help=help_text)
    serve.add_argument(
        "--threads", type=int, help="ONNX Runtime intra-op threads per model (default: the cores minus one, at most 8)"
    )
    serve.add_argument(
        "--provider", choices=["cpu", "cuda"], default="cpu", help="ONNX Runtime provider (cuda: onnxruntime-gpu)"
    )
    serve.add_argument("--triton-repo", metavar="DIR", help="write a Triton model repository to DIR instead, and exit")

    convert = commands.add_parser(
        "convert", help="convert canonical .safetensors weights to or from PyTorch or Keras weight files"
    )
    convert.add_argument("weights", metavar="WEIGHTS", help="the file to convert")
    direction = convert.add_mutually_exclusive_group(required=True)
    direction.add_argument("--to", choices=["pytorch", "keras"], help="canonical -> a state_dict or .weights.h5")
    direction.add_argument(
        "--from", dest="from_framework", choices=["pytorch", "keras"], help="a state_dict or .weights.h5 -> canonical"
    )
    convert.add_argument("-o", "--output", required=True, help="the file to write")
    convert.add_argument(
        "--spec", metavar="FILE.dl", help="the model's spec (default for --to: the one the weights' metadata names)"
    )
    convert.add_argument("--model", help="which model, when the spec holds several")

    verify = commands.add_parser(
        "verify", help="check that PyTorch, Keras and ONNX Runtime compute the same numbers for a model"
    )
    verify.add_argument("file", metavar="FILE")
    verify.add_argument("--model", help="which model, when the file holds several")
    verify.add_argument("--weights", help="canonical .safetensors weights (default: the seed's initial weights)")
    verify.add_argument(
        "--steps", type=int, default=0, help="also train K optimizer steps in PyTorch and Keras and compare weights"
    )
    verify.add_argument(
        "--layers",
        action="store_true",
        help="also compare every layer's output and name the first layer outside the contract",
    )
    verify.add_argument("--json", action="store_true", help="print the differences as one JSON object")

    predict = commands.add_parser("predict", help="run an exported .onnx model on ONNX Runtime")
    predict.add_argument("model_file", metavar="MODEL.onnx")
    predict.add_argument(
        "--input", action="append", required=True, help="a .npy or .csv file; repeat once per model input, in order"
    )
    predict.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    predict.add_argument("-o", "--output", help="save the outputs as .npy (default: print them)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a terminal that cannot show a box line or a name still gets the rest
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DlError as error:
        print(error.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug in dlc, never the user's fault: one line, not a traceback
        if os.environ.get("DLC_TRACEBACK"):
            raise
        print(f"dlc: internal error: {type(error).__name__}: {clip(str(error), 500)}", file=sys.stderr)
        print("this is a bug in dlc; run again with DLC_TRACEBACK=1 and report the output", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
