"""Writes the generated data sets that the examples train on, the same bytes on every run (NumPy only, seeded).

    python examples/data/generate.py            # rewrites examples/data/*.npz
    python examples/data/generate.py --check    # exit 1 if a committed file differs from what this script makes

order.npz (text_transformer.dl): token sequences with one `A` and one `B` among filler tokens; the class is
whether `A` comes before `B`. Every sequence holds the same tokens in a different order, so a bag of tokens says
nothing about the class: a model has to relate the two tokens' positions, which is what attention with position
embeddings does.

shapes.npz (shapes_unet.dl): noisy grey images with a filled rectangle and a filled disc apart from it, drawn in the
same grey, and one-hot masks saying which pixels are background, rectangle or disc. Telling a rectangle's pixels from a
disc's takes the outline around them, so a segmenter needs context beyond a pixel's neighbourhood.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# order.npz
SEQUENCES = 2000
LENGTH = 16
VOCABULARY = 16  # 0 and 1 are `A` and `B`, 2..15 are fillers
A, B = 0, 1

# shapes.npz
IMAGES = 1200
SIZE = 16
BACKGROUND, RECTANGLE, DISC = 0, 1, 2
NOISE = 40  # grey levels of the background noise's standard deviation (shapes are 170 levels above it)


def order_task(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(tokens [SEQUENCES, LENGTH] uint8, labels [SEQUENCES] uint8): 1 when `A` comes before `B`."""
    x = rng.integers(2, VOCABULARY, size=(SEQUENCES, LENGTH))
    y = np.zeros(SEQUENCES, dtype=np.uint8)
    for i in range(SEQUENCES):
        first, second = rng.choice(LENGTH, size=2, replace=False)
        x[i, first], x[i, second] = A, B
        y[i] = first < second
    return x.astype(np.uint8), y


def shapes_task(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(images [IMAGES, SIZE, SIZE, 1] uint8, one-hot masks [IMAGES, SIZE, SIZE, 3] uint8)."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    images = np.empty((IMAGES, SIZE, SIZE, 1), dtype=np.uint8)
    masks = np.empty((IMAGES, SIZE, SIZE, 3), dtype=np.uint8)
    for i in range(IMAGES):
        label = np.full((SIZE, SIZE), BACKGROUND)
        # a rectangle 3 to 7 pixels a side, and a disc of radius 2 to 3.5 at least a pixel away from it
        height, width = rng.integers(3, 8, size=2)
        top, left = rng.integers(0, SIZE - height + 1), rng.integers(0, SIZE - width + 1)
        label[top : top + height, left : left + width] = RECTANGLE
        near = np.zeros((SIZE, SIZE), dtype=bool)
        near[max(top - 1, 0) : top + height + 1, max(left - 1, 0) : left + width + 1] = True
        while True:
            radius = rng.uniform(2.0, 3.5)
            centre = rng.uniform(radius, SIZE - 1 - radius, size=2)
            disc = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2
            if not (disc & near).any():
                break
        label[disc] = DISC
        grey = 40 + 170 * (label != BACKGROUND) + rng.normal(0, NOISE, size=(SIZE, SIZE))
        images[i, :, :, 0] = np.clip(np.rint(grey), 0, 255)
        masks[i] = np.eye(3, dtype=np.uint8)[label]
    return images, masks


def archives() -> dict[str, bytes]:
    """Each file's bytes. Zip entries carry a fixed date, so the bytes depend on the data alone."""
    made = {
        "order.npz": order_task(np.random.default_rng(16)),
        "shapes.npz": shapes_task(np.random.default_rng(17)),
    }
    files = {}
    for name, (x, y) in made.items():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for key, array in (("x", x), ("y", y)):
                entry = zipfile.ZipInfo(f"{key}.npy", date_time=(2020, 1, 1, 0, 0, 0))
                entry.compress_type = zipfile.ZIP_DEFLATED
                array_bytes = io.BytesIO()
                np.lib.format.write_array(array_bytes, np.ascontiguousarray(array), allow_pickle=False)
                archive.writestr(entry, array_bytes.getvalue())
        files[name] = buffer.getvalue()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files here instead of writing")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: this one)")
    options = parser.parse_args(argv)
    stale = []
    for name, data in archives().items():
        path = options.out / name
        if options.check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(name)
            continue
        path.write_bytes(data)
        print(f"{path}: {len(data):,} bytes")
    if stale:
        print(f"differ from what {Path(__file__).name} makes: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
