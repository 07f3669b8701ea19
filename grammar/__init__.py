"""The .dl grammar, shipped as package data and loaded once."""

from functools import cache

from lark import Lark


@cache
def parser() -> Lark:
    """The LALR parser for grammar/dl.lark, built on first use."""
    return Lark.open_from_package(
        "grammar",
        "dl.lark",
        parser="lalr",
        propagate_positions=True,
        strict=True,
        maybe_placeholders=True,
        cache=True,  # building the strict LALR tables costs ~250 ms; the cache is keyed on grammar and options
    )
