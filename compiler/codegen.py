"""A small writer for generated Python: indentation, blocks, and literals that can never inject code."""

from __future__ import annotations

import keyword
import math
from collections.abc import Iterator
from contextlib import contextmanager


class UnsafeValue(ValueError):
    """A value that cannot be emitted as a Python literal; a bug in the caller, never user-facing."""


def literal(value: object) -> str:
    """The Python source for a plain value, via repr after checking its type all the way down."""
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeValue(f"non-finite float {value!r}")
        return repr(value)
    if isinstance(value, tuple):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise UnsafeValue(f"cannot emit {type(value).__name__} as a literal")


def identifier(name: str) -> str:
    """`name` when it is a plain, non-keyword Python identifier; raises otherwise."""
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii() or keyword.iskeyword(name):
        raise UnsafeValue(f"{name!r} is not a safe identifier")
    return name


def shown_path(path: str) -> str:
    """A file path as text a program may hold: bytes the file system gave that are not UTF-8 (kept as lone
    surrogates by Python) become U+FFFD, since a string holding them cannot even be written out."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def comment(text: str) -> str:
    """A one-line comment; newlines and control characters are flattened so nothing escapes the comment."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text)
    return f"# {clean}"


class Writer:
    """Collects lines of code with indentation; `block` opens an indented suite."""

    def __init__(self, indent: str = "    "):
        self.lines: list[str] = []
        self.level = 0
        self.indent = indent

    def line(self, text: str = "") -> None:
        self.lines.append(self.indent * self.level + text if text else "")

    def lines_of(self, source: str) -> None:
        """Our own multi-line source (never user text), indented to the current level."""
        for text in source.strip("\n").splitlines():
            self.line(text.rstrip())

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self.line(header)
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"
