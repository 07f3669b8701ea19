"""One lowering per IR op to PyTorch: the submodule to build, the forward expression, the weight mapping
(the table and its types are in table.py). Spatial ops keep the `first` layout between each other, so a conv
stack permutes once at each end instead of around every layer. The families added since version 1 have their
own modules, imported here so that importing this module fills the table.
"""

from __future__ import annotations

from compiler.codegen import literal

from ..spine import FIRST, LAST
from . import attention, conv_variants, resize  # noqa: F401  (each registers its family's lowerings)
from .table import ACTIVATIONS, OPS, Context, Lowered, activate, pad_call, same_paddings

__all__ = ["ACTIVATIONS", "OPS", "Context", "Lowered", "activate"]


@OPS.lowering("Dense")
def dense(ctx: Context) -> Lowered:
    features, units = ctx.in_shape[-1], ctx.args["units"]
    module = f"nn.Linear({features}, {units}{'' if ctx.args['use_bias'] else ', bias=False'})"
    weights = [("kernel", "weight", "transpose"), ("bias", "bias", "same")][: 1 + ctx.args["use_bias"]]
    return Lowered(f"self.{ctx.attr}({ctx.inputs[0]})", LAST, module, weights)


@OPS.lowering("Activation", wants=None)
def activation_layer(ctx: Context) -> Lowered:
    return Lowered(activate(ctx.args["activation"], ctx.inputs[0], ctx.layout), ctx.layout)


@OPS.lowering("ReLU", wants=None)
def relu(ctx: Context) -> Lowered:
    x, max_value = ctx.inputs[0], ctx.args["max_value"]
    slope, threshold = ctx.args["negative_slope"], ctx.args["threshold"]
    if slope == 0 and threshold == 0:
        expr = f"torch.relu({x})"
    else:
        expr = f"torch.where({x} >= {literal(threshold)}, {x}, {literal(slope)} * ({x} - {literal(threshold)}))"
    if max_value is not None:
        expr = f"torch.clamp({expr}, max={literal(max_value)})"
    return Lowered(expr, ctx.layout)


@OPS.lowering("LeakyReLU", wants=None)
def leaky_relu(ctx: Context) -> Lowered:
    return Lowered(f"F.leaky_relu({ctx.inputs[0]}, {literal(ctx.args['negative_slope'])})", ctx.layout)


@OPS.lowering("Softmax")
def softmax(ctx: Context) -> Lowered:
    axis = ctx.args["axis"]
    return Lowered(f"torch.softmax({ctx.inputs[0]}, dim={literal(axis)})")


@OPS.lowering("Dropout", wants=None)
def dropout(ctx: Context) -> Lowered:
    return Lowered(f"self.{ctx.attr}({ctx.inputs[0]})", ctx.layout, f"nn.Dropout({literal(ctx.args['rate'])})")


@OPS.lowering("Flatten")
def flatten(ctx: Context) -> Lowered:
    return Lowered(f"torch.flatten({ctx.inputs[0]}, 1)")


@OPS.lowering("Reshape")
def reshape(ctx: Context) -> Lowered:
    dims = ", ".join(str(d) for d in ctx.node.output.shape)
    return Lowered(f"{ctx.inputs[0]}.reshape({ctx.inputs[0]}.shape[0], {dims})")


@OPS.lowering("Rescaling", wants=None)
def rescaling(ctx: Context) -> Lowered:
    expr = f"{ctx.inputs[0]} * {literal(ctx.args['scale'])}"
    if ctx.args["offset"]:
        expr += f" + {literal(ctx.args['offset'])}"
    return Lowered(expr, ctx.layout)


