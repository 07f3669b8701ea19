"""Run every benchmark in this folder, in name order: `make bench` or `python benchmarks/run.py [NAME ...]`.

A benchmark is any `benchmarks/*.py` other than this file and `_`-prefixed helpers, with a `main()` that
prints its results. A missed goal is printed as GOAL MISSED and does not change the exit status; a
benchmark that crashes does (exit 1), after the others have run.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(names: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    if names:
        wanted = {n.removesuffix(".py") for n in names}
        unknown = wanted - {p.stem for p in found}
        if unknown:
            raise SystemExit(f"no benchmark named {', '.join(sorted(unknown))} (have: {', '.join(p.stem for p in found)})")
        found = [p for p in found if p.stem in wanted]
    return found


def run_one(path: Path) -> bool:
    spec = importlib.util.spec_from_file_location(f"benchmarks_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if not callable(main):
        print(f"  skipped: {path.name} has no main()")
        return True
    main()
    return True


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(HERE))  # so benchmarks can `import _harness`
    crashed = []
    for path in discover(sys.argv[1:] if argv is None else argv):
        print(f"\n=== {path.stem} " + "=" * max(0, 66 - len(path.stem)), flush=True)
        start = time.perf_counter()
        try:
            run_one(path)
        except Exception:
            traceback.print_exc()
            print(f"  BENCHMARK FAILED: {path.name}")
            crashed.append(path.stem)
        print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    if crashed:
        print(f"\nfailed to run: {', '.join(crashed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
