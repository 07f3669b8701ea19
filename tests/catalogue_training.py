"""The optimizer cases of version 2's training additions, listed into tests/catalogue.py's OPTIMIZER_CASES: Adadelta,
Nadam, Adamax and Lion with their arguments, gradient clipping on every kind of optimizer, and each learning-rate
schedule as an optimizer's learning_rate. tests/test_ops.py steps each through the PyTorch program's optimizer
against tests/reference/optimizers_numpy.py, and tests/test_verify.py runs each through `dlc verify --steps 5`.

A schedule is a `Call`: it writes itself as `.dl` text, and the NumPy reference reads its callee and arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def written(value: Any) -> str:
    """A value as `.dl` text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return f"[{', '.join(written(item) for item in value)}]"
    return repr(value)


@dataclass(frozen=True)
class Call:
    """A call written in a case's arguments, such as a learning-rate schedule."""

    callee: str
    args: dict[str, Any] = field(hash=False)

    def __repr__(self) -> str:
        return f"{self.callee}({', '.join(f'{key}={written(value)}' for key, value in self.args.items())})"


TRAINING_OPTIMIZER_CASES: list[tuple[str, dict[str, Any]]] = [
    ("Adadelta", {}),  # Keras' default learning rate, 0.001: small steps, but every weight moves
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.8, "epsilon": 1e-4}),
    ("Adadelta", {"learning_rate": 0.5, "weight_decay": 0.05}),
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 0.001}),
    ("Nadam", {"learning_rate": 0.05, "weight_decay": 0.1}),
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.05, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 0.001}),
    ("Adamax", {"learning_rate": 0.05, "weight_decay": 0.1}),
    ("Lion", {}),
    ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.8}),
    ("Lion", {"learning_rate": 0.01, "weight_decay": 0.3}),
    # gradient clipping: per weight, all together, per element
    ("SGD", {"learning_rate": 0.1, "clipnorm": 0.5}),
    ("Adam", {"learning_rate": 0.05, "global_clipnorm": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.1}),
    ("Adagrad", {"learning_rate": 0.05, "clipnorm": 0.2}),
    ("Adadelta", {"learning_rate": 1.0, "global_clipnorm": 0.3}),
    ("Nadam", {"learning_rate": 0.05, "clipvalue": 0.05}),
    ("Adamax", {"learning_rate": 0.05, "clipnorm": 0.3}),
    ("Lion", {"learning_rate": 0.01, "global_clipnorm": 0.5}),
    # learning-rate schedules, stepped per batch at the optimizer's iterations (0 on the first step)
    (
        "SGD",
        {
            "learning_rate": Call(
                "ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5}
            )
        },
    ),
    (
        "SGD",
        {
            "learning_rate": Call("PiecewiseConstantDecay", {"boundaries": [1, 3], "values": [0.1, 0.05, 0.01]}),
            "momentum": 0.9,
        },
    ),
    (
        "Adam",
        {
            "learning_rate": Call(
                "CosineDecay",
                {
                    "initial_learning_rate": 0.01,
                    "decay_steps": 4,
                    "alpha": 0.1,
                    "warmup_target": 0.05,
                    "warmup_steps": 2,
                },
            ),
            "weight_decay": 0.1,
        },
    ),
    ("AdamW", {"learning_rate": Call("CosineDecay", {"initial_learning_rate": 0.05, "decay_steps": 3})}),
    (
        "Adadelta",
        {
            "learning_rate": Call(
                "InverseTimeDecay",
                {"initial_learning_rate": 1.0, "decay_steps": 2, "decay_rate": 0.5, "staircase": True},
            )
        },
    ),
    (
        "Adamax",
        {
            "learning_rate": Call(
                "PolynomialDecay",
                {
                    "initial_learning_rate": 0.05,
                    "decay_steps": 3,
                    "end_learning_rate": 0.01,
                    "power": 2.0,
                    "cycle": True,
                },
            ),
            "clipnorm": 0.5,
        },
    ),
]
