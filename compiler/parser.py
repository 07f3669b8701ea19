"""Text to surface syntax: runs the Lark parser and turns its errors into DlSyntaxError."""

from __future__ import annotations

import json
import math
import threading
from functools import cache
from types import SimpleNamespace

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

import grammar

from . import syntax as s
from .errors import DlSyntaxError, Source, Span, did_you_mean
from .values import MAX_INT

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


def _token_span(source: Source, token: Token) -> Span:
    return Span(source, token.line, token.column, token.end_line, token.end_column)


# Tokens that carry a value; the others (keywords, brackets, commas) only give a `!` rule its extent.
VALUE_TOKENS = frozenset({"NAME", "INT", "FLOAT", "STRING", "TRUE", "FALSE"})


class _ToSyntax:
    """Builds syntax dataclasses as the parser reduces each rule; checks nothing beyond the literal text.

    Lark calls `callbacks().<rule>(children)` during the parse, so no parse tree is built and walked again;
    a node's span runs from its first child's start to its last child's end (tokens and built nodes both
    know theirs). Rules marked `!` in the grammar keep their keywords and brackets for the span; they are
    dropped before the `rule_<name>(span, children)` method sees the children.
    """

    def __init__(self):
        self.source: Source | None = None  # set for each parse; the parser object is built once

    def callbacks(self) -> SimpleNamespace:
        rules = [name for name in dir(self) if name.startswith("rule_")]
        return SimpleNamespace(**{name[5:]: self._callback(getattr(self, name)) for name in rules})

    def _callback(self, method):
        def callback(children):
            span = self._cover(children)
            values = [c for c in children if not isinstance(c, Token) or c.type in VALUE_TOKENS]
            return method(span, values)

        return callback

    def _cover(self, children) -> Span | None:
        first = last = None
        for child in children:
            if isinstance(child, Token) or isinstance(getattr(child, "span", None), Span):
                first = child
                break
        if first is None:
            return None
        for child in reversed(children):
            if isinstance(child, Token) or isinstance(getattr(child, "span", None), Span):
                last = child
                break
        start = first if isinstance(first, Token) else first.span
        end = last if isinstance(last, Token) else last.span
        return Span(self.source, start.line, start.column, end.end_line, end.end_column)

    # values
    def rule_int(self, span, children):
        return s.Number(self._integer(children[0]), span)

    def _integer(self, token: Token) -> int:
        # Beyond int64 no backend can hold the value; refusing early also bounds all later arithmetic.
        if len(token) > 19 or int(token) > MAX_INT:
            raise DlSyntaxError(
                f"integer {token[:20]}{'...' if len(token) > 20 else ''} is out of range",
                _token_span(self.source, token),
                f"integers go up to {MAX_INT}",
            )
        return int(token)

    def rule_float(self, span, children):
        value = float(children[0])
        if not math.isfinite(value):
            raise DlSyntaxError(f"number {children[0]} is out of range", span)
        return s.Number(value, span)

    def rule_string(self, span, children):
        try:
            value = json.loads(children[0])
        except ValueError:
            raise DlSyntaxError("invalid escape in string", span, 'use \\\\, \\" or \\n') from None
        return s.String(value, span)

    def rule_true(self, span, _):
        return s.Bool(True, span)

    def rule_false(self, span, _):
        return s.Bool(False, span)

    def rule_name(self, span, children):
        return s.Name(str(children[0]), span)

    def rule_tuple(self, span, children):
        return s.TupleExpr(tuple(c for c in children if c is not None), span)

    def rule_list(self, span, children):
        return s.ListExpr(tuple(c for c in children if c is not None), span)

    def _binop(op):  # noqa: N805 - builds methods at class creation
        def method(self, span, children):
            return s.BinOp(op, children[0], children[1], span)

        return method

    rule_add = _binop("+")
    rule_sub = _binop("-")
    rule_mul = _binop("*")
    rule_div = _binop("/")
    rule_floordiv = _binop("//")

    def rule_neg(self, span, children):
        return s.Neg(children[0], span)

    def rule_pos(self, span, children):
        return children[0]

    def rule_keyword(self, span, children):
        return s.Arg(str(children[0]), children[1], span)

    def rule_call(self, span, children):
        callee, *items = children
        args = tuple(a if isinstance(a, s.Arg) else s.Arg(None, a, a.span) for a in items if a is not None)
        return s.Call(str(callee), args, span, _token_span(self.source, callee))

    @staticmethod
    def _statements(items) -> tuple[s.Stmt, ...]:
        """A bare call in a body is a layer statement."""
        return tuple(s.LayerStmt(i, None, None, i.span) if isinstance(i, s.Call) else i for i in items)

    # statements
    def rule_labelled_stmt(self, span, children):
        label, call = children
        return s.LayerStmt(call, str(label), _token_span(self.source, label), span)

    def rule_from_stmt(self, span, children):
        return s.FromStmt(str(children[0]), _token_span(self.source, children[0]))

    def rule_repeat_stmt(self, span, children):
        return s.RepeatStmt(children[0], self._statements(children[1:]), span)

    # declarations
    def rule_fixed_dim(self, span, children):
        return self._integer(children[0])

    def rule_variable_dim(self, span, _):
        return None

    def rule_input_decl(self, span, children):
        name, dtype, *dims = children
        return s.InputDecl(str(name), str(dtype), tuple(dims), span, _token_span(self.source, dtype))

    def rule_param(self, span, children):
        return s.Param(str(children[0]), children[1], span)

    def rule_params(self, span, children):
        return tuple(c for c in children if c is not None)

    def rule_block(self, span, children):
        name, params, *body = children
        body = self._statements(body)
        return s.BlockDecl(str(name), params or (), body, span, _token_span(self.source, name))

    def rule_setting(self, span, children):
        return s.Setting(str(children[0]), children[1], _token_span(self.source, children[0]))

    def _section(kind, many):  # noqa: N805 - builds methods at class creation
        def method(self, span, children):
            body = self._statements(children) if many else children[0]
            return s.Section(kind, body, span)

        return method

    rule_layers = _section("layers", True)
    rule_train = _section("train", True)
    rule_loss = _section("loss", False)
    rule_optimizer = _section("optimizer", False)
    rule_metrics = _section("metrics", False)

    def rule_model(self, span, children):
        name, *items = children
        inputs = tuple(i for i in items if isinstance(i, s.InputDecl))
        sections = tuple(i for i in items if isinstance(i, s.Section))
        return s.ModelDecl(str(name), inputs, sections, span, _token_span(self.source, name))

    def rule_start(self, span, children):
        models = tuple(c for c in children if isinstance(c, s.ModelDecl))
        blocks = tuple(c for c in children if isinstance(c, s.BlockDecl))
        return s.Module(models, blocks)


