"""Resizing and rearranging layers: up-sampling, zero-padding, cropping, Permute, RepeatVector, Identity."""

from __future__ import annotations
