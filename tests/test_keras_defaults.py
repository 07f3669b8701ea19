"""Every default the language takes from Keras, pinned against Keras itself (issue 16).

The other tests read their defaults from the registry (the NumPy reference included), so a wrong default there
passes them all. Here each op of `compiler.ops.REGISTRY`, walked at run time so that ops added later are covered,
is built in Keras with only its required arguments, and every registry default is compared with Keras'
`get_config()` (tuples and lists alike, initializers as Keras objects, activations as Keras functions). So are
the activations' own defaults against what the PyTorch and ONNX backends compute, the initializer names and
classes against Keras' initializers, and the optimizers' and losses' defaults against Keras' classes.

What may differ is listed here, each with its reason: `REGISTRY_ONLY` (arguments Keras does not have),
`KERAS_REQUIRES` (arguments Keras requires and the language defaults) and `RESOLVED` (a registry None that Keras
stores resolved). Keras' arguments the language lacks are held at Keras' default in `FIXED` (checked: the
backends assume them) or named harmless in `INERT`; any other one only warns, naming the op.
"""

from __future__ import annotations

import inspect
import os
import re
import warnings
from typing import Any

import numpy as np
import pytest

from compiler import weights as W
from compiler.argkinds import ACTIVATIONS, INITIALIZERS, ArgSpec, InitializerKind, RegularizerKind
from compiler.frontend import load_text
from compiler.ops import REGISTRY, OpSpec
from compiler.ops.recurrent import RECURRENT
from compiler.training import LOSSES, OPTIMIZERS
from compiler.values import Initializer, Regularizer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras

# ---------------------------------------------------------------------------------------------- the allow-lists

# (op, argument) -> why the registry has an argument Keras' layer does not
REGISTRY_ONLY = {
    ("MultiHeadAttention", "use_causal_mask"): "a call argument in Keras (`layer(q, v, use_causal_mask=True)`)",
}
# (op, argument) -> why the language defaults an argument Keras requires, and an input the op takes: the Keras
# program must then write the argument, which the test of that builds and checks
KERAS_REQUIRES = {
    ("AvgPool1D", "pool_size"): ("Keras' AveragePooling1D requires it; the language's is 2, as MaxPool1D's", "[4, 4]"),
    ("AvgPool2D", "pool_size"): (
        "Keras' AveragePooling2D requires it; the language's is 2, as MaxPool2D's",
        "[4, 4, 4]",
    ),
}
# (op, argument) in KERAS_REQUIRES -> a dlc bug found here, to fix (then drop the entry: it fails when fixed)
KNOWN_BUGS: dict[tuple[str, str], str] = {}
# argument -> the config key Keras stores a registry default of None as (what the shape rules read it as too)
RESOLVED = {
    "strides": "pool_size",  # pooling: strides=None is pool_size
    "value_dim": "key_dim",  # MultiHeadAttention: value_dim=None is key_dim
}
# Keras config keys the language lacks, held at Keras' default: their value the backends compute with
FIXED: dict[str, Any] = {
    "data_format": "channels_last",  # the language is channels-last throughout
    "groups": 1,  # Conv
    "activity_regularizer": None,
    "noise_shape": None,  # Dropout
    "dropout": 0.0,  # recurrent layers (MultiHeadAttention has it in the registry)
    "recurrent_dropout": 0.0,
    "return_state": False,
    "go_backwards": False,
    "stateful": False,
    "reset_after": True,  # GRU: the language's GRU is Keras' reset_after=True
    "mask_zero": False,  # Embedding: the language makes no masks
    "use_gate": False,  # MultiHeadAttention
    "sliding_window": None,
    "renorm": False,  # BatchNormalization
    "rms_scaling": False,  # LayerNormalization: the language's is mean-and-variance
}
FIXED_SUFFIXES = {"_constraint": None, "_regularizer": None}  # beta_regularizer, kernel_constraint, ...
# Keras config keys that do not change what a layer computes from given weights
INERT = {
    "name",
    "trainable",
    "dtype",  # dlc casts by the model's dtype
    "seed",  # dlc draws initial weights and dropout from its own seed
    "quantization_config",
    "lora_rank",
    "lora_alpha",
    "zero_output_for_mask",  # masks only
    "unroll",  # the same computation, unrolled
    "use_cudnn",
    "synchronized",  # BatchNormalization across replicas
    "renorm_clipping",  # only with renorm=True
    "renorm_momentum",
    "backward_layer",  # Bidirectional: Keras' own copy of `layer` with go_backwards=True
    "flash_attention",
    "weights",  # initial weights: every program loads dlc's canonical weights
}
# Keras layers outside keras.layers, with their defaults as published, when the package is not installed:
# keras_hub.layers.PositionEmbedding(sequence_length, initializer="glorot_uniform", **kwargs) (keras-hub 0.17+)
FOREIGN = {
    "PositionEmbedding": ("keras_hub", ("sequence_length",), {"initializer": "glorot_uniform"}),
}
# each Keras activation's arguments at the values dlc's backends compute with (pytorch/table.py, onnx/activations.py)
ACTIVATION_ARGUMENTS: dict[str, dict[str, Any]] = {
    "relu": {"negative_slope": 0.0, "max_value": None, "threshold": 0.0},
    "softmax": {"axis": -1},
    "log_softmax": {"axis": -1},
    "gelu": {"approximate": False},  # the exact erf form
    "elu": {"alpha": 1.0},
    "leaky_relu": {"negative_slope": 0.2},  # the LeakyReLU layer's default is 0.3
}


