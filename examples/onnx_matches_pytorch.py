"""After `dlc train examples/digits_convnet.dl --export`: predict a few digits with ONNX Runtime and show
that the ONNX outputs match the trained PyTorch model's (the program `dlc train` wrote into the run folder).

    python examples/onnx_matches_pytorch.py runs/DigitsConvNet
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

from backends.onnx.predict import load_session, predict
from backends.program.loader import load_program
from compiler.weights import load_safetensors

TOLERANCE = 1e-5


def main(run: Path) -> int:
    (program_path,) = run.glob("train_*.py")
    program = load_program(program_path, "trained_program")
    model = program.MODEL_CLASS()
    program.load_canonical(model, load_safetensors(run / "weights.safetensors")[0])
    model.eval()

    digits = load_digits()
    images = digits.data[-8:].astype(np.float32).reshape(-1, 8, 8, 1)  # the last 8 digits of the set
    onnx_out = predict(load_session(run / "model.onnx"), [images])
    with torch.inference_mode():
        torch_out = model(torch.from_numpy(images)).numpy()

    difference = float(np.abs(onnx_out - torch_out).max())
    print(f"digits:        {digits.target[-8:].tolist()}")
    print(f"ONNX Runtime:  {onnx_out.argmax(-1).tolist()}")
    print(f"PyTorch:       {torch_out.argmax(-1).tolist()}")
    verdict = "match" if difference <= TOLERANCE else "DIFFER"
    print(f"ONNX and PyTorch outputs {verdict}: max |difference| = {difference:.2e} (contract: {TOLERANCE:g})")
    return 0 if difference <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/DigitsConvNet")))
