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
class ReduceLROnPlateau:
    """Keras' ReduceLROnPlateau callback (`verbose` is accepted and has no effect)."""

    monitor: str
    factor: float
    patience: int
    verbose: int
    mode: str
    min_delta: float
    cooldown: int
    min_lr: float
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ModelCheckpoint:
    """Keras' ModelCheckpoint callback, without a file path: the weights go to the run folder, canonical
    (`verbose` and `save_weights_only` are accepted and have no effect)."""

    monitor: str
    verbose: int
    save_best_only: bool
    save_weights_only: bool
    mode: str
    save_freq: str
    initial_value_threshold: float | None


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
    reduce_lr_on_plateau: ReduceLROnPlateau | None = None
    checkpoint: ModelCheckpoint | None = None


@dataclass(frozen=True)
class Training:
    """Everything after `layers`: all optional for `dlc check`, required by `dlc train`."""

    loss: Configured | None
    optimizer: Configured | None
    metrics: tuple[str, ...]  # the history keys, Keras' names
    settings: TrainSettings
    metric_specs: tuple[Configured, ...] = ()  # each metric's canonical name and arguments, `name` its key
