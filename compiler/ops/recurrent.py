"""SimpleRNN, LSTM, GRU (Keras' reset_after=true) and the Bidirectional wrapper."""

from __future__ import annotations

from ..argkinds import ArgSpec, Bool, Enum, Int, Kind, bind
from ..errors import DlArgumentError, DlNameError, did_you_mean
from ..values import CallValue, describe
from .core import ACTIVATION, INITIALIZER, REGULARIZER
from .spec import REGISTRY, OpSpec, ParamSpec, ShapeProblem, TensorType, register, require_float, require_rank

# Gate blocks per recurrent kernel column group, and bias rows (GRU keeps input and recurrent biases apart).
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def recurrent_infer(name: str):
    def infer(inputs, args):
        dtype = require_float(inputs, name)
        shape = inputs[0].shape
        require_rank(shape, (2,), "a sequence [timesteps, features]")
        if shape[-1] is None:
            raise ShapeProblem("needs a known feature count (the last dimension)")
        units = args["units"]
        return TensorType(dtype, (shape[0], units) if args["return_sequences"] else (units,))

    return infer


def recurrent_params(name: str):
    gates = GATES[name]

    def params(inputs, args, prefix=""):
        units, features = args["units"], inputs[0].shape[-1]
        found = [
            ParamSpec(
                prefix + "kernel",
                (features, gates * units),
                True,
                args["kernel_initializer"],
                args["kernel_regularizer"],
            ),
            ParamSpec(
                prefix + "recurrent_kernel",
                (units, gates * units),
                True,
                args["recurrent_initializer"],
                args["recurrent_regularizer"],
            ),
        ]
        if args["use_bias"]:
            bias_shape = (2, gates * units) if name == "GRU" else (gates * units,)
            found.append(
                ParamSpec(
                    prefix + "bias",
                    bias_shape,
                    True,
                    args["bias_initializer"],
                    args["bias_regularizer"],
                    unit_forget_bias=args.get("unit_forget_bias", False),
                )
            )
        return found

    return params


def recurrent_op(name: str) -> OpSpec:
    signature = [ArgSpec("units", Int(low=1)), ArgSpec("activation", ACTIVATION, "tanh")]
    if name != "SimpleRNN":
        signature.append(ArgSpec("recurrent_activation", ACTIVATION, "sigmoid"))
    signature += [
        ArgSpec("use_bias", Bool(), True),
        ArgSpec("kernel_initializer", INITIALIZER, "glorot_uniform"),
        ArgSpec("recurrent_initializer", INITIALIZER, "orthogonal"),
        ArgSpec("bias_initializer", INITIALIZER, "zeros"),
    ]
    if name == "LSTM":
        signature.append(ArgSpec("unit_forget_bias", Bool(), True))
    signature += [
        ArgSpec("kernel_regularizer", REGULARIZER, None),
        ArgSpec("recurrent_regularizer", REGULARIZER, None),
        ArgSpec("bias_regularizer", REGULARIZER, None),
        ArgSpec("return_sequences", Bool(), False),
    ]
    return OpSpec(name, "recurrent", tuple(signature), recurrent_infer(name), recurrent_params(name))


RECURRENT = ("SimpleRNN", "LSTM", "GRU")


class RecurrentLayer(Kind):
    """A nested recurrent layer call, bound against its own signature: `LSTM(8, return_sequences=true)`."""

    label = "a recurrent layer, like LSTM(64)"

    def convert(self, value, span, where):
        if not isinstance(value, CallValue):
            raise DlArgumentError(f"{where} must be {self.label}, got {describe(value)}", span)
        if value.callee not in RECURRENT:
            hint = did_you_mean(value.callee, RECURRENT) or "wrap one of SimpleRNN, LSTM, GRU"
            raise DlNameError(f"{where} cannot wrap '{value.callee}'", value.callee_span, hint)
        return (value.callee, bind(REGISTRY[value.callee].args, value, value.callee))


def bidirectional_infer(inputs, args):
    inner_name, inner_args = args["layer"]
    inner = REGISTRY[inner_name].infer(inputs, inner_args)
    units = inner.shape[-1]
    merged = 2 * units if args["merge_mode"] == "concat" else units
    return TensorType(inner.dtype, inner.shape[:-1] + (merged,))


def bidirectional_params(inputs, args):
    inner_name, inner_args = args["layer"]
    rule = recurrent_params(inner_name)
    return rule(inputs, inner_args, "forward.") + rule(inputs, inner_args, "backward.")


register(
    *(recurrent_op(name) for name in RECURRENT),
    OpSpec(
        "Bidirectional",
        "recurrent",
        (
            ArgSpec("layer", RecurrentLayer()),
            ArgSpec("merge_mode", Enum(("concat", "sum", "mul", "ave")), "concat"),
        ),
        bidirectional_infer,
        bidirectional_params,
        doc="forward and backward copies of a recurrent layer",
    ),
)
