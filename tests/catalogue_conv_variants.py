"""Catalogue cases of the transposed, separable and depthwise convolutions."""

from __future__ import annotations

from case import Case


def shape(spatial: int, n: int | str, channels: int = 0) -> str:
    if spatial == 1:
        return f"  input x: f32[{n}, {channels or 3}]"
    return f"  input x: f32[{n}, {n}, {channels or 2}]"


def transpose_cases(op: str, spatial: int) -> list[Case]:
    def case(name: str, n, layers: str, **more) -> Case:
        return Case(f"{op}-{name}", op, shape(spatial, n), layers, **more)

    cases = [
        case("valid", 5, f"{op}(4, 3)"),
        case("valid-stride2-odd", 5, f"{op}(4, 3, strides=2)"),
        case("valid-stride2-even", 6, f"{op}(4, 2, strides=2)"),
        case("valid-kernel-below-stride", 4, f"{op}(3, 2, strides=3)"),  # zeros (and the bias) between the taps
        case("valid-output-padding", 5, f"{op}(4, 3, strides=2, output_padding=1)"),
        case("valid-output-padding-0", 5, f"{op}(4, 3, strides=3, output_padding=0)"),
        case("same-3-stride2-even", 6, f"{op}(4, 3, strides=2, padding=same)"),
        case("same-3-stride2-odd", 5, f"{op}(4, 3, strides=2, padding=same)"),
        case("same-2-stride2", 5, f"{op}(4, 2, strides=2, padding=same)"),
        case("same-2-stride1", 5, f"{op}(4, 2, padding=same)"),  # the odd cropped cell comes off the end
        case("same-4-stride1", 5, f"{op}(3, 4, padding=same)"),
        case("same-1-stride3", 4, f"{op}(3, 1, strides=3, padding=same)"),  # longer than the full result
        case("same-3-stride1-output-padding-0", 5, f"{op}(4, 3, padding=same, output_padding=0)"),
        case("same-4-stride2-output-padding-1", 5, f"{op}(4, 4, strides=2, padding=same, output_padding=1)"),
        case("same-3-stride3-output-padding-2", 4, f"{op}(3, 3, strides=3, padding=same, output_padding=2)"),
        case("same-3-stride3-output-padding-0", 4, f"{op}(3, 3, strides=3, padding=same, output_padding=0)"),
        case("no-bias-tanh", 5, f"{op}(4, 3, strides=2, use_bias=false, activation=tanh)"),
        case("softmax", 4, f"{op}(3, 2, strides=2, padding=same, activation=softmax)"),
        case("after-conv", 7, f"Conv{spatial}D(3, 3, strides=2)\n{op}(2, 3, strides=2, padding=same)"),
        case("same-any-size", "?", f"{op}(3, 3, strides=2, padding=same)", lengths=(4, 5)),
        case("valid-any-size", "?", f"{op}(3, 2, strides=3, output_padding=1)", lengths=(3, 6)),
        case("same-2-any-size", "?", f"{op}(3, 2, padding=same)", lengths=(3, 4)),
    ]
    if spatial == 2:
        cases += [
            case("rect-same", 5, f"{op}(3, (3, 2), strides=(2, 1), padding=same)"),
            case("rect-output-padding", 5, f"{op}(3, (2, 3), strides=(3, 2), padding=same, output_padding=(1, 0))"),
            case("rect-valid", 4, f"{op}(3, (1, 2), strides=(2, 3), output_padding=(1, 2), activation=relu)"),
            Case(f"{op}-rect-input", op, "  input x: f32[4, 6, 2]", f"{op}(3, 3, strides=(2, 1), padding=same)"),
            Case(
                f"{op}-some-any", op, "  input x: f32[?, 5, 2]", f"{op}(3, 2, strides=2, padding=same)", lengths=(3, 4)
            ),
        ]
    return cases


