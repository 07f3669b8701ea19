"""The ONNX backend's tables, by the vocabulary each covers (tests/test_backend_tables.py walks them).

ONNX models are for inference: losses, metrics and optimizers have no lowering here.
"""

from .activations import ACTIVATIONS
from .lowerings import OPS

TABLES = {"ops": OPS, "activations": ACTIVATIONS}
