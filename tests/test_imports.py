"""The `dlc` command line: `check` imports no framework, `python -m dlc` works, and errors in one
file neither hide the other files' summaries nor the exit status."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import compiler

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("torch", "tensorflow", "keras", "onnxruntime")

CHECK_AND_LIST_FRAMEWORKS = """
import contextlib, io, json, sys
from dlc.cli import main

out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = main(["check", "--json", "examples/digits_convnet.dl"])
frameworks = {frameworks!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in frameworks)
print(json.dumps({{"status": status, "report": json.loads(out.getvalue()), "loaded": loaded}}))
"""


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_check_imports_no_framework():
    result = run("-c", CHECK_AND_LIST_FRAMEWORKS.format(frameworks=FRAMEWORKS))
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["status"] == 0
    assert [model["model"] for model in outcome["report"]] == ["DigitsConvNet"], outcome["report"]
    assert outcome["loaded"] == [], f"dlc check imported {outcome['loaded']}"


def test_python_m_compiler_check():
    result = run("-m", "dlc", "check", "examples/iris_mlp.dl")
    assert result.returncode == 0, result.stderr
    assert "IrisMLP" in result.stdout
    assert "Total params" in result.stdout
    assert result.stderr == ""


def test_python_m_compiler_version():
    result = run("-m", "dlc", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"dlc {compiler.__version__}"


BAD_SPEC = """\
model Bad {
  input x: f32[4]
  layers {
    Dense(4, activaton=relu)
  }
}
"""


@pytest.mark.parametrize("bad_first", [False, True], ids=["good_then_bad", "bad_then_good"])
def test_check_reports_the_bad_file_and_summarises_the_good_one(tmp_path, bad_first):
    bad = tmp_path / "bad.dl"
    bad.write_text(BAD_SPEC, encoding="utf-8")
    good = ROOT / "examples" / "iris_mlp.dl"
    files = [str(bad), str(good)] if bad_first else [str(good), str(bad)]
    result = run("-m", "dlc", "check", *files)
    assert result.returncode == 1, result.stdout + result.stderr
    # the bad file's error: file:line:col, the quoted line, a caret and a suggestion
    assert re.search(re.escape(str(bad)) + r":4:\d+: error: Dense has no argument 'activaton'", result.stderr), (
        result.stderr
    )
    assert "4 |     Dense(4, activaton=relu)" in result.stderr
    assert "^" in result.stderr
    assert "did you mean 'activation'?" in result.stderr
    assert "Traceback" not in result.stderr
    # the good file's summary, still printed
    assert "IrisMLP" in result.stdout
    assert "Total params" in result.stdout
    assert "Bad" not in result.stdout


def test_check_json_with_a_bad_file_still_reports_the_good_one(tmp_path):
    bad = tmp_path / "bad.dl"
    bad.write_text(BAD_SPEC, encoding="utf-8")
    result = run("-m", "dlc", "check", "--json", str(bad), "examples/iris_mlp.dl")
    assert result.returncode == 1
    assert re.search(re.escape(str(bad)) + r":4:\d+: error: ", result.stderr), result.stderr
    bad_report, good_report = json.loads(result.stdout)
    assert good_report["model"] == "IrisMLP"
    assert bad_report["file"] == str(bad)
    assert [(e["severity"], e["line"]) for e in bad_report["errors"]] == [("error", 4)]


def test_check_missing_file_is_an_error_not_a_traceback(tmp_path):
    missing = tmp_path / "missing.dl"
    result = run("-m", "dlc", "check", str(missing), "examples/iris_mlp.dl")
    assert result.returncode == 1
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr
    assert "IrisMLP" in result.stdout


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "oversized"])
def test_check_refuses_inputs_that_are_not_a_bounded_regular_file(tmp_path, kind):
    """A FIFO would block forever and /dev/zero never ends: neither is opened. A file beyond the size limit is
    refused before it is read."""
    import os

    from compiler.frontend import MAX_SPEC_BYTES

    if kind == "fifo":
        path = tmp_path / "spec.dl"
        os.mkfifo(path)
        expected = "not a regular file"
    elif kind == "device":
        path, expected = Path("/dev/zero"), "not a regular file"
    elif kind == "folder":
        path, expected = tmp_path, "not a regular file"
    else:
        path = tmp_path / "big.dl"
        path.write_text("# " + "x" * MAX_SPEC_BYTES + "\n")
        expected = "larger than a spec may be"
    result = run("-m", "dlc", "check", str(path), "examples/iris_mlp.dl")
    assert result.returncode == 1
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert "IrisMLP" in result.stdout  # the other file is still checked


def test_compile_into_a_missing_folder_is_a_user_error(tmp_path):
    result = run("-m", "dlc", "compile", "examples/iris_mlp.dl", "-o", str(tmp_path / "missing" / "program.py"))
    assert result.returncode == 1
    assert "cannot write the program: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
