"""Writing files so that an interruption never leaves a broken one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import DlError


def write_atomically(path: Path, blob: bytes, what: str) -> None:
    """`blob` into `path` through a temporary file in the same folder and one rename."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(blob)
        os.replace(partial, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise DlError(f"{path}: cannot write {what}: {error.strerror or error}") from None