# ---------------------------------------------------------------------------------------------- building in Keras

# a kind's class name -> a small valid value for a required argument of that kind
REQUIRED_VALUES = {
    "Int": lambda kind: max(2, kind.low or 2) if kind.high is None else min(max(2, kind.low or 2), kind.high),
    "IntTuple": lambda kind: (2,) * kind.rank,
    "Float": lambda kind: (kind.low + kind.high) / 2 if None not in (kind.low, kind.high) else (kind.low or 0.0) + 0.5,
    "Bool": lambda kind: True,
    "Enum": lambda kind: kind.choices[0],
    "Text": lambda kind: "x",
    "TargetShape": lambda kind: (2,),
    "Permutation": lambda kind: (2, 1),
    "RecurrentLayer": lambda kind: build(REGISTRY[RECURRENT[0]])[0],  # the wrapped layer, built in Keras
}


def keras_class(spec: OpSpec):
    """The Keras class of an op, or None for a foreign layer whose package is not installed."""
    if hasattr(keras.layers, spec.keras_class):
        return getattr(keras.layers, spec.keras_class)
    if spec.keras_class not in FOREIGN:
        pytest.fail(
            f"{spec.name}: keras.layers has no {spec.keras_class}; if it is another package's, add it to FOREIGN"
        )
    package = FOREIGN[spec.keras_class][0]
    try:
        return getattr(__import__(package).layers, spec.keras_class)
    except ImportError:
        return None


def required_value(spec: OpSpec, arg: ArgSpec) -> Any:
    make = REQUIRED_VALUES.get(type(arg.kind).__name__)
    if make is None:
        pytest.fail(
            f"{spec.name}: no sample value for required argument '{arg.name}' of kind {type(arg.kind).__name__}"
        )
    return make(arg.kind)


def build(spec: OpSpec) -> tuple[Any, dict[str, Any], set[str], list[str]]:
    """(the layer or None, its config, the arguments Keras requires, Keras' arguments in order), the layer built
    with only what the registry requires (and what Keras requires and the registry defaults, at that default)."""
    cls = keras_class(spec)
    if cls is None:
        _, required, defaults = FOREIGN[spec.keras_class]
        config = {a.name: required_value(spec, a) for a in spec.args if a.required} | defaults
        return None, config, set(required), [*required, *defaults]
    parameters = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:] if p.kind != p.VAR_KEYWORD]
    keras_required = {p.name for p in parameters if p.default is p.empty}
    given = {a.name: required_value(spec, a) for a in spec.args if a.required}
    given |= {a.name: a.default for a in spec.args if a.name in keras_required and not a.required}
    layer = cls(**given)
    config = {p.name: p.default for p in parameters if p.default is not p.empty} | layer.get_config()
    return layer, config, keras_required, [p.name for p in parameters]


# ---------------------------------------------------------------------------------------------- comparing


def plain(value: Any) -> Any:
    """Lists as tuples, all the way down (Keras' configs hold either)."""
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    return value


def keras_initializer(value: Any):
    """An initializer as a Keras object: a registry name or call, or a Keras config."""
    if isinstance(value, Initializer):
        return getattr(keras.initializers, value.keras_class)(**dict(value.arguments))
    if isinstance(value, dict):
        return keras.initializers.deserialize(value)
    return keras.initializers.get(value)


