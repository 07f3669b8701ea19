"""Transposed, separable and depthwise convolutions (LANGUAGE.md, "Version 2 additions")."""

from __future__ import annotations
