"""Text to surface syntax: runs the Lark parser and turns its errors into DlSyntaxError."""

from __future__ import annotations

import json
import math

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from grammar import parser as lark_parser

from . import syntax as s
from .errors import DlError, DlSyntaxError, Source, Span, did_you_mean

# What the user reads for the regex terminals Lark says it expected; keywords and
# punctuation are shown as their own text.
TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "$END": "end of file",
}

# Characters that are never valid, with what the user most likely meant.
CHARACTER_HINTS = {
    ";": "statements need no ';': put each on its own line",
    "'": 'strings use double quotes: "digits"',
    "=": "only layer arguments and train settings use '='",
}

# Known mistakes, each a few snippets that fail the same way, with the message to give.
# tests/test_errors.py runs every entry.
MISTAKES: dict[str, list[str]] = {
    "layer arguments are written `name=value`, not `name: value`": [
        "model M { input x: f32[4] layers { Dense(units: 4) } }",
        "model M { input x: f32[4] layers { Dense(4, activation: relu) } }",
    ],
    "an input needs a dtype and a shape, like `input x: f32[8, 8, 1]`": [
        "model M { input x f32[4] }",
        "model M { input x: f32 }",
        "model M { input x: f32() }",
    ],
    "a layer needs parentheses, even without arguments: `Flatten()`": [
        "model M { input x: f32[4] layers { Flatten } }",
        "model M { input x: f32[4] layers { Flatten Dense(3) } }",
    ],
}


def _span(source: Source, meta) -> Span:
    return Span(source, meta.line, meta.column, meta.end_line, meta.end_column)


def _token_span(source: Source, token: Token) -> Span:
    return Span(source, token.line, token.column, token.end_line, token.end_column)


