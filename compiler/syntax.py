"""Surface syntax: what the user wrote, as frozen dataclasses with spans (no semantics)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Span


@dataclass(frozen=True, slots=True)
class Number:
    value: int | float
    span: Span


@dataclass(frozen=True, slots=True)
class String:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    """A bare name: an enum value, a block parameter, or a label in a merge."""

    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class TupleExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # one of + - * / //
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Arg:
    """One call argument; `name` is None for a positional one."""

    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """`Dense(64, activation=relu)`, also nested (`Bidirectional(LSTM(8))`, `l2(0.01)`)."""

    callee: str
    args: tuple[Arg, ...]
    span: Span
    callee_span: Span


Expr = Number | String | Bool | Name | TupleExpr | ListExpr | BinOp | Neg | Call


@dataclass(frozen=True, slots=True)
class LayerStmt:
    """A layer or block use, optionally labelled (`skip: Conv2D(8, 3)`)."""

    call: Call
    label: str | None
    label_span: Span | None
    span: Span


@dataclass(frozen=True, slots=True)
class FromStmt:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class RepeatStmt:
    count: Expr
    body: tuple[Stmt, ...]
    span: Span


Stmt = LayerStmt | FromStmt | RepeatStmt


@dataclass(frozen=True, slots=True)
class InputDecl:
    name: str
    dtype: str
    dims: tuple[int | None, ...]  # None for `?`
    span: Span
    dtype_span: Span


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class BlockDecl:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Section:
    """A model item: `layers`, `loss`, `optimizer`, `metrics` or `train`, with its contents."""

    kind: str
    body: tuple[Stmt, ...] | tuple[Setting, ...] | Expr
    span: Span


@dataclass(frozen=True, slots=True)
class ModelDecl:
    name: str
    inputs: tuple[InputDecl, ...]
    sections: tuple[Section, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed .dl file."""

    models: tuple[ModelDecl, ...]
    blocks: tuple[BlockDecl, ...]