@OPS.lowering("Conv1D", "Conv2D", wants=FIRST)
def conv(ctx: Context) -> Lowered:
    spatial = len(ctx.args["kernel_size"])
    kernels, strides, dilations = ctx.args["kernel_size"], ctx.args["strides"], ctx.args["dilation_rate"]
    x, padding, pieces = ctx.inputs[0], "0", ()
    if ctx.args["padding"] == "same":
        pads = same_paddings(ctx, kernels, strides, dilations)
        if pads is None:
            x, pieces = f"pad_same({x}, {literal(kernels)}, {literal(strides)}, {literal(dilations)})", ("pad_same",)
        elif all(a == b for a, b in pads):
            padding = literal(tuple(a for a, _ in pads))
        else:
            x = pad_call(x, pads)
    ones = (1,) * spatial
    options = [  # torch's defaults left out
        *([f"stride={literal(strides)}"] if strides != ones else []),
        *([f"padding={padding}"] if padding != "0" else []),
        *([f"dilation={literal(dilations)}"] if dilations != ones else []),
        *([] if ctx.args["use_bias"] else ["bias=False"]),
    ]
    module = (
        f"nn.Conv{spatial}d({', '.join([str(ctx.in_shape[-1]), str(ctx.args['filters']), literal(kernels), *options])})"
    )
    weights = [("kernel", "weight", f"conv{spatial}d"), ("bias", "bias", "same")][: 1 + ctx.args["use_bias"]]
    return Lowered(f"self.{ctx.attr}({x})", FIRST, module, weights, pieces)


@OPS.lowering("MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D", wants=FIRST)
def pool(ctx: Context) -> Lowered:
    spatial = len(ctx.args["pool_size"])
    kernels = ctx.args["pool_size"]
    strides = ctx.args["strides"] or kernels
    is_max = ctx.node.op.startswith("Max")
    kind = "MaxPool" if is_max else "AvgPool"
    x, padding = ctx.inputs[0], (0,) * spatial
    if ctx.args["padding"] == "same":
        pads = same_paddings(ctx, kernels, strides, (1,) * spatial)
        symmetric = pads is not None and all(a == b and 2 * a <= k for (a, b), k in zip(pads, kernels, strict=True))
        if not symmetric and not is_max:
            return Lowered(
                f"avg_pool_same({x}, {literal(kernels)}, {literal(strides)})", FIRST, pieces=("avg_pool_same",)
            )
        if symmetric:
            padding = tuple(a for a, _ in pads)
        elif pads is None:
            x = f"pad_same({x}, {literal(kernels)}, {literal(strides)}, {literal((1,) * spatial)}, value=-math.inf)"
            return Lowered(
                f"self.{ctx.attr}({x})",
                FIRST,
                f"nn.MaxPool{spatial}d({literal(kernels)}, {literal(strides)})",
                pieces=("pad_same",),
            )
        else:
            x = pad_call(x, pads, ", value=-math.inf")
    extra = "" if is_max or not any(padding) else ", count_include_pad=False"
    padding_text = f", padding={literal(padding)}" if any(padding) else ""
    stride_text = "" if strides == kernels else f", {literal(strides)}"  # torch's stride defaults to the window
    module = f"nn.{kind}{spatial}d({literal(kernels)}{stride_text}{padding_text}{extra})"
    return Lowered(f"self.{ctx.attr}({x})", FIRST, module)


@OPS.lowering("GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D", wants=FIRST)
def global_pool(ctx: Context) -> Lowered:
    spatial = len(ctx.in_shape) - 1
    dims = literal(tuple(range(2, 2 + spatial)))
    reduce = "mean" if "Avg" in ctx.node.op else "amax"
    keep = ctx.args["keepdims"]
    expr = f"{ctx.inputs[0]}.{reduce}(dim={dims}{', keepdim=True' if keep else ''})"
    return Lowered(expr, FIRST if keep else LAST)


@OPS.lowering("BatchNormalization", wants=None)
def batch_norm(ctx: Context) -> Lowered:
    channel_dim = 1 if ctx.layout == FIRST else -1
    a = ctx.args
    module = (
        f"KerasBatchNorm({ctx.in_shape[-1]}, channel_dim={channel_dim}, momentum={literal(a['momentum'])}, "
        f"epsilon={literal(a['epsilon'])}, center={a['center']}, scale={a['scale']})"
    )
    weights = [(p.name, p.name, "same") for p in ctx.node.params]
    return Lowered(f"self.{ctx.attr}({ctx.inputs[0]})", ctx.layout, module, weights, ("KerasBatchNorm",))


