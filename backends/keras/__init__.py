"""The Keras 3 backend: generated standalone training programs (TensorFlow backend, channels-last)."""