class _ToSyntax(Transformer):
    """Builds syntax dataclasses; checks nothing beyond the literal text."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source

    def _sp(self, meta) -> Span:
        return _span(self.source, meta)

    # values
    @v_args(meta=True)
    def int(self, meta, children):
        return s.Number(int(children[0]), self._sp(meta))

    @v_args(meta=True)
    def float(self, meta, children):
        value = float(children[0])
        if not math.isfinite(value):
            raise DlSyntaxError(f"number {children[0]} is out of range", self._sp(meta))
        return s.Number(value, self._sp(meta))

    @v_args(meta=True)
    def string(self, meta, children):
        try:
            value = json.loads(children[0])
        except ValueError:
            raise DlSyntaxError("invalid escape in string", self._sp(meta), 'use \\\\, \\" or \\n') from None
        return s.String(value, self._sp(meta))

    @v_args(meta=True)
    def true(self, meta, _):
        return s.Bool(True, self._sp(meta))

    @v_args(meta=True)
    def false(self, meta, _):
        return s.Bool(False, self._sp(meta))

    @v_args(meta=True)
    def name(self, meta, children):
        return s.Name(str(children[0]), self._sp(meta))

    @v_args(meta=True)
    def tuple(self, meta, children):
        return s.TupleExpr(tuple(c for c in children if c is not None), self._sp(meta))

    @v_args(meta=True)
    def list(self, meta, children):
        return s.ListExpr(tuple(c for c in children if c is not None), self._sp(meta))

    def _binop(op):  # noqa: N805 - builds methods at class creation
        @v_args(meta=True)
        def method(self, meta, children):
            return s.BinOp(op, children[0], children[1], self._sp(meta))

        return method

    add = _binop("+")
    sub = _binop("-")
    mul = _binop("*")
    div = _binop("/")
    floordiv = _binop("//")

    @v_args(meta=True)
    def neg(self, meta, children):
        return s.Neg(children[0], self._sp(meta))

    def pos(self, children):
        return children[0]

    @v_args(meta=True)
    def positional(self, meta, children):
        return s.Arg(None, children[0], self._sp(meta))

    @v_args(meta=True)
    def keyword(self, meta, children):
        return s.Arg(str(children[0]), children[1], self._sp(meta))

    def args(self, children):
        return tuple(c for c in children if c is not None)

    @v_args(meta=True)
    def call(self, meta, children):
        callee, args = children
        return s.Call(str(callee), args or (), self._sp(meta), _token_span(self.source, callee))

    # statements
    @v_args(meta=True)
    def layer_stmt(self, meta, children):
        return s.LayerStmt(children[0], None, None, self._sp(meta))

    @v_args(meta=True)
    def labelled_stmt(self, meta, children):
        label, call = children
        return s.LayerStmt(call, str(label), _token_span(self.source, label), self._sp(meta))

    @v_args(meta=True)
    def from_stmt(self, meta, children):
        return s.FromStmt(str(children[0]), _token_span(self.source, children[0]))

    @v_args(meta=True)
    def repeat_stmt(self, meta, children):
        return s.RepeatStmt(children[0], tuple(children[1:]), self._sp(meta))

    # declarations
    def fixed_dim(self, children):
        return int(children[0])

    def variable_dim(self, _):
        return None

    @v_args(meta=True)
    def input_decl(self, meta, children):
        name, dtype, *dims = children
        return s.InputDecl(str(name), str(dtype), tuple(dims), self._sp(meta), _token_span(self.source, dtype))

    @v_args(meta=True)
    def param(self, meta, children):
        return s.Param(str(children[0]), children[1], self._sp(meta))

    def params(self, children):
        return tuple(c for c in children if c is not None)

    @v_args(meta=True)
    def block(self, meta, children):
        name, params, *body = children
        return s.BlockDecl(str(name), params or (), tuple(body), self._sp(meta), _token_span(self.source, name))

    @v_args(meta=True)
    def setting(self, meta, children):
        return s.Setting(str(children[0]), children[1], _token_span(self.source, children[0]))

    def _section(kind, many):  # noqa: N805 - builds methods at class creation
        @v_args(meta=True)
        def method(self, meta, children):
            body = tuple(children) if many else children[0]
            return s.Section(kind, body, self._sp(meta))

        return method

    layers = _section("layers", True)
    train = _section("train", True)
    loss = _section("loss", False)
    optimizer = _section("optimizer", False)
    metrics = _section("metrics", False)

    @v_args(meta=True)
    def model(self, meta, children):
        name, *items = children
        inputs = tuple(i for i in items if isinstance(i, s.InputDecl))
        sections = tuple(i for i in items if isinstance(i, s.Section))
        return s.ModelDecl(str(name), inputs, sections, self._sp(meta), _token_span(self.source, name))

    def start(self, children):
        models = tuple(c for c in children if isinstance(c, s.ModelDecl))
        blocks = tuple(c for c in children if isinstance(c, s.BlockDecl))
        return s.Module(models, blocks)


def _terminal_word(name: str) -> str:
    if name in TERMINAL_WORDS:
        return TERMINAL_WORDS[name]
    for terminal in lark_parser().terminals:
        if terminal.name == name and terminal.pattern.type == "str":
            return f"'{terminal.pattern.value}'"
    return name.lower()


def _expected_words(expected: set[str]) -> str:
    words = sorted({_terminal_word(t) for t in expected})
    if len(words) > 8:
        words = words[:8] + ["..."]
    return ", ".join(words)


def _keyword_hint(found: str, expected: set[str]) -> str | None:
    """`modle` where `model` was expected: suggest the keyword."""
    keywords = [w.strip("'") for w in map(_terminal_word, expected) if w.startswith("'") and w[1:-1].isalpha()]
    return did_you_mean(found, keywords) if keywords and found.isidentifier() else None


def _syntax_error(source: Source, error: UnexpectedInput) -> DlSyntaxError:
    at_end = isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END")
    if at_end:
        lines = source.text.splitlines() or [""]
        line, column = len(lines), len(lines[-1]) + 1
    else:
        line, column = max(error.line, 1), max(error.column, 1)
    span = Span(source, line, column, line, column + 1)
    if isinstance(error, UnexpectedCharacters):
        found = source.text[error.pos_in_stream]
        return DlSyntaxError(f"unexpected character {found!r}", span, CHARACTER_HINTS.get(found))
    if isinstance(error, UnexpectedToken) and not at_end:
        token = error.token
        span = Span(source, line, column, token.end_line or line, token.end_column or column + 1)
        message = f"unexpected {str(token)!r}; expected {_expected_words(set(error.expected))}"
        hint = error.match_examples(lark_parser().parse, MISTAKES, use_accepts=True)
        return DlSyntaxError(message, span, hint or _keyword_hint(str(token), set(error.expected)))
    expected = getattr(error, "expected", None)
    message = "unexpected end of file" + (f"; expected {_expected_words(set(expected))}" if expected else "")
    return DlSyntaxError(message, span, "is a closing ')', ']' or '}' missing?")


def parse(text: str, path: str = "<string>") -> s.Module:
    """Parse .dl text into surface syntax; every failure is a DlError."""
    source = Source(path, text)
    try:
        tree = lark_parser().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(source, error) from None
    try:
        return _ToSyntax(source).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, DlError):
            raise error.orig_exc from None
        raise
    except RecursionError:
        raise DlSyntaxError("expression nested too deeply", Span(source, 1, 1, 1, 2)) from None


__all__ = ["parse", "MISTAKES", "Tree"]
