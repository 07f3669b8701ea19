"""Writing a Triton Inference Server model repository: DIR/<name>/config.pbtxt and DIR/<name>/1/model.onnx."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

from compiler.errors import DlError

from .models import LoadedModel, load_model
from .tensors import TensorSpec


def _tensor(spec: TensorSpec, batched: bool) -> str:
    dims = spec.shape[1:] if batched else spec.shape
    return "\n".join(
        [
            "  {",
            f"    name: {json.dumps(spec.name)}",
            f"    data_type: TYPE_{spec.datatype}",
            f"    dims: [ {', '.join(str(d) for d in dims)} ]",
            "  }",
        ]
    )


def config_pbtxt(model: LoadedModel, max_batch: int = 32, max_delay_ms: float = 0.0) -> str:
    """The model's config.pbtxt. A model without a leading dynamic batch dim gets max_batch_size 0 (no batching)."""
    batched = model.signature.batched
    lines = [
        f"name: {json.dumps(model.name)}",
        'platform: "onnxruntime_onnx"',
        f"max_batch_size: {max_batch if batched else 0}",
        "input [",
        ",\n".join(_tensor(spec, batched) for spec in model.signature.inputs),
        "]",
        "output [",
        ",\n".join(_tensor(spec, batched) for spec in model.signature.outputs),
        "]",
    ]
    if batched:
        delay = round(max_delay_ms * 1000)
        lines.append(
            f"dynamic_batching {{ max_queue_delay_microseconds: {delay} }}" if delay else "dynamic_batching { }"
        )
    lines.append("instance_group [ { kind: KIND_CPU, count: 1 } ]")
    return "\n".join(lines) + "\n"


def write_triton_repository(
    paths: list[str | Path], directory: str | Path, max_batch: int = 32, max_delay_ms: float = 0.0
) -> list[Path]:
    """Copy each .onnx file into a Triton model repository under `directory`; returns each model's folder.

    The model's folder is its served name (metadata_props name, else the file's stem), as `dlc serve` uses.
    Folders of other models in the repository are left alone.

    Written so that a kill at any instant leaves each model's folder either as it was or whole and new,
    never half-written:
    1. every file is loaded and checked before anything is written;
    2. each model folder is written in full into a staging folder inside the repository,
       `DIR/.dlc-staging-<pid>-<random>/<name>/` (inside, so that it is on the same filesystem and a rename
       is atomic);
    3. then each is committed with one rename: onto a name not yet taken, rename(2); onto an existing
       folder, an atomic exchange of the two (Linux's renameat2 RENAME_EXCHANGE), which puts the old folder
       into staging. Where the filesystem cannot exchange, the old folder is renamed into staging and the
       new one into place: a kill between those two renames leaves the model's name missing, its old
       folder whole in the staging folder;
    4. the staging folder, with the old folders, is removed. A staging folder that a killed writer left
       behind is removed by the next write.
    Models are committed one after the other, after all are staged, so an interruption between two commits
    leaves some models new and the others as they were. Raises DlError for a missing or broken model, two
    files with one name, or a repository that cannot be written.
    """
    root = Path(directory)
    models = [load_model(path, threads=1) for path in paths]
    named: dict[str, LoadedModel] = {}
    for model in models:
        if model.name in named:
            raise DlError(f"{model.path} and {named[model.name].path} are both named '{model.name}'")
        named[model.name] = model
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_staging(root)
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=root))
    except OSError as e:
        raise DlError(f"cannot write the Triton repository {root}: {e.strerror or e}") from None
    try:
        for model in models:
            folder = staging / model.name
            (folder / "1").mkdir(parents=True)
            shutil.copyfile(model.path, folder / "1" / "model.onnx")
            (folder / "config.pbtxt").write_text(config_pbtxt(model, max_batch, max_delay_ms))
        for model in models:
            _commit(staging / model.name, root / model.name, staging)
    except OSError as e:
        raise DlError(f"cannot write the Triton repository {root}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [root / model.name for model in models]


_STAGING = ".dlc-staging-"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _commit(new: Path, target: Path, staging: Path) -> None:
    """Put the staged folder `new` at `target` with one rename; a folder already there moves into `staging`."""
    if target.exists() or target.is_symlink():
        if _exchange(new, target):
            return
        os.rename(target, staging / f"{target.name}.old")  # the name is missing until the next rename
    os.rename(new, target)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2); False where the system or filesystem cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not glibc 2.28+ / not Linux
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # a filesystem without exchange
        return False
    raise OSError(code, os.strerror(code), str(b))


def _remove_abandoned_staging(root: Path) -> None:
    """Remove staging folders whose writer is no longer running (it was killed mid-write)."""
    for entry in root.iterdir():
        if not entry.name.startswith(_STAGING):
            continue
        pid = entry.name[len(_STAGING) :].partition("-")[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process, say: alive
        return True
    return True
