"""Catalogue cases of the resizing and rearranging layers."""

from __future__ import annotations

from case import Case

RESIZE_CASES: list[Case] = []
