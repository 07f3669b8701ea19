"""The Keras program's training tables: each loss, optimizer and metric by the Keras object it is."""

from __future__ import annotations

from compiler.training import LOSSES as LOSS_SPECS

LOSSES: dict[str, str] = {name: f"keras.losses.{spec[0]}" for name, spec in LOSS_SPECS.items()}
OPTIMIZERS: dict[str, str] = {
    name: f"keras.optimizers.{name}" for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")
}
# the spec's metric names as Keras' compile() takes them (it resolves `accuracy` itself)
METRICS: dict[str, str] = {
    "accuracy": "accuracy",
    "binary_accuracy": "binary_accuracy",
    "categorical_accuracy": "categorical_accuracy",
    "sparse_categorical_accuracy": "sparse_categorical_accuracy",
    "mae": "mae",
    "mse": "mse",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
}
