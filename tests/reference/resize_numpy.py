"""NumPy references of the resizing and rearranging layers, as Keras 3 computes them."""

from __future__ import annotations

LAYERS: dict = {}