def initializer_key(value: Any) -> tuple[str, dict]:
    obj = keras_initializer(value)
    return type(obj).__name__, {k: v for k, v in obj.get_config().items() if k != "seed"}


def regularizer_key(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, Regularizer):
        return value.l1, value.l2
    config = keras.regularizers.get(value).get_config()
    return config.get("l1", 0.0), config.get("l2", 0.0)


def differs(arg: ArgSpec, ours: Any, theirs: Any) -> bool:
    """Whether the registry's default `ours` means something else than Keras' config value `theirs`."""
    if isinstance(arg.kind, InitializerKind):
        return initializer_key(ours) != initializer_key(theirs)
    if isinstance(arg.kind, RegularizerKind):
        return regularizer_key(ours) != regularizer_key(theirs)
    if getattr(arg.kind, "choices", None) == ACTIVATIONS:
        return keras.activations.get(ours) is not keras.activations.get(theirs)
    ours, theirs = plain(ours), plain(theirs)
    return isinstance(ours, bool) is not isinstance(theirs, bool) or ours != theirs


def fixed_value(key: str) -> tuple[bool, Any]:
    if key in FIXED:
        return True, FIXED[key]
    for suffix, value in FIXED_SUFFIXES.items():
        if key.endswith(suffix):
            return True, value
    return False, None


def in_keras_order(ours: list[str], theirs: list[str]) -> bool:
    shared = [name for name in ours if name in theirs]
    return shared == [name for name in theirs if name in shared]


# ---------------------------------------------------------------------------------------------- layers


@pytest.mark.parametrize("op", sorted(REGISTRY))
def test_layer_defaults_are_keras_defaults(op):
    spec = REGISTRY[op]
    layer, config, keras_required, keras_order = build(spec)
    where = f"{op} (keras {spec.keras_class})"
    problems = []
    for arg in spec.args:
        allowed = (op, arg.name) in REGISTRY_ONLY
        if allowed and arg.name in keras_order:
            problems.append(f"{where}: '{arg.name}' is in REGISTRY_ONLY but Keras has it now; compare it")
        if allowed or arg.required:
            continue
        if arg.name in keras_required:
            if (op, arg.name) not in KERAS_REQUIRES:
                problems.append(f"{where}: Keras requires '{arg.name}'; the registry defaults it to {arg.default!r}")
            continue
        if arg.name not in config:
            problems.append(f"{where}: Keras has no argument '{arg.name}' (registry default {arg.default!r})")
            continue
        theirs = config[arg.name]
        if arg.default is None and theirs is not None and RESOLVED.get(arg.name) in config:
            theirs = None if plain(theirs) == plain(config[RESOLVED[arg.name]]) else theirs
        if differs(arg, arg.default, theirs):
            shown = initializer_key(theirs) if isinstance(arg.kind, InitializerKind) else theirs
            problems.append(f"{where}: '{arg.name}' defaults to {arg.default!r} in the registry, {shown!r} in Keras")
    if not in_keras_order(list(spec.arg_names), keras_order):
        problems.append(f"{where}: arguments {list(spec.arg_names)} are not in Keras' order {keras_order}")
    for key, value in config.items():
        if key in spec.arg_names or key in INERT or layer is None:
            continue
        known, fixed = fixed_value(key)
        if not known:
            warnings.warn(f"{where}: Keras' '{key}' (default {value!r}) is not in the registry", stacklevel=1)
        elif plain(value) != plain(fixed):
            problems.append(f"{where}: the backends assume Keras' '{key}' is {fixed!r}; Keras' default is {value!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "op, arg",
    [
        pytest.param(*key, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[key])) if key in KNOWN_BUGS else key
        for key in sorted(KERAS_REQUIRES)
    ],
)
def test_the_keras_program_writes_what_keras_requires(op, arg):
    """An argument Keras requires and the language defaults must be written even at the language's default."""
    spec = REGISTRY[op]
    assert not next(a for a in spec.args if a.name == arg).required, f"{op}.{arg} is required now: drop it"
    from backends.keras.emit import emit_program

    shape = KERAS_REQUIRES[op, arg][1]
    text = (
        f"model M {{\n  input x: f32{shape}\n  layers {{\n    {op}()\n    Flatten()\n  }}\n"
        "  loss mse\n  optimizer SGD()\n}\n"
    )
    source = emit_program(load_text(text, "spec.dl")[0])
    call = re.search(rf"keras\.layers\.{spec.keras_class}\((.*)\)", source)
    assert call and f"{arg}=" in call.group(1), f"the Keras program writes {call.group(0) if call else source}"


