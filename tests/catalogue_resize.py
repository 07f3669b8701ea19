"""Catalogue cases of the resizing and rearranging layers.

Each argument form Keras accepts, odd sizes, `?` sizes, and the layouts around them: alone (channels-last), after
a convolution (the PyTorch and ONNX backends then work channels-first) and before a Flatten or Dense (back to
channels-last). Bilinear up-sampling by factors other than powers of two runs on a long axis, where the float32
source positions TensorFlow computes differ from exact ones by more than the contract.
"""

from __future__ import annotations

from case import IMG, SEQ, VEC, Case

ANY_SEQ = "  input x: f32[?, 3]"
ANY_IMG = "  input x: f32[?, ?, 2]"
ODD_IMG = "  input x: f32[5, 7, 2]"
# A Dense over a flattened image sums a few hundred float32 terms into outputs of ~30: the contract's relative part
DENSE_OVER_MANY = {"rtol": 1e-5}


def _cases(op: str, rows: list[tuple]) -> list[Case]:
    """Cases of `op` from (id suffix, inputs, layers[, keyword arguments of Case])."""
    return [
        Case(f"{op}-{suffix}", op, inputs, layers, **(extra[0] if extra else {}))
        for suffix, inputs, layers, *extra in rows
    ]


RESIZE_CASES: list[Case] = [
    *_cases(
        "UpSampling1D",
        [
            ("default", SEQ, "UpSampling1D()"),
            ("3", SEQ, "UpSampling1D(3)"),
            ("1", SEQ, "UpSampling1D(size=1)"),
            ("any-length", ANY_SEQ, "UpSampling1D(3)", {"lengths": (4, 7)}),
            ("after-conv", SEQ, "Conv1D(4, 3, padding=same)\nUpSampling1D(3)"),
            ("after-conv-then-dense", SEQ, "Conv1D(4, 2)\nUpSampling1D(2)\nFlatten()\nDense(3)", DENSE_OVER_MANY),
            (
                "trains",
                SEQ,
                "Conv1D(4, 3, padding=same, activation=relu)\nUpSampling1D(3)\nConv1D(2, 3)",
                {"trains": True},
            ),
        ],
    ),
    *_cases(
        "UpSampling2D",
        [
            ("nearest-default", IMG, "UpSampling2D()"),
            ("nearest-3x2-odd", ODD_IMG, "UpSampling2D((3, 2))"),
            ("nearest-int", ODD_IMG, "UpSampling2D(3, interpolation=nearest)"),
            ("nearest-any-size", ANY_IMG, "UpSampling2D((2, 3))", {"lengths": (3, 6)}),
            ("nearest-after-conv", IMG, "Conv2D(3, 3, padding=same)\nUpSampling2D((1, 3))\nConv2D(2, 2)"),
            ("bilinear-2x2-odd", ODD_IMG, "UpSampling2D(interpolation=bilinear)"),
            ("bilinear-4x2", ODD_IMG, 'UpSampling2D((4, 2), interpolation="bilinear")'),
            ("bilinear-3x2", ODD_IMG, "UpSampling2D((3, 2), interpolation=bilinear)"),
            ("bilinear-1x3", ODD_IMG, "UpSampling2D((1, 3), interpolation=bilinear)"),
            ("bilinear-5x7", IMG, "UpSampling2D((5, 7), interpolation=bilinear)"),
            ("bilinear-1x1", IMG, "UpSampling2D(1, interpolation=bilinear)"),
            ("bilinear-positional", IMG, "UpSampling2D(3, channels_last, bilinear)"),
            ("bilinear-one-pixel", "  input x: f32[1, 1, 2]", "UpSampling2D((3, 2), interpolation=bilinear)"),
            ("bilinear-2x2-any-size", ANY_IMG, "UpSampling2D(interpolation=bilinear)", {"lengths": (3, 6)}),
            ("bilinear-3x3-any-size", ANY_IMG, "UpSampling2D(3, interpolation=bilinear)", {"lengths": (1, 4, 7)}),
            # 301 rows: float32 source positions (TensorFlow's) are ~1e-5 away from exact ones here
            (
                "bilinear-3-long-axis",
                "  input x: f32[301, 2, 1]",
                "UpSampling2D((3, 1), interpolation=bilinear)",
                {"scale": 3.0},
            ),
            (
                "bilinear-6-long-axis",
                "  input x: f32[3, 120, 1]",
                "UpSampling2D((1, 6), interpolation=bilinear)",
                {"scale": 3.0},
            ),
            (
                "bilinear-after-conv-then-dense",
                IMG,
                "Conv2D(3, 2, padding=same)\nUpSampling2D(interpolation=bilinear)\nFlatten()\nDense(4)",
                DENSE_OVER_MANY,
            ),
            ("bilinear-before-conv", ODD_IMG, "UpSampling2D((2, 3), interpolation=bilinear)\nConv2D(3, 3)"),
            (
                "trains-bilinear",
                IMG,
                "Conv2D(4, 3, padding=same, activation=relu)\nUpSampling2D(interpolation=bilinear)\nConv2D(2, 3)",
                {"trains": True},
            ),
            (
                "trains-bilinear-3x2",
                ODD_IMG,
                "Conv2D(3, 2, activation=tanh)\nUpSampling2D((3, 2), interpolation=bilinear)\nConv2D(2, 3)",
                {"trains": True},
            ),
        ],
    ),
    *_cases(
        "ZeroPadding1D",
        [
            ("default", SEQ, "ZeroPadding1D()"),
            ("2", SEQ, "ZeroPadding1D(2)"),
            ("0-3", SEQ, "ZeroPadding1D(padding=(0, 3))"),
            ("any-length", ANY_SEQ, "ZeroPadding1D((2, 1))", {"lengths": (1, 6)}),
            ("after-conv", SEQ, "Conv1D(4, 2)\nZeroPadding1D((2, 1))\nMaxPool1D()"),
            ("trains", SEQ, "Conv1D(4, 3, activation=relu)\nZeroPadding1D((1, 2))\nConv1D(2, 2)", {"trains": True}),
        ],
    ),
    *_cases(
        "ZeroPadding2D",
        [
            ("default", IMG, "ZeroPadding2D()"),
            ("2", IMG, "ZeroPadding2D(2)"),
            ("1-2", ODD_IMG, "ZeroPadding2D((1, 2))"),
            ("pairs", ODD_IMG, "ZeroPadding2D(((1, 2), (3, 0)))"),
            ("columns-only", ODD_IMG, "ZeroPadding2D(((0, 0), (1, 2)))"),
            ("mixed", ODD_IMG, "ZeroPadding2D(((0, 1), 2))"),
            ("zero", IMG, "ZeroPadding2D(0)"),
            ("any-size", ANY_IMG, "ZeroPadding2D(((1, 0), (2, 1)))", {"lengths": (1, 5)}),
            ("after-conv", IMG, "Conv2D(3, 2)\nZeroPadding2D(((1, 0), (0, 2)))\nMaxPool2D()"),
            ("after-conv-then-dense", IMG, "Conv2D(3, 3)\nZeroPadding2D(1)\nFlatten()\nDense(3)", DENSE_OVER_MANY),
            (
                "trains",
                IMG,
                "Conv2D(3, 3, activation=relu)\nZeroPadding2D(((1, 2), (0, 1)))\nConv2D(2, 3)",
                {"trains": True},
            ),
        ],
    ),
    *_cases(
        "Cropping1D",
        [
            ("default", SEQ, "Cropping1D()"),
            ("2", "  input x: f32[6, 3]", "Cropping1D(2)"),
            ("0-2", SEQ, "Cropping1D(cropping=(0, 2))"),
            ("3-0", SEQ, "Cropping1D((3, 0))"),
            ("zero", SEQ, "Cropping1D(0)"),
            ("any-length", ANY_SEQ, "Cropping1D((1, 2))", {"lengths": (4, 9)}),
            ("after-conv", "  input x: f32[8, 3]", "Conv1D(4, 2)\nCropping1D((2, 1))\nConv1D(2, 2)"),
            (
                "trains",
                "  input x: f32[8, 3]",
                "Conv1D(4, 2, activation=relu)\nCropping1D((1, 2))\nConv1D(2, 2)",
                {"trains": True},
            ),
        ],
    ),
    *_cases(
        "Cropping2D",
        [
            ("default", IMG, "Cropping2D()"),
            ("1", ODD_IMG, "Cropping2D(1)"),
            ("1-2", ODD_IMG, "Cropping2D((1, 2))"),
            ("pairs", ODD_IMG, "Cropping2D(((1, 0), (0, 2)))"),
            ("mixed", ODD_IMG, "Cropping2D(((0, 1), 1))"),
            ("rows-only", ODD_IMG, "Cropping2D((2, 0))"),
            ("any-size", ANY_IMG, "Cropping2D(((1, 1), (0, 2)))", {"lengths": (3, 6)}),
            ("after-conv", "  input x: f32[8, 7, 2]", "Conv2D(3, 2)\nCropping2D(((1, 2), (2, 0)))\nConv2D(2, 2)"),
            (
                "after-conv-then-dense",
                ODD_IMG,
                "Conv2D(3, 2, padding=same)\nCropping2D(((0, 1), (2, 1)))\nFlatten()\nDense(3)",
                DENSE_OVER_MANY,
            ),
            (
                "trains",
                "  input x: f32[8, 7, 2]",
                "Conv2D(3, 2, activation=relu)\nCropping2D(((1, 0), (1, 2)))\nConv2D(2, 2)",
                {"trains": True},
            ),
        ],
    ),
    *_cases(
        "Permute",
        [
            ("2-1", SEQ, "Permute((2, 1))"),
            ("3-1-2", ODD_IMG, "Permute((3, 1, 2))"),
            ("2-3-1", ODD_IMG, "Permute(dims=(2, 3, 1))"),
            ("1", VEC, "Permute((1,))"),
            ("any-length", ANY_SEQ, "Permute((2, 1))", {"lengths": (2, 5)}),
            ("after-conv", ODD_IMG, "Conv2D(3, 2)\nPermute((2, 1, 3))\nConv2D(2, 2)"),
            ("channels-first-after-conv", ODD_IMG, "Conv2D(3, 2)\nPermute((3, 1, 2))"),
            ("after-conv1d", SEQ, "Conv1D(4, 2)\nPermute((2, 1))\nDense(3)"),
            ("trains", SEQ, "Dense(4, activation=tanh)\nPermute((2, 1))\nDense(3)", {"trains": True}),
        ],
    ),
    *_cases(
        "RepeatVector",
        [
            ("3", VEC, "RepeatVector(3)"),
            ("1", VEC, "RepeatVector(n=1)"),
            ("any-features", "  input x: f32[?]", "RepeatVector(2)", {"lengths": (1, 4)}),
            ("then-lstm", VEC, "Dense(4)\nRepeatVector(3)\nLSTM(2, return_sequences=true)"),
            ("trains", VEC, "Dense(4, activation=tanh)\nRepeatVector(3)\nConv1D(2, 2)", {"trains": True}),
        ],
    ),
    *_cases(
        "Identity",
        [
            ("vector", VEC, "Identity()"),
            ("after-conv", IMG, "Conv2D(3, 2)\nIdentity()\nConv2D(2, 2)"),
            ("any-length", ANY_SEQ, "Identity()", {"lengths": (2, 4)}),
            ("trains", VEC, "Dense(4, activation=tanh)\nIdentity()\nDense(3)", {"trains": True}),
        ],
    ),
]
