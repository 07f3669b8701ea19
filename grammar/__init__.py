"""The .dl grammar, shipped as package data; parsers are built once per process."""

from __future__ import annotations

import hashlib
import os
import sys
from importlib import resources
from pathlib import Path

import lark
from lark import Lark


def grammar_text() -> str:
    return resources.files("grammar").joinpath("dl.lark").read_text(encoding="utf-8")


def _cache_file(text: str) -> str | bool:
    """A private cache for the LALR tables (building them costs ~250 ms).

    Lark's default cache lives in the shared temp directory and is unpickled on load; ours sits in the
    user's own cache directory, created 0700, so no other user can plant a file there.
    """
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlc"
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = root.stat()
        if (hasattr(os, "getuid") and owner.st_uid != os.getuid()) or owner.st_mode & 0o022:
            return False
    except OSError:
        return False
    key = hashlib.sha256(f"{text}\0{lark.__version__}\0{sys.version_info[:2]}".encode()).hexdigest()[:16]
    return str(root / f"grammar-{key}.lark")


def building_parser(callbacks: object) -> Lark:
    """The LALR parser; it calls `callbacks.<rule>(children)` as it reduces each rule, building no tree."""
    text = grammar_text()
    cache = _cache_file(text)
    return Lark(text, parser="lalr", strict=True, maybe_placeholders=True, cache=cache, transformer=callbacks)