@OPS.lowering("LayerNormalization")
def layer_norm(ctx: Context) -> Lowered:
    a = ctx.args
    module = (
        f"KerasLayerNorm({ctx.in_shape[-1]}, epsilon={literal(a['epsilon'])}, center={a['center']}, scale={a['scale']})"
    )
    weights = [(p.name, p.name, "same") for p in ctx.node.params]
    return Lowered(f"self.{ctx.attr}({ctx.inputs[0]})", LAST, module, weights, ("KerasLayerNorm",))


@OPS.lowering("Embedding")
def embedding(ctx: Context) -> Lowered:
    a = ctx.args
    sparse = "" if a["embeddings_regularizer"] is None else ", sparse_rows=False"
    module = f"KerasEmbedding({a['input_dim']}, {a['output_dim']}{sparse})"
    weights = [("embeddings", "weight", "same")]
    return Lowered(f"self.{ctx.attr}({ctx.inputs[0]})", LAST, module, weights, ("KerasEmbedding",))


def recurrent_module(op: str, args: dict, features: int, backwards: bool = False) -> str:
    return (
        f"KerasRecurrent({literal(op)}, {features}, {args['units']}, activation={literal(args['activation'])}, "
        f"recurrent_activation={literal(args.get('recurrent_activation', 'sigmoid'))}, "
        f"use_bias={args['use_bias']}, return_sequences={args['return_sequences']}"
        + (", go_backwards=True)" if backwards else ")")
    )


@OPS.lowering("SimpleRNN", "LSTM", "GRU")
def recurrent(ctx: Context) -> Lowered:
    module = recurrent_module(ctx.node.op, ctx.args, ctx.in_shape[-1])
    weights = [(p.name, p.name, "same") for p in ctx.node.params]
    return Lowered(f"self.{ctx.attr}({ctx.inputs[0]})", LAST, module, weights, ("KerasRecurrent",))


MERGE_MODES = {
    "concat": "torch.cat([{f}, {b}], dim=-1)",
    "sum": "{f} + {b}",
    "mul": "{f} * {b}",
    "ave": "({f} + {b}) / 2",
}


@OPS.lowering("Bidirectional")
def bidirectional(ctx: Context) -> Lowered:
    inner, args = ctx.args["layer"]
    features = ctx.in_shape[-1]
    module = (
        "nn.ModuleDict({"
        f"'fwd': {recurrent_module(inner, args, features)}, "
        f"'bwd': {recurrent_module(inner, args, features, backwards=True)}"
        "})"
    )
    weights = []
    for param in ctx.node.params:
        direction, name = param.name.split(".")
        weights.append((param.name, f"{'fwd' if direction == 'forward' else 'bwd'}.{name}", "same"))
    x = ctx.inputs[0]
    expr = MERGE_MODES[ctx.args["merge_mode"]].format(
        f=f"self.{ctx.attr}['fwd']({x})", b=f"self.{ctx.attr}['bwd']({x})"
    )
    return Lowered(expr, LAST, module, weights, ("KerasRecurrent",))


def _fold(function: str, items: list[str]) -> str:
    expr = items[0]
    for item in items[1:]:
        expr = f"{function}({expr}, {item})"
    return expr


@OPS.lowering("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", wants=None)
def elementwise(ctx: Context) -> Lowered:
    xs, op = ctx.inputs, ctx.node.op
    expr = {
        "Add": lambda: " + ".join(xs),
        "Subtract": lambda: f"{xs[0]} - {xs[1]}",
        "Multiply": lambda: " * ".join(xs),
        "Average": lambda: f"({' + '.join(xs)}) / {len(xs)}",
        "Maximum": lambda: _fold("torch.maximum", xs),
        "Minimum": lambda: _fold("torch.minimum", xs),
    }[op]()
    return Lowered(expr, ctx.layout)


@OPS.lowering("Concatenate")
def concatenate(ctx: Context) -> Lowered:
    axis = ctx.args["axis"]
    return Lowered(f"torch.cat([{', '.join(ctx.inputs)}], dim={literal(axis)})")