def window_cases(op: str, spatial: int) -> list[Case]:
    """DepthwiseConv and SeparableConv: `head` is the separable's filters argument."""
    head = "4, " if op.startswith("Separable") else ""

    def case(name: str, n, args: str, **more) -> Case:
        return Case(f"{op}-{name}", op, shape(spatial, n), f"{op}({head}{args})", **more)

    cases = [
        case("valid", 6, "3"),
        case("valid-stride2-odd", 7, "3, strides=2"),
        case("same-3-stride2-even", 6, "3, strides=2, padding=same"),
        case("same-3-stride2-odd", 7, "3, strides=2, padding=same"),
        case("same-2-stride1", 5, "2, padding=same"),  # the odd padded cell at the end
        case("same-2-stride2-odd", 7, "2, strides=2, padding=same"),
        case("multiplier-2", 6, "3, depth_multiplier=2"),
        case("multiplier-3-same", 5, "3, padding=same, depth_multiplier=3"),
        case("dilated-same", 7, "3, padding=same, dilation_rate=2"),
        case("dilated-valid-multiplier", 7, "2, dilation_rate=3, depth_multiplier=2"),
        case("dilated-strided-same", 9, "3, strides=2, padding=same, dilation_rate=2"),
        case("dilated-strided-valid", 9, "2, strides=3, dilation_rate=2, depth_multiplier=2"),
        case("no-bias-relu", 6, "3, use_bias=false, activation=relu"),
        case("softmax", 5, "2, padding=same, activation=softmax"),
        case("same-any-size", "?", "3, strides=2, padding=same, depth_multiplier=2", lengths=(5, 6)),
        case("dilated-strided-same-any-size", "?", "3, strides=2, padding=same, dilation_rate=2", lengths=(6, 7)),
        case("dilated-same-any-size", "?", "2, padding=same, dilation_rate=2", lengths=(4, 5)),
        case("valid-any-size", "?", "2, strides=2", lengths=(5, 6)),
    ]
    if spatial == 2:
        cases += [
            case("rect", 6, "(3, 2), strides=2, padding=same, depth_multiplier=2"),
            case("rect-dilated-unequal-strides", 7, "(2, 3), strides=(2, 1), padding=same, dilation_rate=(1, 2)"),
            Case(f"{op}-rect-input", op, "  input x: f32[5, 7, 2]", f"{op}({head}3, strides=2, padding=same)"),
        ]
    return cases


TRAINING_CASES = [
    Case(
        "Conv1DTranspose-trains",
        "Conv1DTranspose",
        "  input x: f32[6, 3]",
        "Conv1D(3, 3, strides=2, padding=same)\nConv1DTranspose(2, 3, strides=2, padding=same, activation=relu)\n"
        "Flatten()\nDense(3)",
        trains=True,
    ),
    Case(
        "Conv2DTranspose-trains",
        "Conv2DTranspose",
        "  input x: f32[5, 5, 2]",
        "Conv2D(3, 3, strides=2, padding=same)\n"
        "Conv2DTranspose(2, 3, strides=2, output_padding=(0, 1), kernel_regularizer=l2(0.01))\nFlatten()\nDense(3)",
        trains=True,
    ),
    Case(
        "SeparableConv1D-trains",
        "SeparableConv1D",
        "  input x: f32[7, 3]",
        "Conv1D(3, 2)\nSeparableConv1D(4, 3, strides=2, padding=same, depth_multiplier=2, activation=tanh)\n"
        "Flatten()\nDense(3)",
        trains=True,
    ),
    Case(
        "SeparableConv2D-trains",
        "SeparableConv2D",
        "  input x: f32[6, 6, 2]",
        "Conv2D(3, 2)\nSeparableConv2D(4, 3, padding=same, depthwise_regularizer=l2(0.01), "
        "pointwise_regularizer=l1(0.01), pointwise_initializer=he_normal)\nFlatten()\nDense(3)",
        trains=True,
    ),
    Case(
        "DepthwiseConv1D-trains",
        "DepthwiseConv1D",
        "  input x: f32[7, 3]",
        "Conv1D(3, 2)\nDepthwiseConv1D(3, strides=2, depth_multiplier=2, activation=relu)\nFlatten()\nDense(3)",
        trains=True,
    ),
    Case(
        "DepthwiseConv2D-trains",
        "DepthwiseConv2D",
        "  input x: f32[6, 6, 2]",
        "Conv2D(3, 2)\nDepthwiseConv2D(3, strides=2, padding=same, depthwise_regularizer=l2(0.01))\n"
        "Flatten()\nDense(3)",
        trains=True,
    ),
]

CONV_VARIANT_CASES: list[Case] = [
    *transpose_cases("Conv1DTranspose", 1),
    *transpose_cases("Conv2DTranspose", 2),
    *window_cases("SeparableConv1D", 1),
    *window_cases("SeparableConv2D", 2),
    *window_cases("DepthwiseConv1D", 1),
    *window_cases("DepthwiseConv2D", 2),
    *TRAINING_CASES,
]
