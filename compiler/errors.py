"""Source spans and the one error hierarchy; errors render as file:line:col with a caret."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Source:
    """A .dl file's path and text, kept so errors can quote the offending line."""

    path: str
    text: str

    def line(self, number: int) -> str:
        lines = self.text.split("\n")  # as Lark counts lines
        return lines[number - 1].removesuffix("\r") if 1 <= number <= len(lines) else ""


@dataclass(frozen=True, slots=True)
class Span:
    """Where a construct sits in its source: 1-based line and column, end inclusive of the line."""

    source: Source = field(repr=False, compare=False)
    line: int
    column: int
    end_line: int
    end_column: int

    @property
    def location(self) -> str:
        return f"{self.source.path}:{self.line}:{self.column}"


class DlError(Exception):
    """Every error the user can cause. The CLI prints these and nothing else."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def render(self) -> str:
        if self.span is None:
            head = f"error: {self.message}"
            return head if self.hint is None else f"{head}\n  help: {self.hint}"
        span = self.span
        text = span.source.line(span.line).expandtabs(1)
        width = 1
        if span.end_line == span.line and span.end_column > span.column:
            width = span.end_column - span.column
        gutter = f"{span.line} | "
        lines = [
            f"{span.location}: error: {self.message}",
            f"{gutter}{text}",
            " " * (len(gutter) + span.column - 1) + "^" * max(1, min(width, len(text) - span.column + 2)),
        ]
        if self.hint:
            lines.append(f"help: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class DlSyntaxError(DlError):
    """The text does not follow the grammar."""


class DlNameError(DlError):
    """An unknown layer, argument, label, block, enum value or setting."""


class DlArgumentError(DlError):
    """An argument has the wrong type, range, or count."""


class DlShapeError(DlError):
    """A layer cannot accept the shape or dtype that reaches it."""


class DlDataError(DlError):
    """A train { } data source is missing or does not fit the model."""


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The nearest candidate to a misspelt name, preferring a case-only difference."""
    candidates = sorted(set(candidates))
    for candidate in candidates:
        if candidate.lower() == name.lower():
            return candidate
    by_lower = {c.lower(): c for c in candidates}
    cutoff = 0.5 if len(name) <= 3 else 0.6  # `l3` -> `l1` is one edit in two letters
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[close[0]] if close else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A `help:` line for a misspelt name, or None when nothing is close."""
    best = suggest(name, candidates)
    return f"did you mean '{best}'?" if best else None
