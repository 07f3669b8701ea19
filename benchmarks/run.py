"""Run every benchmark in this folder, in name order: `make bench`, or `python benchmarks/run.py [NAME ...]`.

A benchmark is any `benchmarks/*.py` other than this file and `_`-prefixed helpers, with a `main()` that
prints its results (goals through `_harness.goal`). A missed goal is printed as GOAL MISSED and leaves the
exit status 0; a benchmark that crashes makes it 1, after the others have run.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # `import _harness`, and the compiler even when not installed

import _harness  # noqa: E402


def discover(names: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    if names:
        wanted = {n.removesuffix(".py") for n in names}
        unknown = wanted - {p.stem for p in found}
        if unknown:
            have = ", ".join(p.stem for p in found)
            raise SystemExit(f"no benchmark named {', '.join(sorted(unknown))} (have: {have})")
        found = [p for p in found if p.stem in wanted]
    return found


def run_one(path: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name while it executes
    spec.loader.exec_module(module)
    if not callable(getattr(module, "main", None)):
        raise TypeError(f"{path.name} has no main()")
    module.main()


def main(argv: list[str] | None = None) -> int:
    benchmarks = discover(sys.argv[1:] if argv is None else argv)
    print(f"{len(benchmarks)} benchmark(s); {_harness.machine_note()}")
    crashed = []
    for path in benchmarks:
        print(f"\n=== {path.stem} " + "=" * max(3, 70 - len(path.stem)), flush=True)
        start = time.perf_counter()
        try:
            run_one(path)
        except Exception:
            traceback.print_exc(file=sys.stdout)
            print(f"  BENCHMARK FAILED: {path.name}")
            crashed.append(path.stem)
        print(f"  [{path.stem}: {time.perf_counter() - start:.1f} s]", flush=True)

    print("\n=== summary " + "=" * 63)
    print(_harness.machine_note())
    missed = [g for g in _harness.GOALS if not g[1]]
    for description, ok, measured in _harness.GOALS:
        print(f"  {'PASS       ' if ok else 'GOAL MISSED'}  {description} ({measured})")
    print(f"  {len(_harness.GOALS) - len(missed)} of {len(_harness.GOALS)} goals met")
    if crashed:
        print(f"  failed to run: {', '.join(crashed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