def _terminal_word(name: str) -> str:
    if name in TERMINAL_WORDS:
        return TERMINAL_WORDS[name]
    for terminal in _parser().terminals:
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
        lines = source.text.split("\n")  # Lark counts lines by "\n" only
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
        hint = error.match_examples(_parser().parse, MISTAKES, use_accepts=True)
        return DlSyntaxError(message, span, hint or _keyword_hint(str(token), set(error.expected)))
    expected = getattr(error, "expected", None)
    message = "unexpected end of file" + (f"; expected {_expected_words(set(expected))}" if expected else "")
    return DlSyntaxError(message, span, "is a closing ')', ']' or '}' missing?")


_BUILDER = _ToSyntax()
_BUILDING = threading.Lock()  # the builder holds the source of the parse in progress


@cache
def _parser() -> Lark:
    return grammar.building_parser(_BUILDER.callbacks())


def parse(text: str, path: str = "<string>") -> s.Module:
    """Parse .dl text into surface syntax; every failure is a DlError."""
    source = Source(path, text)
    with _BUILDING:
        _BUILDER.source = source
        try:
            return _parser().parse(text)
        except UnexpectedInput as error:
            raise _syntax_error(source, error) from None
        finally:
            _BUILDER.source = None


__all__ = ["parse", "MISTAKES"]
