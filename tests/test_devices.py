"""Devices and threads on a machine without a GPU (CI's): clear errors where CUDA is asked for and missing, and
`--threads` reaching the framework. tests/test_gpu.py runs the GPU paths where a GPU is lent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from dlc import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CUDA_IN_ORT = "CUDAExecutionProvider" in ort.get_available_providers()


def cuda_in_torch() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(cuda_in_torch(), reason="this machine has CUDA")
def test_dlc_train_on_cuda_without_cuda_exits_1_saying_so(tmp_path, capsys):
    status = cli.main(["train", str(EXAMPLES / "iris_mlp.dl"), "--device", "cuda", "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err
    assert status == 1
    assert "--device cuda: this PyTorch is built without CUDA; train with --device cpu" in error
    assert "Traceback" not in error and not (tmp_path / "run" / "weights.safetensors").exists()


@pytest.mark.skipif(CUDA_IN_ORT, reason="this onnxruntime has the CUDA provider")
def test_dlc_serve_on_cuda_without_the_provider_exits_1_saying_so(tmp_path, capsys):
    model = tmp_path / "iris.onnx"
    assert cli.main(["export", str(EXAMPLES / "iris_mlp.dl"), "-o", str(model)]) == 0
    capsys.readouterr()
    status = cli.main(["serve", str(model), "--port", "0", "--provider", "cuda"])
    error = capsys.readouterr().err
    assert status == 1
    assert "provider 'cuda' is not available in this onnxruntime" in error and "onnxruntime-gpu" in error


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_sets_the_program_s_cpu_threads(threads, tmp_path):
    program = tmp_path / "iris.py"
    assert cli.main(["compile", str(EXAMPLES / "iris_mlp.dl"), "--target", "pytorch", "-o", str(program)]) == 0
    argv = [sys.executable, str(program), "--out", str(tmp_path / "run"), "--epochs", "1", "--threads", str(threads)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=os.environ | {"PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    assert f"training on cpu, {threads} CPU thread(s)" in done.stderr


def test_threads_below_one_is_refused(tmp_path, capsys):
    status = cli.main(["train", str(EXAMPLES / "iris_mlp.dl"), "--threads", "0", "--out", str(tmp_path / "run")])
    assert status == 1 and "--threads 0: give at least 1" in capsys.readouterr().err
