"""Putting generated programs together: the static templates they paste, and ruff formatting, so that
`ruff format` leaves a generated program unchanged and `ruff check` finds nothing to say."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

from compiler.errors import DlError

LINE_LENGTH = 120
# Keep in step with [tool.ruff] in pyproject.toml; --isolated ignores any configuration around the output file.
RUFF_OPTIONS = ("--isolated", f"--line-length={LINE_LENGTH}", "--target-version=py311")


def template_body(package: str, name: str) -> str:
    """A template module's code from its first section marker on (its docstring and noqa line stay behind)."""
    source = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return source[source.index("# ----------------------------------------------------------------") :]


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
