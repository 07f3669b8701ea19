"""Assembling a generated program: its support sections (after the model and the training loop, under one
heading each), the framework-free functions every program copies in, and the imports its code uses."""

from __future__ import annotations

import ast
import builtins
import inspect
import re
from importlib import resources

from compiler import weights
from compiler.codegen import Writer

from . import data, loop, reporting
from .formatting import format_program

RULE = "# " + "-" * 64  # a section marker, as in our own templates


def section(w: Writer, title: str) -> None:
    w.line()
    w.line()
    w.line(f"{RULE} {title}")
    w.line()
    w.line()


def template_section(package: str, name: str, title: str) -> str:
    """One section of one of our template modules: from its marker line to the next one."""
    source = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    start = source.index(f"{RULE} {title}\n") + len(f"{RULE} {title}\n")
    end = source.find(RULE, start)
    return source[start : end if end >= 0 else len(source)].strip("\n")


def emit_shared_support(w: Writer) -> None:
    """The data, reporting and loop functions of backends/program, as every program runs them."""
    section(w, "support: data, progress and the training loop")
    for function in (*data.FUNCTIONS, *reporting.FUNCTIONS, *loop.FUNCTIONS):
        w.line()
        w.line()
        w.lines_of(inspect.getsource(function))


# import line -> the name it binds, as the program's code must use it
IMPORTS = (
    ("import argparse", "argparse"),
    ("import csv", "csv"),
    ("import io", "io"),
    ("import json", "json"),
    ("import math", "math"),
    ("import os", "os"),
    ("import signal", "signal"),
    ("import sys", "sys"),
    ("import tempfile", "tempfile"),
    ("import threading", "threading"),
    ("import time", "time"),
    ("import warnings", "warnings"),
    ("import zipfile", "zipfile"),
    ("import zlib", "zlib"),
    ("from datetime import timedelta", "timedelta"),
    ("from pathlib import Path", "Path"),
)


def used_imports(body: str, candidates: tuple[tuple[str, str], ...]) -> list[str]:
    """The import lines whose bound name `body` uses."""
    return [line for line, name in candidates if re.search(rf"(?<![\w.]){re.escape(name)}[.(]", body)]


# Between the standard library's imports and the frameworks' (seconds to load): run as a script, Ctrl-C before
# training ends the program at once, as it would any Unix tool, instead of in a traceback from inside an
# import. run_as_script hands Ctrl-C back to Python before `main`. (Loaded as a module, by dlc train, it
# leaves the importer's handler alone.)
QUIET_START = (
    "# Ctrl-C while the frameworks below load ends the program quietly; run_as_script restores it for training",
    "# ruff: noqa: E402",
    'if __name__ == "__main__" and signal.getsignal(signal.SIGINT) is signal.default_int_handler:',
    "    signal.signal(signal.SIGINT, signal.SIG_DFL)",
)


def program_source(
    body: Writer, docstring: Writer, third_party: tuple[tuple[str, str], ...], preamble: tuple[str, ...] = ()
) -> str:
    """The whole program: its docstring, the standard-library imports its body uses (with `import os` whenever
    the preamble needs it), QUIET_START, the preamble, the `third_party` imports its body uses, then the body;
    formatted by ruff."""
    text = body.text()
    standard = used_imports(text + "\n".join((*QUIET_START, *preamble)), IMPORTS)
    head = docstring
    for line in (
        *standard,
        "",
        *QUIET_START,
        "",
        *preamble,
        *([""] if preamble else []),
        *used_imports(text, third_party),
    ):
        head.line(line)
    head.line()
    return format_program(head.text() + "\n" + text)


def emit_main_guard(w: Writer) -> None:
    w.line()
    w.line()
    with w.block('if __name__ == "__main__":'):
        w.line("run_as_script(main)")


def top_level_names(source: str) -> set[str]:
    """The functions, classes and variables `source` defines at module level."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def template_names(package: str, name: str) -> set[str]:
    return top_level_names(resources.files(package).joinpath(name).read_text(encoding="utf-8"))


# What every program may define or import at module level, whichever parts it carries: a name the spec
# chooses (the model's class) must be none of them, nor a builtin.
SHARED_NAMES = (
    {function.__name__ for function in (*data.FUNCTIONS, *reporting.FUNCTIONS, *loop.FUNCTIONS)}
    | top_level_names(inspect.getsource(weights))
    | {"SETTINGS", "WEIGHTS", "SAMPLERS", "FORGET_BIASES", "initial_weights", "main"}
    | {name for _, name in IMPORTS}
    | set(dir(builtins))
)
