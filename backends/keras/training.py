"""The Keras program's training tables: each loss, optimizer and metric by the Keras object it is."""

from __future__ import annotations

from compiler.training import LOSSES as LOSS_SPECS

LOSSES: dict[str, str] = {name: f"keras.losses.{spec[0]}" for name, spec in LOSS_SPECS.items()}
OPTIMIZERS: dict[str, str] = {
    name: f"keras.optimizers.{name}"
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Nadam", "Adamax", "Lion")
}
# the spec's metric names as Keras' compile() takes them (it resolves `accuracy` itself), for a metric at Keras'
# defaults under its own name
METRICS: dict[str, str] = {
    "accuracy": "accuracy",
    "binary_accuracy": "binary_accuracy",
    "categorical_accuracy": "categorical_accuracy",
    "sparse_categorical_accuracy": "sparse_categorical_accuracy",
    "mae": "mae",
    "mse": "mse",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
    "top_k_categorical_accuracy": "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy": "sparse_top_k_categorical_accuracy",
    "precision": "precision",
    "recall": "recall",
}
# metric kind (compiler.training.metric_kind) -> Keras' class, for a metric with arguments or a name of its own
METRIC_CLASSES: dict[str, str] = {
    "mean_absolute_error": "keras.metrics.MeanAbsoluteError",
    "mean_squared_error": "keras.metrics.MeanSquaredError",
    "binary_accuracy": "keras.metrics.BinaryAccuracy",
    "sparse_categorical_accuracy": "keras.metrics.SparseCategoricalAccuracy",
    "categorical_accuracy": "keras.metrics.CategoricalAccuracy",
    "top_k_categorical_accuracy": "keras.metrics.TopKCategoricalAccuracy",
    "sparse_top_k_categorical_accuracy": "keras.metrics.SparseTopKCategoricalAccuracy",
    "precision": "keras.metrics.Precision",
    "recall": "keras.metrics.Recall",
}
SCHEDULES = "keras.optimizers.schedules"  # the learning-rate schedules: Keras' classes of that module
