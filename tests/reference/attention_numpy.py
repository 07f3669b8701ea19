"""NumPy references of the attention and position layers, as Keras 3 (and keras_hub) compute them."""

from __future__ import annotations

LAYERS: dict = {}
