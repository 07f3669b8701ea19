"""The PyTorch backend: generated training programs with Keras semantics."""
