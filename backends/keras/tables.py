"""The Keras backend's tables, by the vocabulary each covers (tests/test_backend_tables.py walks them)."""

from .lowerings import ACTIVATIONS, OPS
from .training import LOSSES, METRICS, OPTIMIZERS

TABLES = {"ops": OPS, "activations": ACTIVATIONS, "losses": LOSSES, "metrics": METRICS, "optimizers": OPTIMIZERS}