def test_allow_lists_name_registered_arguments():
    assert set(KNOWN_BUGS) <= set(KERAS_REQUIRES)
    for op, arg in [*REGISTRY_ONLY, *KERAS_REQUIRES]:
        assert op in REGISTRY and arg in REGISTRY[op].arg_names, (op, arg)


# ---------------------------------------------------------------------------------------------- activations


def keras_defaults(function) -> dict[str, Any]:
    parameters = list(inspect.signature(function).parameters.values())[1:]
    return {p.name: p.default for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_defaults_are_keras_defaults(name):
    function = keras.activations.get(name)
    assert keras_defaults(function) == ACTIVATION_ARGUMENTS.get(name, {}), name
    from backends.pytorch.table import ACTIVATIONS as TORCH

    # the constants written into the PyTorch expression are Keras' defaults (leaky_relu's 0.2, not 0.3)
    constants = {
        float(c) for c in re.findall(r"(?<![\w.])\d+\.\d+|(?<![\w.])\d+(?![\w.])", TORCH[name].format(x="x", dim="d"))
    }
    numeric = {float(v) for v in ACTIVATION_ARGUMENTS.get(name, {}).values() if isinstance(v, int | float)}
    assert constants <= numeric, f"{name}: PyTorch writes {TORCH[name]}; Keras' defaults are {numeric}"


@pytest.fixture(scope="module")
def probe():
    x = np.concatenate([np.linspace(-8.0, 8.0, 33), [-0.3, 0.0, 0.3]]).astype(np.float32)
    return x.reshape(4, 9)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_backends_compute_keras_activation_at_its_defaults(name, probe):
    import onnx
    import onnxruntime
    import torch
    import torch.nn.functional as F  # noqa: N812

    from backends.onnx.activations import ACTIVATIONS as ONNX
    from backends.onnx.builder import GraphBuilder
    from backends.pytorch.table import activate
    from backends.spine import LAST

    expected = np.asarray(keras.activations.get(name)(probe))
    torch_out = eval(activate(name, "x", LAST), {"torch": torch, "F": F, "x": torch.from_numpy(probe)})  # noqa: S307
    np.testing.assert_allclose(torch_out.numpy(), expected, rtol=1e-5, atol=1e-6, err_msg=f"{name} in PyTorch")

    g = GraphBuilder(17)
    y = g.add("Identity", [ONNX[name](g, "x", "act", -1)], "out")
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        g.nodes, "act", [value("x", onnx.TensorProto.FLOAT, probe.shape)], [value(y, onnx.TensorProto.FLOAT, None)]
    )
    graph.initializer.extend(g.initializers)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"x": probe})
    np.testing.assert_allclose(onnx_out, expected, rtol=1e-5, atol=1e-6, err_msg=f"{name} in ONNX")


# ---------------------------------------------------------------------------------------------- initializers

# dlc's drawing function -> Keras' class and the attributes its settings are, in order
DRAWN_AS = {
    W.variance_scaling: ("VarianceScaling", ("scale", "mode", "distribution")),
    W.random_uniform: ("RandomUniform", ("minval", "maxval")),
    W.random_normal: ("RandomNormal", ("mean", "stddev")),
    W.random_truncated_normal: ("TruncatedNormal", ("mean", "stddev")),
    W.orthogonal: ("Orthogonal", ("gain",)),
    W.constant: ("Constant", ("value",)),
    W.zeros: ("Zeros", ()),
    W.ones: ("Ones", ()),
}
INITIALIZER_FIXED = {"input_axes": None, "output_axes": None}  # VarianceScaling's fans from the usual axes


def settings_of(function, settings: tuple) -> tuple:
    """The settings a drawing function runs with: those given, then its own defaults."""
    parameters = list(inspect.signature(function).parameters.values())[2:]  # after shape and rng
    return tuple(settings) + tuple(p.default for p in parameters[len(settings) :])


