"""One catalogue of op cases that every per-op test draws from: the forward tests of each backend against the
NumPy reference of Keras (tests/test_ops.py), the ONNX export tests (tests/test_onnx.py) and the equivalence
contract through training (tests/test_verify.py, the cases marked `trains`).

A case is a tiny `.dl` model built around one registry op, with non-default arguments where they change the
computation. Adding a layer adds its cases here, one line each; the families added since version 1 keep theirs in
`catalogue_<family>.py`, listed into CASES here.
"""

from __future__ import annotations

from case import IMG, SEQ, VEC, Case
from catalogue_attention import ATTENTION_CASES
from catalogue_conv_variants import CONV_VARIANT_CASES
from catalogue_resize import RESIZE_CASES
from catalogue_training import TRAINING_OPTIMIZER_CASES

from compiler.argkinds import ACTIVATIONS


def dl_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def pool_cases(op: str, spatial: int) -> list[Case]:
    def shape(n: int) -> str:
        return f"  input x: f32[{n}, 3]" if spatial == 1 else f"  input x: f32[{n}, {n}, 2]"

    cases = [
        Case(f"{op}-default", op, shape(6), f"{op}()"),
        Case(f"{op}-valid-3-stride2-odd", op, shape(7), f"{op}(3, strides=2)"),
        Case(f"{op}-same-2-stride2-even", op, shape(6), f"{op}(2, strides=2, padding=same)"),
        Case(f"{op}-same-2-stride2-odd", op, shape(7), f"{op}(2, strides=2, padding=same)"),
        Case(f"{op}-same-3-stride2-even", op, shape(6), f"{op}(3, strides=2, padding=same)"),
        Case(f"{op}-same-3-stride2-odd", op, shape(7), f"{op}(3, strides=2, padding=same)"),
        Case(f"{op}-same-2-stride1", op, shape(5), f"{op}(2, strides=1, padding=same)"),
        Case(f"{op}-same-3-stride1", op, shape(5), f"{op}(3, strides=1, padding=same)"),
    ]
    if spatial == 1:
        cases += [
            *(
                Case(
                    f"{op}-same-{k}-stride2-any-length-{n}",
                    op,
                    "  input x: f32[?, 3]",
                    f"{op}({k}, 2, padding=same)",
                    n,
                )
                for k in (2, 3)
                for n in (6, 7)
            ),
            Case(f"{op}-same-3-stride1-any-length", op, "  input x: f32[?, 3]", f"{op}(3, 1, padding=same)", 6),
        ]
    else:
        cases += [
            Case(f"{op}-same-rect", op, "  input x: f32[7, 6, 2]", f"{op}((3, 2), strides=(2, 1), padding=same)"),
            Case(f"{op}-after-conv", op, IMG, f"Conv2D(3, 3, padding=same)\n{op}(3, strides=2, padding=same)"),
        ]
    return cases


def conv_cases(op: str, spatial: int) -> list[Case]:
    def shape(n: int) -> str:
        return f"  input x: f32[{n}, 3]" if spatial == 1 else f"  input x: f32[{n}, {n}, 2]"

    cases = [
        Case(f"{op}-valid", op, shape(6), f"{op}(4, 3)"),
        Case(f"{op}-valid-stride2-relu", op, shape(7), f"{op}(4, 3, strides=2, activation=relu)"),
        Case(f"{op}-same-3-stride1", op, shape(6), f"{op}(4, 3, padding=same)"),
        Case(f"{op}-same-2-stride1", op, shape(6), f"{op}(4, 2, padding=same)"),
        Case(f"{op}-same-3-stride2-even", op, shape(6), f"{op}(4, 3, strides=2, padding=same)"),
        Case(f"{op}-same-3-stride2-odd", op, shape(7), f"{op}(4, 3, strides=2, padding=same)"),
        Case(f"{op}-same-2-stride2-even", op, shape(6), f"{op}(4, 2, strides=2, padding=same)"),
        Case(f"{op}-same-2-stride2-odd", op, shape(7), f"{op}(4, 2, strides=2, padding=same)"),
        Case(f"{op}-same-dilated", op, shape(7), f"{op}(4, 3, padding=same, dilation_rate=2)"),
        Case(f"{op}-valid-dilated", op, shape(7), f"{op}(4, 2, dilation_rate=3)"),
        Case(f"{op}-no-bias-tanh", op, shape(6), f"{op}(4, 3, use_bias=false, activation=tanh)"),
        Case(f"{op}-softmax", op, shape(5), f"{op}(4, 2, padding=same, activation=softmax)"),
    ]
    if spatial == 1:
        cases += [
            *(
                Case(
                    f"{op}-same-{k}-stride2-any-length-{n}",
                    op,
                    "  input x: f32[?, 3]",
                    f"{op}(4, {k}, 2, padding=same)",
                    n,
                )
                for k in (2, 3)
                for n in (6, 7)
            ),
            Case(f"{op}-stack", op, SEQ, f"{op}(4, 2, padding=same, activation=elu)\n{op}(2, 3)"),
        ]
    else:
        cases += [
            Case(f"{op}-rect", op, "  input x: f32[7, 6, 2]", f"{op}(3, (3, 2), strides=(2, 1), padding=same)"),
            Case(f"{op}-stack", op, IMG, f"{op}(3, 3, padding=same, activation=selu)\n{op}(2, 2, strides=2)"),
        ]
    return cases


