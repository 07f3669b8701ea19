"""From the IR and canonical weights to an ONNX model: inputs, one lowering per node, output, metadata."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import EncodeError
from onnx import TensorProto, helper

from compiler import __version__ as source_version
from compiler.errors import DlError
from compiler.files import write_atomically
from compiler.ir import Graph
from compiler.memory import ONNX_LIMIT, ensure_exportable, show_bytes
from compiler.weights import check_weights

from ..spine import DTYPES, LAST
from .builder import Context, GraphBuilder
from .lowerings import OPS

DEFAULT_OPSET = 17
MIN_OPSET = 17  # LayerNormalization arrived in 17
ELEMENT_TYPES = {dtype: helper.np_dtype_to_tensor_dtype(np.dtype(name)) for dtype, name in DTYPES.items()}


def export_model(graph: Graph, weights: Mapping[str, np.ndarray], opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """The ONNX model of `graph` with canonical `weights` (keyed `LAYER.WEIGHT`, Keras layouts) as initializers.

    Inputs keep the .dl names and channels-last shapes, with a dynamic `batch` dimension and a named
    dimension per `?`. The output is the model's inference output (probabilities after a softmax, dropout
    off, BatchNormalization on its moving statistics), always float32: weights are float32 in v1, so
    f16/f64 inputs are cast to float32 at the edge. Raises DlError for weights that do not fit the model,
    more weights than one ONNX file holds (before anything is built), or an opset this onnx cannot write.
    """
    ensure_exportable(graph)  # `dlc export` and `verify` check it first; `train --export` and callers here
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise DlError(f"the ONNX opset must be an integer from {MIN_OPSET} to {newest}, got {opset!r}")
    check_weights(graph, weights)
    g = GraphBuilder(opset)
    g.taken.update(value.name for value in graph.inputs)
    g.reserved.update(node.name for node in graph.nodes)
    inputs = [graph_input(g, value) for value in graph.inputs]
    for node in graph.nodes:
        lower_node(g, node, weights)
    output_name = graph_output(g, graph)
    output = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", *graph.output.shape])
    onnx_graph = helper.make_graph(g.nodes, graph.name, inputs, [output], g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(onnx_graph, opset_imports=opsets, producer_name="dlc", producer_version=dlc_version())
    model.ir_version = helper.find_min_ir_version_for(opsets)  # the oldest IR that runtimes must read
    model.doc_string = f"{graph.name}, compiled by dlc from {Path(graph.source.path).name}"
    helper.set_model_props(model, model_metadata(graph))
    return model


def graph_input(g: GraphBuilder, value) -> onnx.ValueInfoProto:
    dims = ["batch"] + [f"{value.name}_dim{k + 1}" if d is None else d for k, d in enumerate(value.shape)]
    name = value.name
    if value.dtype in ("f16", "f64"):
        name = g.add("Cast", [value.name], value.name, to=TensorProto.FLOAT)
    g.layouts.define(value, name, LAST)
    return helper.make_tensor_value_info(value.name, ELEMENT_TYPES[value.dtype], dims)


def graph_output(g: GraphBuilder, graph: Graph) -> str:
    """The name of the model's output: its last layer's, unless that is an input or not channels-last."""
    result = g.layouts.fetch(graph.output, LAST)
    if result == graph.output.name and result not in {v.name for v in graph.inputs}:
        return result
    name = g.fresh("output")
    g.reserved.add(name)
    if g.rename_last_output(result, name) != name:
        g.nodes.append(helper.make_node("Identity", [result], [name], name=g.fresh("output/Identity")))
    return name


def lower_node(g: GraphBuilder, node, weights: Mapping[str, np.ndarray]) -> None:
    lowering = OPS[node.op]
    layout, inputs = g.layouts.inputs(node, lowering.wants)
    name, produced = lowering.lower(Context(node, inputs, layout, g, weights))
    g.layouts.define(node.output, g.rename_last_output(name, node.name), produced)


def dlc_version() -> str:
    try:
        return metadata.version("dlc")
    except metadata.PackageNotFoundError:
        return source_version


def model_metadata(graph: Graph) -> dict[str, str]:
    """`metadata_props`: the model's name, its source's sha256, the compiler version, class names if known."""
    props = {
        "model_name": graph.name,
        "source_file": Path(graph.source.path).name,
        "source_sha256": hashlib.sha256(graph.source.text.encode("utf-8")).hexdigest(),
        "dlc_version": dlc_version(),
    }
    data = graph.training.settings.data
    if data is not None and data.class_names is not None:
        props["class_names"] = json.dumps(list(data.class_names))
    return props


def save(model: onnx.ModelProto, path: str | Path) -> None:
    """Write `model` to `path` through a temporary file and one rename; a DlError (one line) when it cannot."""
    try:
        data = model.SerializeToString()
    except EncodeError:  # weights just under the limit, with the graph around them over it (export_model checks)
        raise DlError(
            f"{path}: cannot write the ONNX model: an ONNX file holds its weights inside one protobuf, which is "
            f"limited to {show_bytes(ONNX_LIMIT)}, and this model's is larger"
        ) from None
    write_atomically(Path(path), data, "the ONNX model")
