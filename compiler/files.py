"""Writing files so that an interruption never leaves a broken one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from .errors import DlError


def write_atomically(path: Path, blob: bytes, what: str) -> None:
    """`blob` into `path` through a temporary file in the same folder and one rename."""
    replace_atomically(path, lambda partial: partial.write_bytes(blob), what)


def replace_atomically(path: Path, write: Callable[[Path], None], what: str, suffix: str = "") -> None:
    """`path` written by `write(temporary path)` in the same folder, then one rename: a kill at any instant leaves
    the previous file whole, and a failed or interrupted write leaves no temporary file. `suffix` ends the
    temporary name, for writers that insist on one (Keras: `.weights.h5`). A folder that takes no file is a
    DlError naming `path`."""
    partial = path.with_name(f".{path.name}.partial{suffix}")
    try:
        partial.open("wb").close()  # first, so that an unwritable folder is an OSError, not a framework's own error
        write(partial)
        os.chmod(partial, plain_mode())
        os.replace(partial, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise DlError(f"{path}: cannot write {what}: {error.strerror or error}") from None
        raise


def plain_mode() -> int:
    """The mode `open()` gives a new file. A leftover temporary file keeps its own mode, and libraries that write
    through a temporary file of their own (safetensors) leave it 0600."""
    umask = os.umask(0o077)  # read by setting it: for that instant a thread's new file is private, never looser
    os.umask(umask)
    return 0o666 & ~umask


def check_output(path: Path, what: str, make_folder: bool = False) -> None:
    """A DlError naming `path` unless it can be written as a file: its folder exists (or is made, with
    `make_folder`) and it is not itself a folder. Checked before the work, which may be long."""
    folder, missing = path.parent, f"no folder {path.parent}"
    if make_folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            missing = f"cannot make folder {folder}: {error.strerror or error}"
    if path.is_dir():
        raise DlError(f"{path}: cannot write {what}: it is a folder; name a file")
    if not folder.is_dir():
        in_the_way = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{in_the_way} is a file, not a folder" if in_the_way else missing
        raise DlError(f"{path}: cannot write {what}: {reason}")
