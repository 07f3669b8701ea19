"""NumPy references of the transposed, separable and depthwise convolutions, as Keras 3 computes them."""

from __future__ import annotations

LAYERS: dict = {}