def global_pool_cases(op: str, spatial: int) -> list[Case]:
    shape = "  input x: f32[5, 3]" if spatial == 1 else "  input x: f32[4, 5, 3]"
    return [
        Case(f"{op}", op, shape, f"{op}()"),
        Case(f"{op}-keepdims", op, shape, f"{op}(keepdims=true)"),
        Case(f"{op}-after-conv", op, shape, f"Conv{spatial}D(4, 2)\n{op}()"),
        Case(f"{op}-keepdims-after-conv", op, shape, f"Conv{spatial}D(4, 2)\n{op}(keepdims=true)"),
    ]


def recurrent_cases(op: str) -> list[Case]:
    """A recurrent layer's `activation` works inside its cell; it must not be applied again to the output."""
    gates = "" if op == "SimpleRNN" else ", recurrent_activation=tanh"
    return [
        Case(f"{op}", op, SEQ, f"{op}(4)"),
        Case(f"{op}-sequences", op, SEQ, f"{op}(4, return_sequences=true)"),
        Case(f"{op}-no-bias", op, SEQ, f"{op}(3, use_bias=false)"),
        # an unbounded cell grows: a smaller input keeps the outputs near 1, where float32 is well within 1e-5
        Case(f"{op}-activations", op, SEQ, f"{op}(3, activation=relu{gates}, return_sequences=true)", scale=0.5),
        Case(
            f"{op}-activations-of-version-2",
            op,
            SEQ,
            f"{op}(3, activation=mish{gates.replace('tanh', 'hard_sigmoid')}, return_sequences=true)",
            scale=0.5,
        ),
        Case(f"{op}-any-length", op, "  input x: f32[?, 3]", f"{op}(4)", 6),
        Case(f"{op}-stacked", op, SEQ, f"{op}(4, return_sequences=true)\n{op}(2)"),
    ]


def merge_cases() -> list[Case]:
    two = "  input a: f32[4]\n  input b: f32[4]"
    three = two + "\n  input c: f32[4]"
    cases = []
    for op in ("Add", "Multiply", "Average", "Maximum", "Minimum"):
        cases += [
            Case(f"{op}-two", op, two, f"{op}(b)"),
            Case(f"{op}-three", op, three, f"{op}(b, c)"),
            Case(f"{op}-convs", op, IMG, f"p: Conv2D(3, 2)\nfrom x\nConv2D(3, 2)\n{op}(p)"),
            Case(f"{op}-mixed-layouts", op, IMG, f"p: Conv2D(3, 1)\nfrom x\nDense(3)\n{op}(p)"),
        ]
    cases += [
        Case("Subtract", "Subtract", two, "Subtract(b)"),
        Case("Subtract-reversed", "Subtract", two, "from b\nSubtract(a, b)"),
        Case("Subtract-convs", "Subtract", IMG, "p: Conv2D(3, 2)\nfrom x\nConv2D(3, 2)\nSubtract(p)"),
        Case("Concatenate-two", "Concatenate", two, "Concatenate(b)"),
        Case("Concatenate-ordered", "Concatenate", three, "from b\nConcatenate(c, a, b)"),
        Case(
            "Concatenate-time-axis",
            "Concatenate",
            "  input a: f32[3, 2]\n  input b: f32[4, 2]",
            "Concatenate(b, axis=1)",
        ),
        Case(
            "Concatenate-middle-axis",
            "Concatenate",
            "  input a: f32[2, 3, 2]\n  input b: f32[2, 3, 2]",
            "Concatenate(b, axis=2)",
        ),
        Case("Concatenate-convs", "Concatenate", IMG, "p: Conv2D(3, 2)\nfrom x\nConv2D(2, 2)\nConcatenate(p)"),
    ]
    return cases


