"""Catalogue cases of the attention and position layers."""

from __future__ import annotations

from case import Case

ATTENTION_CASES: list[Case] = []
