"""Catalogue cases of the transposed, separable and depthwise convolutions."""

from __future__ import annotations

from case import Case

CONV_VARIANT_CASES: list[Case] = []
