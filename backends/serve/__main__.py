"""`python -m backends.serve MODEL.onnx ... [--port N]`: the same as `dlc serve`."""

from __future__ import annotations

import argparse
import sys

from compiler.errors import DlError

from .app import DEFAULT_MAX_BODY_BYTES


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m backends.serve", description="Serve ONNX models over the KServe v2 REST protocol."
    )
    p.add_argument("models", nargs="+", metavar="MODEL.onnx", help="ONNX files to serve")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--max-batch", type=int, default=32, help="most rows merged into one run (default 32)")
    p.add_argument(
        "--max-delay-ms", type=float, default=0.0, help="how long a batch may wait to fill (default 0: no waiting)"
    )
    p.add_argument(
        "--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="larger bodies get 413 (default 64 MiB)"
    )
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads per model")
    p.add_argument("--triton-repo", metavar="DIR", help="write a Triton model repository to DIR and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.triton_repo:
            from .triton import write_triton_repository

            for folder in write_triton_repository(args.models, args.triton_repo, args.max_batch, args.max_delay_ms):
                print(f"wrote {folder}/config.pbtxt and {folder}/1/model.onnx")
            return 0
        from .server import serve

        serve(
            args.models,
            host=args.host,
            port=args.port,
            max_batch=args.max_batch,
            max_delay_ms=args.max_delay_ms,
            max_body_bytes=args.max_body_bytes,
            threads=args.threads,
        )
    except DlError as e:
        print(e.render(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
