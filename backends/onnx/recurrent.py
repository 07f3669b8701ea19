"""SimpleRNN, LSTM, GRU and Bidirectional as ONNX RNN/LSTM/GRU nodes, or as a Scan for other activations.

Keras -> ONNX (measured in ../shared/EQUIVALENCE.md): kernels are transposed; LSTM gates i,f,c,o become
i,o,f,c; the single Keras bias becomes `B = [bias, zeros]`; Keras' GRU (reset_after=true) is ONNX's GRU with
`linear_before_reset=1` and `B = [input bias, recurrent bias]`, gates z,r,h in both. A Bidirectional layer is
one `direction="bidirectional"` node: ONNX's reverse direction already writes its outputs in input time
order, as Keras' Bidirectional does after flipping the backward sequence back.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from ..spine import LAST
from .activations import RECURRENT_ACTIVATIONS, activate
from .builder import OPS, Context

FUSED_OP = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
ONNX_GATE_ORDER = {"SimpleRNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [0, 1, 2]}  # Keras block indices


@OPS.lowering("SimpleRNN", "LSTM", "GRU")
def recurrent(ctx: Context) -> tuple[str, str]:
    return run_layer(ctx, ctx.node.op, ctx.args, [""], "concat")


@OPS.lowering("Bidirectional")
def bidirectional(ctx: Context) -> tuple[str, str]:
    inner, args = ctx.args["layer"]
    return run_layer(ctx, inner, args, ["forward.", "backward."], ctx.args["merge_mode"])


def run_layer(ctx: Context, op: str, args: dict, prefixes: list[str], merge_mode: str) -> tuple[str, str]:
    """One recurrent layer per prefix (forward, then backward), merged as Keras' Bidirectional merges."""
    x_tbf = ctx.add("Transpose", [ctx.x], perm=[1, 0, 2])  # ONNX recurrences want [time, batch, features]
    activations = [args["activation"], args.get("recurrent_activation", "sigmoid")]
    if all(a in RECURRENT_ACTIVATIONS for a in activations):
        sequences, finals = fused(ctx, op, args, prefixes, x_tbf)
    else:
        runs = [scan(ctx, op, args, prefix, k == 1, x_tbf) for k, prefix in enumerate(prefixes)]
        sequences = ctx.add("Concat", [ctx.add("Unsqueeze", [s, ctx.ints([1])]) for s, _ in runs], axis=1)
        finals = ctx.add("Concat", [ctx.add("Unsqueeze", [h, ctx.ints([0])]) for _, h in runs], axis=0)
    if args["return_sequences"]:
        stacked = ctx.add("Transpose", [sequences], perm=[2, 0, 1, 3])  # [batch, time, directions, units]
    else:
        stacked = ctx.add("Transpose", [finals], perm=[1, 0, 2])  # [batch, directions, units]
    return merge(ctx, stacked, merge_mode, args["return_sequences"]), LAST


def merge(ctx: Context, stacked: str, mode: str, sequences: bool) -> str:
    """Merge the directions axis (-2): concat puts forward first, as Keras does."""
    if mode == "concat":
        return ctx.add("Reshape", [stacked, ctx.ints([0, 0, -1] if sequences else [0, -1])])
    op = {"sum": "ReduceSum", "ave": "ReduceMean", "mul": "ReduceProd"}[mode]
    return ctx.g.reduce(op, stacked, [-2], False, ctx.node.name)


def onnx_gates(array: np.ndarray, op: str) -> np.ndarray:
    """Reorder the gate blocks of the last axis from Keras' order to ONNX's."""
    blocks = np.split(array, GATES[op], axis=-1)
    return np.concatenate([blocks[k] for k in ONNX_GATE_ORDER[op]], axis=-1)


def onnx_bias(ctx: Context, op: str, prefix: str) -> np.ndarray:
    bias = ctx.weight(prefix + "bias")
    if op == "GRU":
        return np.concatenate([bias[0], bias[1]])  # input and recurrent biases, both z,r,h
    return np.concatenate([onnx_gates(bias, op), np.zeros_like(bias)])  # Keras has no recurrent bias


def fused(ctx: Context, op: str, args: dict, prefixes: list[str], x_tbf: str) -> tuple[str, str]:
    """An ONNX RNN/LSTM/GRU node; returns Y [time, directions, batch, units] and Y_h [directions, batch, units]."""
    name = ctx.node.name
    w = np.stack([onnx_gates(ctx.weight(p + "kernel"), op).T for p in prefixes])
    r = np.stack([onnx_gates(ctx.weight(p + "recurrent_kernel"), op).T for p in prefixes])
    inputs = [x_tbf, ctx.g.initializer(f"{name}.kernel", w), ctx.g.initializer(f"{name}.recurrent_kernel", r)]
    if args["use_bias"]:
        inputs.append(ctx.g.initializer(f"{name}.bias", np.stack([onnx_bias(ctx, op, p) for p in prefixes])))
    act = RECURRENT_ACTIVATIONS[args["activation"]]
    recurrent_act = RECURRENT_ACTIVATIONS[args.get("recurrent_activation", "sigmoid")]  # SimpleRNN has none
    per_direction = {"SimpleRNN": [act], "LSTM": [recurrent_act, act, act], "GRU": [recurrent_act, act]}[op]
    attrs = {
        "hidden_size": args["units"],
        "direction": "forward" if len(prefixes) == 1 else "bidirectional",
        "activations": per_direction * len(prefixes),
    }
    if op == "GRU":
        attrs["linear_before_reset"] = 1  # Keras' reset_after=true
    y, y_h = ctx.add(FUSED_OP[op], inputs, outputs=2, **attrs)
    return y, y_h


