"""The front end in one call: read a .dl file, parse, elaborate, check; errors stay DlErrors."""

from __future__ import annotations

import gc
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .elaborate import elaborate
from .errors import DlError, Source, Span
from .ir import Graph
from .parser import parse

MAX_SPEC_BYTES = 2 * 2**20  # a 10,000-layer spec is ~0.3 MB; parsing costs a few hundred bytes of memory per byte


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building objects that all stay alive.

    The front end allocates many small objects and frees none of them; the collector would rescan them over
    and over (quadratic on 10,000-layer specs) and could free nothing.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def load_text(text: str, path: str = "<string>") -> list[Graph]:
    """All models in `text`. Raises DlError, and nothing else, for any bad input."""
    with collector_paused():
        try:
            return elaborate(parse(text, path))
        except RecursionError:
            span = Span(Source(path, text), 1, 1, 1, 2)
            raise DlError("the spec is nested too deeply to elaborate", span) from None


def load(path: str | Path) -> list[Graph]:
    """All models in the .dl file at `path`: a regular file of at most MAX_SPEC_BYTES, never a device or a
    pipe (which could be endless or block forever), nor a kernel file such as /proc/self/environ (a spec's
    errors quote its lines)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DlError(f"{path}: not a regular file; a spec is a .dl file")
        if info.st_size > MAX_SPEC_BYTES:
            raise DlError(f"{path}: {info.st_size:,} bytes is larger than a spec may be ({MAX_SPEC_BYTES:,} bytes)")
        with path.open("rb") as handle:
            blob = handle.read(MAX_SPEC_BYTES + 1)
        if len(blob) > MAX_SPEC_BYTES:
            raise DlError(f"{path}: larger than a spec may be ({MAX_SPEC_BYTES:,} bytes)")
        if blob and info.st_size == 0:  # /proc/self/environ and its kind: errors would quote what they hold
            raise DlError(f"{path}: a file of the kernel's (/proc, /sys), not one on disk; a spec is a .dl file")
        text = blob.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode reads
    except FileNotFoundError:
        raise DlError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise DlError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise DlError(f"{path}: cannot read: {error.strerror or error}") from None
    return load_text(text, str(path))


def load_model(path: str | Path, name: str | None = None) -> Graph:
    """One model from a file: the named one, or the only one."""
    graphs = load(path)
    if name is not None:
        for graph in graphs:
            if graph.name == name:
                return graph
        raise DlError(f"{path}: no model named '{name}' (models: {', '.join(g.name for g in graphs)})")
    if len(graphs) != 1:
        names = ", ".join(g.name for g in graphs) or "none"
        raise DlError(f"{path}: holds {len(graphs)} models ({names}); choose one with --model")
    return graphs[0]
