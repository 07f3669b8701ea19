"""Generated programs are formatted by ruff, the formatter the project itself uses, so `ruff format` leaves them
unchanged and `ruff check` finds nothing to say."""

from __future__ import annotations

import subprocess
import sys

from compiler.errors import DlError

LINE_LENGTH = 120
# Keep in step with [tool.ruff] in pyproject.toml; --isolated ignores any configuration around the output file.
RUFF_OPTIONS = ("--isolated", f"--line-length={LINE_LENGTH}", "--target-version=py311")


def format_program(source: str) -> str:
    """`source` as `ruff format` writes it; the source must be valid Python."""
    command = [sys.executable, "-m", "ruff", "format", *RUFF_OPTIONS, "--stdin-filename=program.py", "-"]
    try:
        done = subprocess.run(command, input=source, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DlError(f"cannot run ruff to format the generated program: {error}") from None
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise DlError(f"ruff could not format the generated program ({detail[0]}); is ruff installed?")
    return done.stdout
