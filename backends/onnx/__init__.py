"""The ONNX backend: an ONNX graph built from the IR with onnx.helper, and ONNX Runtime predictions.

`export_model(graph, weights, opset=17)` builds the model, `save(model, path)` writes it, and
`backends.onnx.predict` runs a saved model.
"""

from .export import DEFAULT_OPSET, export_model, save

__all__ = ["DEFAULT_OPSET", "export_model", "save"]
