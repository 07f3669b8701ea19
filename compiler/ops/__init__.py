"""The op registry: every layer defined once (arguments, shape rule, parameters, Keras naming).

`spec` defines what an op is; each family module registers its ops; importing this package fills REGISTRY.
"""

from . import attention, conv, conv_variants, core, merge, normalization, recurrent, resize  # noqa: F401  (each registers its family)
from .spec import (
    ALIASES,
    FLOAT_DTYPES,
    INT_DTYPES,
    REGISTRY,
    OpSpec,
    ParamSpec,
    Shape,
    ShapeProblem,
    TensorType,
    keras_snake_case,
    lookup,
    register,
)

__all__ = [
    "ALIASES",
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "REGISTRY",
    "OpSpec",
    "ParamSpec",
    "Shape",
    "ShapeProblem",
    "TensorType",
    "keras_snake_case",
    "lookup",
    "register",
]
