"""An independent NumPy model of Keras 3 semantics, used as the reference the backends are compared against."""
