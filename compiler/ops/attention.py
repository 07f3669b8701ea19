"""Attention and position layers: MultiHeadAttention and PositionEmbedding (LANGUAGE.md, "Version 2 additions")."""

from __future__ import annotations