def check_drawn_as_keras(what: str, function, settings: tuple, obj) -> None:
    keras_name, attributes = DRAWN_AS[function]
    assert isinstance(obj, getattr(keras.initializers, keras_name)), f"{what}: Keras' is {type(obj).__name__}"
    ours = settings_of(function, settings)
    theirs = tuple(getattr(obj, a) for a in attributes)
    assert ours == theirs, f"{what}: dlc draws {attributes} as {ours}, Keras as {theirs}"
    extra = {k: v for k, v in obj.get_config().items() if k != "seed" and k not in attributes}
    assert extra == {k: v for k, v in INITIALIZER_FIXED.items() if k in extra}, f"{what}: Keras' {extra}"


def test_every_initializer_name_has_a_sampler():
    assert set(INITIALIZERS) == set(W.SAMPLERS)


@pytest.mark.parametrize("name", sorted(W.SAMPLERS))
def test_initializer_name_is_keras_initializer(name):
    function, settings = W.SAMPLERS[name]
    check_drawn_as_keras(name, function, settings, keras.initializers.get(name))


@pytest.mark.parametrize("keras_name", sorted(InitializerKind.CALLS))
def test_called_initializer_defaults_are_keras_defaults(keras_name):
    cls = getattr(keras.initializers, keras_name)
    ours = {name: default for name, _, default in InitializerKind.CALLS[keras_name]}
    theirs = {k: v for k, v in keras_defaults(cls.__init__).items() if k != "seed" and k not in INITIALIZER_FIXED}
    assert ours == theirs, f"{keras_name}: the language's {ours}, Keras' {theirs}"
    assert list(ours) == [k for k in keras_defaults(cls.__init__) if k in ours], f"{keras_name}: argument order"
    function = W.CALLED_SAMPLERS[keras_name]
    check_drawn_as_keras(keras_name, function, tuple(ours.values()), cls())
    # a call at the language's defaults is the Keras class at its defaults
    called = Initializer(keras_name, tuple(ours.items()))
    assert initializer_key(called) == initializer_key(keras.initializers.serialize(cls()))


# ---------------------------------------------------------------------------------------------- training

OPTIMIZER_FIXED = {
    "amsgrad": False,
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}
OPTIMIZER_INERT = {"name", "ema_momentum", "ema_overwrite_frequency"}  # the last two only with use_ema
LOSS_FIXED = {"reduction": "sum_over_batch_size", "axis": -1, "ignore_class": None}
LOSS_INERT = {"name", "dtype"}


def same_number(ours: Any, theirs: Any) -> bool:
    """Equal, or equal once Keras stored it as float32 (an optimizer's learning rate)."""
    if isinstance(ours, float) and isinstance(theirs, float):
        return ours == theirs or float(np.float32(ours)) == theirs
    return type(ours) is type(theirs) and ours == theirs


def check_training_object(what: str, cls, signature: tuple[ArgSpec, ...], fixed: dict, inert: set) -> None:
    defaults = keras_defaults(cls.__init__)
    config = cls().get_config()
    problems = []
    for arg in signature:
        if arg.name not in defaults:
            problems.append(f"{what}: Keras has no argument '{arg.name}'")
            continue
        if not same_number(arg.default, defaults[arg.name]):
            problems.append(f"{what}: '{arg.name}' is {arg.default!r} here, {defaults[arg.name]!r} in Keras' signature")
        if arg.name in config and not same_number(arg.default, config[arg.name]):
            problems.append(f"{what}: '{arg.name}' is {arg.default!r} here, {config[arg.name]!r} in Keras' config")
    if not in_keras_order([a.name for a in signature], list(defaults)):
        problems.append(f"{what}: arguments {[a.name for a in signature]} are not in Keras' order {list(defaults)}")
    ours = {a.name for a in signature}
    for key, value in (defaults | config).items():
        if key in ours or key in inert:
            continue
        if key not in fixed:
            warnings.warn(f"{what}: Keras' '{key}' (default {value!r}) is not in the language", stacklevel=1)
        elif value != fixed[key]:
            problems.append(f"{what}: dlc assumes Keras' '{key}' is {fixed[key]!r}; Keras' default is {value!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_defaults_are_keras_defaults(name):
    check_training_object(name, getattr(keras.optimizers, name), OPTIMIZERS[name], OPTIMIZER_FIXED, OPTIMIZER_INERT)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_defaults_are_keras_defaults(name):
    keras_name, aliases, signature = LOSSES[name]
    check_training_object(name, getattr(keras.losses, keras_name), signature, LOSS_FIXED, LOSS_INERT)
    for spelling in (name, *aliases):
        assert keras.losses.get(spelling) is keras.losses.get(name), f"Keras reads '{spelling}' as another loss"