CASES: list[Case] = [
    # core
    Case("Dense", "Dense", VEC, "Dense(4)"),
    Case("Dense-no-bias-sequence", "Dense", SEQ, "Dense(4, use_bias=false, activation=tanh)"),
    Case("Dense-softmax-fused-loss", "Dense", VEC, "Dense(4, activation=softmax)", loss="categorical_crossentropy"),
    Case("Dense-sigmoid-fused-loss", "Dense", VEC, "Dense(3, activation=sigmoid)", loss="binary_crossentropy"),
    Case("Dense-after-conv", "Dense", IMG, "Conv2D(3, 2)\nDense(2, activation=gelu)"),
    *(Case(f"Activation-{name}", "Activation", SEQ, f"Activation({name})", scale=3.0) for name in ACTIVATIONS),
    *(Case(f"Dense-{name}", "Dense", VEC, f"Dense(5, activation={name})") for name in ("relu", "softmax", "gelu")),
    Case("Activation-softmax-channels-first", "Activation", IMG, "Conv2D(3, 2)\nActivation(softmax)\nMaxPool2D()"),
    Case(
        "Activation-log_softmax-channels-first",
        "Activation",
        IMG,
        "Conv2D(3, 2)\nActivation(log_softmax)\nMaxPool2D()",
    ),
    *(
        Case(f"Conv2D-{name}", "Conv2D", IMG, f"Conv2D(3, 2, activation={name})\nMaxPool2D()", scale=3.0)
        for name in ("log_softmax", "leaky_relu", "hard_silu", "mish")
    ),
    Case("Dense-log_softmax", "Dense", VEC, "Dense(4, activation=log_softmax)"),
    Case("ReLU", "ReLU", SEQ, "ReLU()"),
    Case("ReLU-max-value", "ReLU", SEQ, "ReLU(max_value=1.5)", scale=3.0),
    Case("ReLU-negative-slope", "ReLU", SEQ, "ReLU(negative_slope=0.1)"),
    Case("ReLU-threshold", "ReLU", SEQ, "ReLU(threshold=0.5)"),
    Case("ReLU-all", "ReLU", SEQ, "ReLU(max_value=2.0, negative_slope=0.2, threshold=0.5)", scale=3.0),
    Case("ReLU-slope-and-max", "ReLU", SEQ, "ReLU(max_value=1.0, negative_slope=0.3)", scale=3.0),
    Case("ReLU-channels-first", "ReLU", IMG, "Conv2D(3, 2)\nReLU(max_value=0.5)\nMaxPool2D()"),
    Case("LeakyReLU", "LeakyReLU", SEQ, "LeakyReLU()"),
    Case("LeakyReLU-slope", "LeakyReLU", SEQ, "LeakyReLU(negative_slope=0.05)"),
    Case("Softmax", "Softmax", SEQ, "Softmax()"),
    Case("Softmax-time-axis", "Softmax", SEQ, "Softmax(axis=1)"),
    Case("Softmax-after-conv", "Softmax", IMG, "Conv2D(3, 2)\nSoftmax(axis=2)"),
    Case("Softmax-fused-loss", "Softmax", VEC, "Dense(4)\nSoftmax()", loss="categorical_crossentropy"),
    # a one-letter input variable: the fused `finish` must not be built by text replacement on its name
    Case("Softmax-fused-loss-on-input", "Softmax", "  input t: f32[4]", "Softmax()", loss="categorical_crossentropy"),
    Case("Dropout", "Dropout", VEC, "Dropout(0.5)"),
    Case("Dropout-after-conv", "Dropout", IMG, "Conv2D(3, 2)\nDropout(0.3)\nMaxPool2D()"),
    Case("Flatten-sequence", "Flatten", SEQ, "Flatten()"),
    Case("Flatten-after-conv", "Flatten", IMG, "Conv2D(3, 2)\nFlatten()"),
    Case("Reshape", "Reshape", SEQ, "Reshape((3, 5))"),
    Case("Reshape-minus-one", "Reshape", SEQ, "Reshape((-1, 5, 1))"),
    Case("Reshape-after-conv", "Reshape", IMG, "Conv2D(3, 2)\nReshape((-1, 3))"),
    Case("Rescaling", "Rescaling", SEQ, "Rescaling(2.0)"),
    Case("Rescaling-offset", "Rescaling", SEQ, "Rescaling(0.5, offset=-1)"),
    Case("Rescaling-after-conv", "Rescaling", IMG, "Conv2D(3, 2)\nRescaling(0.25, offset=0.5)\nAvgPool2D()"),
    # convolution and pooling
    *conv_cases("Conv1D", 1),
    *conv_cases("Conv2D", 2),
    *pool_cases("MaxPool1D", 1),
    *pool_cases("MaxPool2D", 2),
    *pool_cases("AvgPool1D", 1),
    *pool_cases("AvgPool2D", 2),
    *global_pool_cases("GlobalAvgPool1D", 1),
    *global_pool_cases("GlobalAvgPool2D", 2),
    *global_pool_cases("GlobalMaxPool1D", 1),
    *global_pool_cases("GlobalMaxPool2D", 2),
    # normalization
    Case("BatchNormalization", "BatchNormalization", VEC, "BatchNormalization()"),
    Case("BatchNormalization-sequence", "BatchNormalization", SEQ, "BatchNormalization(epsilon=0.1)"),
    Case("BatchNormalization-after-conv", "BatchNormalization", IMG, "Conv2D(3, 2)\nBatchNormalization()"),
    Case(
        "BatchNormalization-no-scale-center",
        "BatchNormalization",
        IMG,
        "Conv2D(3, 2)\nBatchNormalization(center=false, scale=false)\nMaxPool2D()",
    ),
    Case("BatchNormalization-no-center", "BatchNormalization", VEC, "BatchNormalization(center=false, momentum=0.9)"),
    Case("BatchNormalization-no-scale", "BatchNormalization", VEC, "BatchNormalization(scale=false)"),
    Case("LayerNormalization", "LayerNormalization", VEC, "LayerNormalization()"),
    Case("LayerNormalization-sequence", "LayerNormalization", SEQ, "LayerNormalization(epsilon=0.1)"),
    Case("LayerNormalization-no-center", "LayerNormalization", SEQ, "LayerNormalization(center=false)"),
    Case("LayerNormalization-no-scale", "LayerNormalization", SEQ, "LayerNormalization(scale=false)"),
    Case("LayerNormalization-bare", "LayerNormalization", SEQ, "LayerNormalization(center=false, scale=false)"),
    Case("LayerNormalization-after-conv", "LayerNormalization", IMG, "Conv2D(3, 2)\nLayerNormalization()"),
    Case("LayerNormalization-small", "LayerNormalization", VEC, "LayerNormalization()", scale=0.01),
    # embedding
    Case("Embedding", "Embedding", "  input ids: i64[6]", "Embedding(10, 4)"),
    Case("Embedding-i32", "Embedding", "  input ids: i32[6]", "Embedding(12, 3)\nFlatten()"),
    Case("Embedding-any-length", "Embedding", "  input ids: i64[?]", "Embedding(10, 4)\nConv1D(3, 2)", 7),
    # float ids, as Keras takes them: cast to integers, truncating (ReLU keeps them in [0, 9], mostly fractional)
    Case("Embedding-float-ids", "Embedding", "  input x: f32[6]", "ReLU(max_value=9.0)\nEmbedding(10, 4)", scale=4.0),
    Case(
        "Embedding-float-ids-any-length",
        "Embedding",
        "  input x: f32[?]",
        "ReLU(max_value=9.0)\nEmbedding(10, 3)\nConv1D(2, 2)",
        lengths=(4, 7),
        scale=4.0,
    ),
    # recurrent
    *recurrent_cases("SimpleRNN"),
    *recurrent_cases("LSTM"),
    *recurrent_cases("GRU"),
    Case("Bidirectional-LSTM", "Bidirectional", SEQ, "Bidirectional(LSTM(3))"),
    Case(
        "Bidirectional-GRU-sum-seq",
        "Bidirectional",
        SEQ,
        "Bidirectional(GRU(3, return_sequences=true), merge_mode=sum)",
    ),
    Case("Bidirectional-SimpleRNN-mul", "Bidirectional", SEQ, "Bidirectional(SimpleRNN(3), merge_mode=mul)"),
    Case(
        "Bidirectional-LSTM-ave-seq",
        "Bidirectional",
        SEQ,
        "Bidirectional(LSTM(3, return_sequences=true), merge_mode=ave)",
    ),
    Case("Bidirectional-GRU-no-bias", "Bidirectional", SEQ, "Bidirectional(GRU(2, use_bias=false, activation=relu))"),
    Case(
        "Bidirectional-SimpleRNN-concat-seq",
        "Bidirectional",
        SEQ,
        "Bidirectional(SimpleRNN(2, activation=sigmoid, return_sequences=true))",
    ),
    Case("Bidirectional-any-length", "Bidirectional", "  input x: f32[?, 3]", "Bidirectional(GRU(3))", 6),
    # merges
    *merge_cases(),
    # the ONNX export's own cases: layouts, `?` lengths, fused and Scan recurrences
    Case(
        "dense", "Dense", "  input x: f32[4]", "Dense(5, activation=tanh)", lengths=(3, 6), weight_scale=0.5, rtol=1e-5
    ),
    Case(
        "dense_sequence_no_bias",
        "Dense",
        "  input x: f32[?, 4]",
        "Dense(3, use_bias=false, activation=gelu)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "activation_linear",
        "Activation",
        "  input x: f32[?, 4]",
        "Activation(linear)",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "activation_relu",
        "Activation",
        "  input x: f32[?, 4]",
        "Activation(relu)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "activation_sigmoid",
        "Activation",
        "  input x: f32[?, 4]",
        "Activation(sigmoid)",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "activation_tanh",
        "Activation",
        "  input x: f32[?, 4]",
        "Activation(tanh)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "activation_softmax",
        "Activation",
        "  input x: f32[?, 4]",
        "Activation(softmax)",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "activation_gelu",
        "Activation",
        "  input x: f32[?, 4]",
        "Activation(gelu)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "activation_elu",
        "Activation",
        "  input x: f32[?, 4]",
        "Activation(elu)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "activation_selu",
        "Activation",
        "  input x: f32[?, 4]",
        "Activation(selu)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "activation_softplus",
        "Activation",
        "  input x: f32[?, 4]",
        "Activation(softplus)",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "activation_swish", "Activation", "  input x: f32[?, 4]", "Activation(swish)", lengths=(3, 6), weight_scale=0.5
    ),
    Case(
        "activation_softmax_on_conv_channels",
        "Activation",
        "  input x: f32[5, 5, 2]",
        "Conv2D(3, 3)\nActivation(softmax)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case("relu", "ReLU", "  input x: f32[3, 4]", "ReLU()", lengths=(3, 6), weight_scale=0.5, rtol=1e-5),
    Case(
        "relu_arguments",
        "ReLU",
        "  input x: f32[3, 4]",
        "ReLU(max_value=0.8, negative_slope=0.1, threshold=0.2)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case("leaky_relu", "LeakyReLU", "  input x: f32[4]", "LeakyReLU()", lengths=(3, 6), weight_scale=0.5, rtol=1e-5),
    Case(
        "leaky_relu_slope",
        "LeakyReLU",
        "  input x: f32[4]",
        "LeakyReLU(0.05)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "softmax_time_axis",
        "Softmax",
        "  input x: f32[3, 4]",
        "Softmax(axis=1)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "dropout", "Dropout", "  input x: f32[4]", "Dropout(0.5)\nDense(2)", lengths=(3, 6), weight_scale=0.5, rtol=1e-5
    ),
    Case(
        "flatten_after_conv",
        "Flatten",
        "  input x: f32[5, 4, 2]",
        "Conv2D(3, 2)\nFlatten()",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case("reshape", "Reshape", "  input x: f32[4, 6]", "Reshape((3, -1))", lengths=(3, 6), weight_scale=0.5, rtol=1e-5),
    Case(
        "rescaling",
        "Rescaling",
        "  input x: f32[4]",
        "Rescaling(0.5, offset=-1)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "conv1d_same_strided",
        "Conv1D",
        "  input x: f32[7, 3]",
        "Conv1D(4, 3, strides=2, padding=same, activation=relu)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "conv1d_same_dilated_any_length",
        "Conv1D",
        "  input x: f32[?, 3]",
        "Conv1D(4, 3, padding=same, dilation_rate=2)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "conv1d_same_strided_any_length",
        "Conv1D",
        "  input x: f32[?, 3]",
        "Conv1D(2, 4, strides=3, padding=same)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "conv1d_valid_any_length",
        "Conv1D",
        "  input x: f32[?, 3]",
        "Conv1D(2, 2)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "conv2d_same_asymmetric",
        "Conv2D",
        "  input x: f32[7, 6, 3]",
        "Conv2D(4, (3, 2), strides=(2, 1), padding=same, use_bias=false)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "conv2d_same_dilated",
        "Conv2D",
        "  input x: f32[7, 7, 2]",
        "Conv2D(3, 3, padding=same, dilation_rate=(2, 2), activation=swish)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "conv2d_valid_strided",
        "Conv2D",
        "  input x: f32[8, 7, 2]",
        "Conv2D(3, 3, strides=2)",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "conv2d_same_pointwise_strided",
        "Conv2D",
        "  input x: f32[6, 6, 2]",
        "Conv2D(2, 1, strides=2, padding=same)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "max_pool1d_same",
        "MaxPool1D",
        "  input x: f32[7, 3]",
        "MaxPool1D(3, strides=2, padding=same)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "max_pool1d_same_any_length",
        "MaxPool1D",
        "  input x: f32[?, 3]",
        "MaxPool1D(2, padding=same)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "max_pool2d",
        "MaxPool2D",
        "  input x: f32[6, 6, 2]",
        "MaxPool2D(2)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "max_pool2d_same",
        "MaxPool2D",
        "  input x: f32[7, 6, 2]",
        "MaxPool2D((3, 3), strides=2, padding=same)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "avg_pool1d_same_any_length",
        "AvgPool1D",
        "  input x: f32[?, 3]",
        "AvgPool1D(3, strides=2, padding=same)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "avg_pool2d_same_asymmetric",
        "AvgPool2D",
        "  input x: f32[7, 5, 2]",
        "AvgPool2D((2, 3), strides=(2, 2), padding=same)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "avg_pool2d_valid",
        "AvgPool2D",
        "  input x: f32[6, 6, 2]",
        "AvgPool2D(3, strides=1)",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "global_avg_pool1d_any_length",
        "GlobalAvgPool1D",
        "  input x: f32[?, 3]",
        "GlobalAvgPool1D()",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "global_max_pool1d_keepdims",
        "GlobalMaxPool1D",
        "  input x: f32[5, 3]",
        "GlobalMaxPool1D(keepdims=true)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "global_avg_pool2d_after_conv_keepdims",
        "GlobalAvgPool2D",
        "  input x: f32[5, 5, 2]",
        "Conv2D(3, 2)\nGlobalAvgPool2D(keepdims=true)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "global_max_pool2d",
        "GlobalMaxPool2D",
        "  input x: f32[5, 5, 2]",
        "GlobalMaxPool2D()",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "batch_norm_vector",
        "BatchNormalization",
        "  input x: f32[4]",
        "BatchNormalization()",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "batch_norm_after_conv",
        "BatchNormalization",
        "  input x: f32[5, 5, 2]",
        "Conv2D(3, 3, padding=same)\nBatchNormalization(center=false)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "batch_norm_sequence",
        "BatchNormalization",
        "  input x: f32[?, 4]",
        "BatchNormalization(scale=false, epsilon=0.01)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "layer_norm",
        "LayerNormalization",
        "  input x: f32[?, 4]",
        "LayerNormalization()",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "layer_norm_flags",
        "LayerNormalization",
        "  input x: f32[4]",
        "LayerNormalization(center=false, epsilon=0.1)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "embedding", "Embedding", "  input x: i64[?]", "Embedding(10, 4)", lengths=(3, 6), weight_scale=0.5, rtol=1e-5
    ),
    Case(
        "embedding_i32",
        "Embedding",
        "  input x: i32[5]",
        "Embedding(10, 3)\nFlatten()",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "simple_rnn", "SimpleRNN", "  input x: f32[?, 3]", "SimpleRNN(4)", lengths=(3, 6), weight_scale=0.5, rtol=1e-5
    ),
    Case(
        "simple_rnn_relu_sequences",
        "SimpleRNN",
        "  input x: f32[?, 3]",
        "SimpleRNN(4, activation=relu, return_sequences=true)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case("lstm", "LSTM", "  input x: f32[?, 3]", "LSTM(4)", lengths=(3, 6), weight_scale=0.5, rtol=1e-5),
    Case(
        "lstm_sequences_no_bias",
        "LSTM",
        "  input x: f32[5, 3]",
        "LSTM(4, return_sequences=true, use_bias=false)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "lstm_swish_scan",
        "LSTM",
        "  input x: f32[?, 3]",
        "LSTM(4, activation=swish, recurrent_activation=tanh)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case("gru", "GRU", "  input x: f32[?, 3]", "GRU(4)", lengths=(3, 6), weight_scale=0.5, rtol=1e-5),
    Case(
        "gru_elu_sequences",
        "GRU",
        "  input x: f32[?, 3]",
        "GRU(4, activation=elu, recurrent_activation=softplus, return_sequences=true)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "simple_rnn_elu",
        "SimpleRNN",
        "  input x: f32[?, 3]",
        "SimpleRNN(4, activation=elu)",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "simple_rnn_softplus",
        "SimpleRNN",
        "  input x: f32[?, 3]",
        "SimpleRNN(4, activation=softplus)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "gru_linear",
        "GRU",
        "  input x: f32[?, 3]",
        "GRU(3, activation=linear, use_bias=false)",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "gru_selu_sequences_scan",
        "GRU",
        "  input x: f32[?, 3]",
        "GRU(4, activation=selu, return_sequences=true)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "bidirectional_lstm",
        "Bidirectional",
        "  input x: f32[?, 3]",
        "Bidirectional(LSTM(4))",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "bidirectional_gru_sequences_ave",
        "Bidirectional",
        "  input x: f32[?, 3]",
        "Bidirectional(GRU(3, return_sequences=true), merge_mode=ave)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "bidirectional_simple_rnn_mul",
        "Bidirectional",
        "  input x: f32[?, 3]",
        "Bidirectional(SimpleRNN(3), merge_mode=mul)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "bidirectional_lstm_sequences_sum",
        "Bidirectional",
        "  input x: f32[?, 3]",
        "Bidirectional(LSTM(3, return_sequences=true), merge_mode=sum)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "bidirectional_gru_gelu_sequences_scan",
        "Bidirectional",
        "  input x: f32[?, 3]",
        "Bidirectional(GRU(3, activation=gelu, return_sequences=true))",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "bidirectional_rnn_softmax_sum_scan",
        "Bidirectional",
        "  input x: f32[?, 3]",
        "Bidirectional(SimpleRNN(3, activation=softmax), merge_mode=sum)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "bidirectional_lstm_sigmoid_mul_scan",
        "Bidirectional",
        "  input x: f32[?, 3]",
        "Bidirectional(LSTM(2, recurrent_activation=swish, use_bias=false), merge_mode=mul)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "merge_add",
        "Add",
        "  input x: f32[4]",
        "a: Dense(3)\nfrom x\nb: Dense(3)\nfrom x\nDense(3)\nAdd(a, b)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "merge_multiply",
        "Multiply",
        "  input x: f32[4]",
        "a: Dense(3)\nfrom x\nb: Dense(3)\nfrom x\nDense(3)\nMultiply(a, b)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "merge_average",
        "Average",
        "  input x: f32[4]",
        "a: Dense(3)\nfrom x\nb: Dense(3)\nfrom x\nDense(3)\nAverage(a, b)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "merge_maximum",
        "Maximum",
        "  input x: f32[4]",
        "a: Dense(3)\nfrom x\nb: Dense(3)\nfrom x\nDense(3)\nMaximum(a, b)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "merge_minimum",
        "Minimum",
        "  input x: f32[4]",
        "a: Dense(3)\nfrom x\nb: Dense(3)\nfrom x\nDense(3)\nMinimum(a, b)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "merge_subtract",
        "Subtract",
        "  input x: f32[4]",
        "a: Dense(3)\nfrom x\nDense(3)\nSubtract(a)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "merge_channels_first",
        "Add",
        "  input x: f32[5, 5, 2]",
        "a: Conv2D(3, 3, padding=same)\nConv2D(3, 3, padding=same)\nAdd(a)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "merge_mixed_layouts",
        "Maximum",
        "  input x: f32[5, 5, 2]",
        "a: Conv2D(2, 1)\nfrom x\nMaximum(a)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "merge_two_inputs",
        "Subtract",
        "  input x: f32[4]\n  input y: f32[4]",
        "Subtract(y)",
        lengths=(3, 6),
        weight_scale=0.5,
    ),
    Case(
        "concatenate_time_axis",
        "Concatenate",
        "  input x: f32[3, 4]",
        "a: Dense(4)\nfrom x\nConcatenate(x, a, axis=1)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    Case(
        "concatenate_after_conv",
        "Concatenate",
        "  input x: f32[5, 5, 2]",
        "a: Conv2D(3, 3, padding=same)\nfrom x\nConcatenate(a)",
        lengths=(3, 6),
        weight_scale=0.5,
        rtol=1e-5,
    ),
    # one model per op for training: trainable weights on both sides of the op, so that the optimizer
    # steps carry gradients through it. No bias right before a normalization or a softmax over time: its
    # true gradient is zero, and Adam amplifies each framework's rounding noise in it into lr-sized steps.
    Case(
        "Dense-trains", "Dense", "  input x: f32[6]", "Dense(4, activation=tanh)\nDense(3, use_bias=false)", trains=True
    ),
    Case("Activation-trains", "Activation", "  input x: f32[6]", "Dense(4)\nActivation(selu)\nDense(3)", trains=True),
    Case(
        "ReLU-trains",
        "ReLU",
        "  input x: f32[6]",
        "Dense(4)\nReLU(max_value=1.0, negative_slope=0.1, threshold=0.2)\nDense(3)",
        trains=True,
    ),
    Case(
        "LeakyReLU-trains",
        "LeakyReLU",
        "  input x: f32[6]",
        "Dense(4)\nLeakyReLU(negative_slope=0.2)\nDense(3)",
        trains=True,
    ),
    Case(
        "Softmax-trains",
        "Softmax",
        "  input x: f32[5, 3]",
        "Dense(4, use_bias=false)\nSoftmax(axis=1)\nFlatten()\nDense(3)",
        trains=True,
    ),
    Case("Dropout-trains", "Dropout", "  input x: f32[6]", "Dense(4)\nDropout(0.5)\nDense(3)", trains=True),
    Case("Flatten-trains", "Flatten", "  input x: f32[6, 6, 2]", "Conv2D(2, 3)\nFlatten()\nDense(3)", trains=True),
    Case(
        "Reshape-trains",
        "Reshape",
        "  input x: f32[6]",
        "Dense(6)\nReshape((3, 2))\nConv1D(2, 2)\nFlatten()\nDense(3)",
        trains=True,
    ),
    Case("Rescaling-trains", "Rescaling", "  input x: f32[6]", "Rescaling(0.5, offset=-1)\nDense(3)", trains=True),
    Case(
        "Conv1D-trains",
        "Conv1D",
        "  input x: f32[5, 3]",
        "Conv1D(4, 3, strides=2, padding=same, activation=relu)\nFlatten()\nDense(3)",
        trains=True,
    ),
    Case(
        "Conv2D-trains",
        "Conv2D",
        "  input x: f32[7, 7, 2]",
        "Conv2D(3, 3, strides=2, padding=same, dilation_rate=1)\nFlatten()\nDense(3)",
        trains=True,
    ),
    Case(
        "MaxPool1D-trains",
        "MaxPool1D",
        "  input x: f32[7, 3]",
        "Conv1D(3, 2)\nMaxPool1D(3, strides=2, padding=same)\nFlatten()\nDense(2)",
        trains=True,
    ),
    Case(
        "MaxPool2D-trains",
        "MaxPool2D",
        "  input x: f32[7, 7, 2]",
        "Conv2D(3, 2)\nMaxPool2D(3, strides=2, padding=same)\nFlatten()\nDense(2)",
        trains=True,
    ),
    Case(
        "AvgPool1D-trains",
        "AvgPool1D",
        "  input x: f32[7, 3]",
        "Conv1D(3, 2)\nAvgPool1D(3, strides=2, padding=same)\nFlatten()\nDense(2)",
        trains=True,
    ),
    Case(
        "AvgPool2D-trains",
        "AvgPool2D",
        "  input x: f32[7, 7, 2]",
        "Conv2D(3, 2)\nAvgPool2D(3, strides=2, padding=same)\nFlatten()\nDense(2)",
        trains=True,
    ),
    Case(
        "GlobalAvgPool1D-trains",
        "GlobalAvgPool1D",
        "  input x: f32[5, 3]",
        "Conv1D(3, 2)\nGlobalAvgPool1D()\nDense(2)",
        trains=True,
    ),
    Case(
        "GlobalAvgPool2D-trains",
        "GlobalAvgPool2D",
        "  input x: f32[6, 6, 2]",
        "Conv2D(3, 2)\nGlobalAvgPool2D()\nDense(2)",
        trains=True,
    ),
    Case(
        "GlobalMaxPool1D-trains",
        "GlobalMaxPool1D",
        "  input x: f32[5, 3]",
        "Conv1D(3, 2)\nGlobalMaxPool1D()\nDense(2)",
        trains=True,
    ),
    Case(
        "GlobalMaxPool2D-trains",
        "GlobalMaxPool2D",
        "  input x: f32[6, 6, 2]",
        "Conv2D(3, 2)\nGlobalMaxPool2D(keepdims=true)\nFlatten()\nDense(2)",
        trains=True,
    ),
    Case(
        "BatchNormalization-trains",
        "BatchNormalization",
        "  input x: f32[6, 6, 2]",
        "Conv2D(3, 2, use_bias=false)\nBatchNormalization(momentum=0.9)\nFlatten()\nDense(2)",
        trains=True,
    ),
    Case(
        "LayerNormalization-trains",
        "LayerNormalization",
        "  input x: f32[5, 3]",
        "Dense(4)\nLayerNormalization()\nFlatten()\nDense(2)",
        trains=True,
    ),
    Case("Embedding-trains", "Embedding", "  input ids: i64[6]", "Embedding(10, 4)\nFlatten()\nDense(3)", trains=True),
    # float ids straight from the input (dlc verify draws whole ids for an input an Embedding reads)
    Case(
        "Embedding-float-ids-trains",
        "Embedding",
        "  input x: f32[6]",
        "Embedding(10, 4)\nFlatten()\nDense(3)",
        trains=True,
    ),
    # initializers with arguments: the seed's initial weights (drawn from them) through both programs' training
    Case(
        "BatchNormalization-initializers-trains",
        "BatchNormalization",
        "  input x: f32[6]",
        "Dense(4, activation=tanh, kernel_initializer=RandomNormal(stddev=0.5), bias_initializer=Constant(0.1))\n"
        "BatchNormalization(gamma_initializer=RandomUniform(minval=0.5, maxval=1.5), "
        "beta_initializer=TruncatedNormal(stddev=0.1), moving_variance_initializer=Constant(2.0))\n"
        "Dense(2, kernel_initializer=VarianceScaling(2.0, mode=fan_avg, distribution=uniform))",
        trains=True,
    ),
    Case(
        "SimpleRNN-trains",
        "SimpleRNN",
        "  input x: f32[5, 3]",
        "SimpleRNN(4, return_sequences=true)\nSimpleRNN(3)\nDense(2)",
        trains=True,
    ),
    Case(
        "LSTM-trains", "LSTM", "  input x: f32[5, 3]", "LSTM(4, return_sequences=true)\nLSTM(3)\nDense(2)", trains=True
    ),
    Case("GRU-trains", "GRU", "  input x: f32[5, 3]", "GRU(4, return_sequences=true)\nGRU(3)\nDense(2)", trains=True),
    Case(
        "Bidirectional-trains",
        "Bidirectional",
        "  input x: f32[5, 3]",
        "Bidirectional(LSTM(3, return_sequences=true), merge_mode=sum)\nBidirectional(GRU(2))",
        trains=True,
    ),
    Case(
        "Add-trains",
        "Add",
        "  input x: f32[6]",
        "p: Dense(3)\nfrom x\nDense(3, activation=tanh)\nAdd(p)\nDense(2)",
        trains=True,
    ),
    Case(
        "Subtract-trains",
        "Subtract",
        "  input x: f32[6]",
        "p: Dense(3)\nfrom x\nDense(3, activation=tanh)\nSubtract(p)\nDense(2)",
        trains=True,
    ),
    Case(
        "Multiply-trains",
        "Multiply",
        "  input x: f32[6]",
        "p: Dense(3)\nfrom x\nDense(3, activation=tanh)\nMultiply(p)\nDense(2)",
        trains=True,
    ),
    Case(
        "Average-trains",
        "Average",
        "  input x: f32[6]",
        "p: Dense(3)\nfrom x\nDense(3, activation=tanh)\nAverage(p)\nDense(2)",
        trains=True,
    ),
    Case(
        "Maximum-trains",
        "Maximum",
        "  input x: f32[6]",
        "p: Dense(3)\nfrom x\nDense(3, activation=tanh)\nMaximum(p)\nDense(2)",
        trains=True,
    ),
    Case(
        "Minimum-trains",
        "Minimum",
        "  input x: f32[6]",
        "p: Dense(3)\nfrom x\nDense(3, activation=tanh)\nMinimum(p)\nDense(2)",
        trains=True,
    ),
    Case(
        "Concatenate-trains",
        "Concatenate",
        "  input x: f32[6]",
        "p: Dense(3)\nfrom x\nDense(3, activation=tanh)\nConcatenate(p)\nDense(2)",
        trains=True,
    ),
    *CONV_VARIANT_CASES,
    *RESIZE_CASES,
    *ATTENTION_CASES,
]

# each loss with an output it accepts, and each of its arguments changed from the default
LOSS_CASES: dict[str, Case] = {
    "mean_squared_error": Case(
        "loss-mean_squared_error", "Dense", "  input x: f32[6]", "Dense(3)", loss="mean_squared_error", trains=True
    ),
    "mean_absolute_error": Case(
        "loss-mean_absolute_error", "Dense", "  input x: f32[6]", "Dense(3)", loss="mean_absolute_error", trains=True
    ),
    "huber(delta=0.5)": Case(
        "loss-huber(delta=0.5)", "Dense", "  input x: f32[6]", "Dense(3)", loss="huber(delta=0.5)", trains=True
    ),
    "binary_crossentropy": Case(
        "loss-binary_crossentropy",
        "Dense",
        "  input x: f32[6]",
        "Dense(2, activation=sigmoid)",
        loss="binary_crossentropy",
        trains=True,
    ),
    "binary_crossentropy(from_logits=true, label_smoothing=0.1)": Case(
        "loss-binary_crossentropy(from_logits=true, label_smoothing=0.1)",
        "Dense",
        "  input x: f32[6]",
        "Dense(2)",
        loss="binary_crossentropy(from_logits=true, label_smoothing=0.1)",
        trains=True,
    ),
    "categorical_crossentropy": Case(
        "loss-categorical_crossentropy",
        "Dense",
        "  input x: f32[6]",
        "Dense(3, activation=softmax)",
        loss="categorical_crossentropy",
        trains=True,
    ),
    "categorical_crossentropy(label_smoothing=0.2)": Case(
        "loss-categorical_crossentropy(label_smoothing=0.2)",
        "Dense",
        "  input x: f32[6]",
        "Dense(3)\nSoftmax()",
        loss="categorical_crossentropy(label_smoothing=0.2)",
        trains=True,
    ),
    "categorical_crossentropy(from_logits=true)": Case(
        "loss-categorical_crossentropy(from_logits=true)",
        "Dense",
        "  input x: f32[6]",
        "Dense(3)",
        loss="categorical_crossentropy(from_logits=true)",
        trains=True,
    ),
    "sparse_categorical_crossentropy": Case(
        "loss-sparse_categorical_crossentropy",
        "Dense",
        "  input x: f32[5, 3]",
        "Dense(3, activation=softmax)",
        loss="sparse_categorical_crossentropy",
        trains=True,
    ),
    "sparse_categorical_crossentropy(from_logits=true)": Case(
        "loss-sparse_categorical_crossentropy(from_logits=true)",
        "Dense",
        "  input x: f32[5, 3]",
        "Dense(3)",
        loss="sparse_categorical_crossentropy(from_logits=true)",
        trains=True,
    ),
    "sparse_categorical_crossentropy(from_logits=false)": Case(
        "loss-sparse_categorical_crossentropy(from_logits=false)",
        "Dense",
        "  input x: f32[6]",
        "Dense(3)\nSoftmax()",
        loss="sparse_categorical_crossentropy(from_logits=false)",
        trains=True,
    ),
}

OPTIMIZER_CASES = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.05}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "nesterov": True, "weight_decay": 0.05}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 0.01}),
    ("Adam", {"learning_rate": 0.05, "weight_decay": 0.1}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.2, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 0.001}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.9, "epsilon": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.01, "epsilon": 0.01}),
    ("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.0}),
    ("Adagrad", {"learning_rate": 0.05, "weight_decay": 0.1}),
    *TRAINING_OPTIMIZER_CASES,
]
OPTIMIZER_IDS = [
    f"{name}-" + ("-".join(f"{k}={v}" for k, v in args.items()) or "defaults") for name, args in OPTIMIZER_CASES
]
