"""What the IR holds of a model's training: loss, optimizer, metrics, settings and data source (types only).

The builders that validate them live in training.py and data.py; the IR imports only these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Span


@dataclass(frozen=True)
class DataSource:
    """Where training data comes from. `path` is resolved against the .dl file's folder."""

    kind: str  # dataset | npz | csv
    name: str | None = None  # dataset name
    path: str | None = None
    written_path: str | None = None
    x: tuple[str, ...] = ()  # npz keys, one per input or one for all
    y: str | None = None  # npz key
    target: str | None = None  # csv column
    feature_counts: tuple[int, ...] = ()  # per x array, per sample
    classes: int | None = None  # distinct labels where the targets are classes
    class_names: tuple[str, ...] | None = None  # their names in class-id order, where the source names them
    target_shape: tuple[int, ...] = ()  # one sample's target: () for a single value or class, [k] for k values
    label_problem: str | None = None  # where the targets are numbers that are not class ids, the first such one
    span: Span | None = None


@dataclass(frozen=True)
class Configured:
    """A loss or optimizer: its canonical name and bound arguments."""

    name: str
    args: dict[str, Any] = field(hash=False)
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class EarlyStopping:
    monitor: str
    patience: int
    min_delta: float
    mode: str
    restore_best_weights: bool


@dataclass(frozen=True)
class TrainSettings:
    data: DataSource | None
    epochs: int
    batch_size: int
    shuffle: bool
    validation_split: float
    test_split: float
    seed: int
    early_stopping: EarlyStopping | None


@dataclass(frozen=True)
class Training:
    """Everything after `layers`: all optional for `dlc check`, required by `dlc train`."""

    loss: Configured | None
    optimizer: Configured | None
    metrics: tuple[str, ...]
    settings: TrainSettings
