"""Layers of the language that Keras itself lacks, as a generated Keras program defines them (pasted by source,
decorator included, only those the model uses; see emit.py).

Each is registered as serializable, so that a program's checkpoint (`model.save`) loads back in Keras' safe mode.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="dlc")
class PositionEmbedding(keras.layers.Layer):
    """keras_hub's PositionEmbedding: the learned vectors of positions 0..T-1, T the input's axis -2 and at most
    `sequence_length`, broadcast to the input's shape (to be added to it)."""

    def __init__(self, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.sequence_length, input_shape[-1]), name="embeddings")

    def call(self, inputs):
        shape = keras.ops.shape(inputs)
        length_fits = tf.debugging.assert_less_equal(
            shape[-2],
            self.sequence_length,
            message=f"{self.name}: the sequence is longer than sequence_length={self.sequence_length}",
        )
        # In a traced step nothing orders the check before the slice: without this dependency the broadcast's
        # own shape error may win the race and hide the message.
        with tf.control_dependencies([length_fits]):
            return keras.ops.broadcast_to(self.embeddings[: shape[-2]], shape)

    def get_config(self):
        return super().get_config() | {"sequence_length": self.sequence_length}