def scan(ctx: Context, op: str, args: dict, prefix: str, backwards: bool, x_tbf: str) -> tuple[str, str]:
    """Keras' equations step by step in a Scan, for activations the fused ops lack (gelu, selu, swish, softmax).

    Returns the output sequence [time, batch, units] in input time order and the last output [batch, units].
    """
    g, hint, units, gates = ctx.g, ctx.node.name, args["units"], GATES[op]
    kernels = np.split(ctx.weight(prefix + "kernel"), gates, axis=-1)
    recurrents = np.split(ctx.weight(prefix + "recurrent_kernel"), gates, axis=-1)
    bias = ctx.weight(prefix + "bias") if args["use_bias"] else None
    input_bias = bias[0] if op == "GRU" and bias is not None else bias
    # projections of every time step, one per gate, outside the loop
    projected = []
    for k, kernel in enumerate(kernels):
        p = ctx.add("MatMul", [x_tbf, g.initializer(f"{hint}.{prefix}kernel.{k}", kernel)])
        if input_bias is not None:
            p = ctx.add("Add", [p, g.initializer(f"{hint}.{prefix}bias.{k}", np.split(input_bias, gates)[k])])
        projected.append(p)
    batch = ctx.add("Shape", [x_tbf], start=1, end=2)
    zeros = ctx.add("ConstantOfShape", [ctx.add("Concat", [batch, ctx.ints([units])], axis=0)])
    states = 2 if op == "LSTM" else 1

    body = g.child()
    h, c = body.fresh(f"{hint}/h"), body.fresh(f"{hint}/c")
    steps = [body.fresh(f"{hint}/x{k}") for k in range(gates)]
    recurrent = [
        body.add("MatMul", [h, g.initializer(f"{hint}.{prefix}recurrent_kernel.{k}", r)], hint)
        for k, r in enumerate(recurrents)
    ]
    if op == "GRU" and bias is not None:  # Keras' reset_after GRU: the recurrent bias sits inside r * (...)
        recurrent = [
            body.add("Add", [r, g.initializer(f"{hint}.{prefix}recurrent_bias.{k}", part)], hint)
            for k, (r, part) in enumerate(zip(recurrent, np.split(bias[1], gates), strict=True))
        ]
    act, ract = args["activation"], args.get("recurrent_activation", "sigmoid")
    new = keras_step(body, op, (h, c), steps, recurrent, (act, ract), hint)
    output = body.add("Identity", [new[0]], hint)

    def info(name: str) -> helper.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, units])

    graph = helper.make_graph(
        body.nodes,
        f"{hint}_{prefix or 'step'}",
        [info(n) for n in [h, c][:states] + steps],
        [info(n) for n in [*new, output]],
    )
    direction = [1 if backwards else 0]
    outputs = ctx.add(
        "Scan",
        [zeros] * states + projected,
        outputs=states + 1,
        body=graph,
        num_scan_inputs=gates,
        scan_input_directions=direction * gates,
        scan_output_directions=direction,
    )
    return outputs[-1], outputs[0]


def keras_step(body, op: str, state: tuple[str, str], steps: list[str], recurrent: list[str], acts, hint: str):
    """One time step of Keras' equations; `steps` and `recurrent` hold each gate's input and recurrent terms.

    Returns the new states: h (and c for LSTM).
    """
    (h, c), (act, ract) = state, acts

    def gate(k: int, activation: str) -> str:
        return activate(body, activation, body.add("Add", [steps[k], recurrent[k]], hint), hint)

    if op == "SimpleRNN":
        return [gate(0, act)]
    if op == "LSTM":
        i, f, candidate, o = gate(0, ract), gate(1, ract), gate(2, act), gate(3, ract)
        c_new = body.add("Add", [body.add("Mul", [f, c], hint), body.add("Mul", [i, candidate], hint)], hint)
        return [body.add("Mul", [o, activate(body, act, c_new, hint)], hint), c_new]
    z, r = gate(0, ract), gate(1, ract)
    candidate = body.add("Add", [steps[2], body.add("Mul", [r, recurrent[2]], hint)], hint)
    candidate = activate(body, act, candidate, hint)
    one_minus_z = body.add("Sub", [body.scalar(1.0), z], hint)
    return [body.add("Add", [body.add("Mul", [z, h], hint), body.add("Mul", [one_minus_z, candidate], hint)], hint)]
