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
        self.notes: list[str] = []  # where it came from: "in block 'Residual', used at m.dl:12:5"

    def render(self) -> str:
        """The error as the terminal shows it. Messages, hints and quoted lines carry text from specs and data
        files, so every part goes through `printable`: an ESC or a BEL in a string literal cannot drive the
        terminal that shows it."""
        if self.span is None:
            head = f"{self.kind}: {printable(self.message)}"
            tail = [f"  help: {printable(self.hint)}"] if self.hint else []
            return "\n".join([head, *tail, *(f"  note: {printable(note)}" for note in self.notes)])
        span = self.span
        text = span.source.line(span.line).expandtabs(1)
        width = 1
        if span.end_line == span.line and span.end_column > span.column:
            width = span.end_column - span.column
        start = span.column - 1
        marked = max(1, min(width, len(text) - start + 1))  # the caret may reach one column past the line's end
        # escapes widen characters, so the caret is placed under the escaped text, past-the-end columns one wide
        lead = len(printable(text[:start])) + max(0, start - len(text))
        carets = len(printable(text[start : start + marked])) + max(0, start + marked - max(start, len(text)))
        gutter = f"{span.line} | "
        lines = [
            f"{printable(span.location)}: {self.kind}: {printable(self.message)}",
            f"{gutter}{printable(text)}",
            " " * (len(gutter) + lead) + "^" * carets,
        ]
        if self.hint:
            lines.append(f"help: {printable(self.hint)}")
        lines += [f"note: {printable(note)}" for note in self.notes]
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


def printable(text: str) -> str:
    """`text` with every character that is not printable written as its escape: ESC as \\x1b, BEL as \\x07,
    a newline as \\n, a right-to-left override as \\u202e. What a spec or a data file holds reaches the
    terminal as text, never as a control sequence, and cannot forge a line of dlc's own output."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    named = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
    if ch in named:
        return named[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def clip(text: str, width: int = 60) -> str:
    """`text` escaped and cut to about `width` characters, for echoing a name read from a file."""
    shown = printable(text)
    return shown if len(shown) <= width else shown[: width - 3] + "..."


def listing(names: Iterable[str], most: int = 12, width: int = 40) -> str:
    """At most `most` names, each clipped to `width`, and how many more there are: a hint never prints a
    whole file's worth of names."""
    names = list(names)
    shown = ", ".join(clip(name, width) for name in names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


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


def unknown_name(
    what: str, name: str, span: Span | None, known: Iterable[str], keras: Iterable[str] = (), listed: bool = False
) -> DlNameError:
    """The error for a name the language does not know. A name Keras has (`keras`) is said to be Keras' and not in
    the language yet, never offered as a different known name (`Resizing` is not `Rescaling`); a typo of a known
    name gets "did you mean", of a Keras-only name the same news. `listed`: the hint lists every valid name."""
    known, keras = sorted(set(known)), set(keras) - set(known)
    valid = f"valid: {', '.join(known)}" if listed else None
    if name in keras:
        return DlNameError(f"Keras' {what} '{name}' is not in the language yet", span, valid)
    best = suggest(name, [*known, *keras])
    if best in keras:
        hint = f"did you mean Keras' '{best}'? it is not in the language yet"
    else:
        hint = f"did you mean '{best}'?" if best else None
    if listed:
        hint = f"{hint} ({valid})" if hint else valid
    return DlNameError(f"unknown {what} '{name}'", span, hint)


class DlErrors(DlError):
    """Several independent errors found in one run: rendered one after another, first one first."""

    def __init__(self, errors: list[DlError]):
        first = errors[0]
        super().__init__(first.message, first.span, first.hint)
        self.errors = errors

    def render(self) -> str:
        return "\n\n".join(error.render() for error in self.errors) + f"\n\n{len(self.errors)} errors"


def every_error(error: DlError) -> list[DlError]:
    """The errors an error stands for: its list, or itself."""
    return list(error.errors) if isinstance(error, DlErrors) else [error]


def as_json(diagnostic: DlError) -> dict:
    """An error or warning for `dlc check --json`: where (null without a span), what, and the fix."""
    span = diagnostic.span
    return {
        "severity": diagnostic.kind,
        "file": span.source.path if span else None,
        "line": span.line if span else None,
        "column": span.column if span else None,
        "end_line": span.end_line if span else None,
        "end_column": span.end_column if span else None,
        "message": diagnostic.message,
        "help": diagnostic.hint,
        "notes": list(diagnostic.notes),
    }
